"""Video augmentation for matting: motion shaped by random easing curves (RVM paper, Sec. 4.1).

Each random effect (affine, colour, blur) is drawn as two random states A and B, and frame `t` of a
`T`-frame clip gets `lerp(A, B, easing(t / (T - 1)))` for a random easing curve, so the effect
changes smoothly (or suddenly, for `Step`) over time as real camera and subject motion does.

The reusable pieces:

- `random_easing_fn()`: one random easing curve `[0, 1] -> ~[0, 1]` (may overshoot, e.g. Back, Elastic).
- `random_motion_affine_params(num_frames, img_size)`: per-frame affine parameters along such a curve.
- `motion_affine(*clips)`: applies one random motion to several clips alike (e.g. fgr and pha).
- `MotionAugmentation`: the full training augmentation for (fgr, pha, bgr) clips, with the presets
  `VideoMatteTrainAugmentation`, `VideoMatteValidAugmentation` and `ImageMatteAugmentation`.

A clip is a list of `T` PIL images or a tensor `[T, C, H, W]`; geometric functions work on both.
"""
import random
from typing import Callable, List, NamedTuple, Sequence, Tuple, Union

import easing_functions as ef
import torch
from PIL import Image
from torch import Tensor
from torchvision import transforms
from torchvision.transforms import functional as F

Clip = Union[List[Image.Image], Tensor]

EASING_FUNCTIONS = (
    ef.BackEaseIn, ef.BackEaseOut, ef.BackEaseInOut,
    ef.BounceEaseIn, ef.BounceEaseOut, ef.BounceEaseInOut,
    ef.CircularEaseIn, ef.CircularEaseOut, ef.CircularEaseInOut,
    ef.CubicEaseIn, ef.CubicEaseOut, ef.CubicEaseInOut,
    ef.ExponentialEaseIn, ef.ExponentialEaseOut, ef.ExponentialEaseInOut,
    ef.ElasticEaseIn, ef.ElasticEaseOut, ef.ElasticEaseInOut,
    ef.QuadEaseIn, ef.QuadEaseOut, ef.QuadEaseInOut,
    ef.QuarticEaseIn, ef.QuarticEaseOut, ef.QuarticEaseInOut,
    ef.QuinticEaseIn, ef.QuinticEaseOut, ef.QuinticEaseInOut,
    ef.SineEaseIn, ef.SineEaseOut, ef.SineEaseInOut,
)


class Step:
    """Easing curve for a sudden change: 0 for the first half of the clip, 1 for the second."""

    def __call__(self, value: float) -> float:
        return 0. if value < 0.5 else 1.


def random_easing_fn() -> Callable[[float], float]:
    """A random easing curve: linear with probability 0.2, else one of `EASING_FUNCTIONS` or `Step`."""
    if random.random() < 0.2:
        return ef.LinearInOut()
    return random.choice(EASING_FUNCTIONS + (Step,))()


def eased_progress(num_frames: int) -> List[float]:
    """`easing(t / (T - 1))` for each frame `t` under one random easing curve (0 for a single frame)."""
    easing = random_easing_fn()
    return [easing(t / (num_frames - 1)) if num_frames > 1 else 0. for t in range(num_frames)]


def lerp(a: float, b: float, percentage: float) -> float:
    return a * (1 - percentage) + b * percentage


class AffineParams(NamedTuple):
    """Arguments of `torchvision.transforms.functional.affine`, in its order."""
    angle: float                      # degrees, counter-clockwise
    translate: Tuple[float, float]    # pixels (x, y)
    scale: float
    shear: Tuple[float, float]        # degrees (x, y)


def random_affine_params(img_size: Sequence[int], degrees=(-10, 10), translate=(0.1, 0.1),
                         scale_ranges=(0.9, 1.1), shears=(-5, 5)) -> AffineParams:
    """One random affine for an image of `img_size = [width, height]` (torchvision's RandomAffine ranges)."""
    angle, (tx, ty), scale, (sx, sy) = transforms.RandomAffine.get_params(
        degrees=list(degrees), translate=list(translate), scale_ranges=list(scale_ranges),
        shears=list(shears), img_size=list(img_size))
    return AffineParams(angle, (float(tx), float(ty)), scale, (sx, sy))


def random_motion_affine_params(num_frames: int, img_size: Sequence[int], degrees=(-10, 10),
                                translate=(0.1, 0.1), scale_ranges=(0.9, 1.1),
                                shears=(-5, 5)) -> List[AffineParams]:
    """Per-frame affine parameters moving from a random pose A to a random pose B along a random easing curve.

    Args:
        num_frames: T, the clip length.
        img_size: `[width, height]` of the frames (translations are in pixels of this size).
        degrees, translate, scale_ranges, shears: ranges of both poses, as in `RandomAffine`.

    Returns T `AffineParams`; frame t's are `lerp(A, B, easing(t / (T - 1)))` field by field.
    """
    a = random_affine_params(img_size, degrees, translate, scale_ranges, shears)
    b = random_affine_params(img_size, degrees, translate, scale_ranges, shears)
    return [AffineParams(lerp(a.angle, b.angle, p),
                         (lerp(a.translate[0], b.translate[0], p), lerp(a.translate[1], b.translate[1], p)),
                         lerp(a.scale, b.scale, p),
                         (lerp(a.shear[0], b.shear[0], p), lerp(a.shear[1], b.shear[1], p)))
            for p in eased_progress(num_frames)]


def apply_affine(clip: Clip, params: Sequence[AffineParams]) -> Clip:
    """Warp frame t of `clip` by `params[t]` (bilinear, zero fill), in place; returns the clip."""
    for t, p in enumerate(params):
        clip[t] = F.affine(clip[t], *p, interpolation=F.InterpolationMode.BILINEAR)
    return clip


def to_tensor_clip(frames: Sequence[Image.Image]) -> Tensor:
    """T PIL images as a float tensor `[T, C, H, W]` in 0..1."""
    return torch.stack([F.to_tensor(frame) for frame in frames])


def _one_or_many(clips: Tuple[Clip, ...]) -> Union[Clip, Tuple[Clip, ...]]:
    return clips if len(clips) > 1 else clips[0]


def motion_affine(*clips: Clip, **ranges) -> Union[Clip, Tuple[Clip, ...]]:
    """Move all `clips` (same length and size) by one random eased motion, in place.

    `ranges` are passed to `random_motion_affine_params` (degrees, translate, scale_ranges, shears).
    Returns the clip, or a tuple of clips when several are given.
    """
    params = random_motion_affine_params(len(clips[0]), F.get_image_size(clips[0][0]), **ranges)
    return _one_or_many(tuple(apply_affine(clip, params) for clip in clips))


class MotionAugmentation:
    """Augment a foreground clip, its alpha and a background clip alike where geometry must agree.

    Each `prob_*` is the probability of one effect; the resized crop to `size` is always applied,
    and so is the static affine when `static_affine` is true. Foreground and alpha always receive
    the same geometric transforms, sharpening and blur, so they stay aligned; colour effects touch
    only the RGB clips.

    Call with lists of T PIL images `fgrs` (RGB), `phas` (L) and `bgrs` (RGB); returns float
    tensors in 0..1: fgr `[T, 3, H, W]`, pha `[T, 1, H, W]` and bgr `[T, 3, H, W]` with `(H, W) = size`.
    """

    def __init__(self, size: Tuple[int, int], prob_fgr_affine: float, prob_bgr_affine: float,
                 prob_noise: float, prob_color_jitter: float, prob_grayscale: float,
                 prob_sharpness: float, prob_blur: float, prob_hflip: float, prob_pause: float,
                 static_affine: bool = True, aspect_ratio_range: Tuple[float, float] = (0.9, 1.1)):
        self.size = size
        self.prob_fgr_affine = prob_fgr_affine
        self.prob_bgr_affine = prob_bgr_affine
        self.prob_noise = prob_noise
        self.prob_color_jitter = prob_color_jitter
        self.prob_grayscale = prob_grayscale
        self.prob_sharpness = prob_sharpness
        self.prob_blur = prob_blur
        self.prob_hflip = prob_hflip
        self.prob_pause = prob_pause
        self.static_affine = static_affine
        self.aspect_ratio_range = aspect_ratio_range

    def __call__(self, fgrs: List[Image.Image], phas: List[Image.Image],
                 bgrs: List[Image.Image]) -> Tuple[Tensor, Tensor, Tensor]:
        fgrs, phas, bgrs = list(fgrs), list(phas), list(bgrs)

        # Motion affine: the foreground alone, the background alone, or both (a moving camera).
        if random.random() < self.prob_fgr_affine:
            fgrs, phas = motion_affine(fgrs, phas)
        if random.random() < self.prob_bgr_affine / 2:
            bgrs = motion_affine(bgrs)
        if random.random() < self.prob_bgr_affine / 2:
            fgrs, phas, bgrs = motion_affine(fgrs, phas, bgrs)

        # Static affine: the foreground may shrink, the background may only grow (no empty borders).
        if self.static_affine:
            fgrs, phas = self._static_affine(fgrs, phas, scale_ranges=(0.5, 1))
            bgrs = self._static_affine(bgrs, scale_ranges=(1, 1.5))

        fgrs, phas, bgrs = to_tensor_clip(fgrs), to_tensor_clip(phas), to_tensor_clip(bgrs)

        # Resized crop to the output size, with a slight aspect ratio change.
        params = transforms.RandomResizedCrop.get_params(fgrs, scale=(1, 1), ratio=self.aspect_ratio_range)
        fgrs = F.resized_crop(fgrs, *params, self.size, interpolation=F.InterpolationMode.BILINEAR)
        phas = F.resized_crop(phas, *params, self.size, interpolation=F.InterpolationMode.BILINEAR)
        params = transforms.RandomResizedCrop.get_params(bgrs, scale=(1, 1), ratio=self.aspect_ratio_range)
        bgrs = F.resized_crop(bgrs, *params, self.size, interpolation=F.InterpolationMode.BILINEAR)

        if random.random() < self.prob_hflip:
            fgrs = F.hflip(fgrs)
            phas = F.hflip(phas)
        if random.random() < self.prob_hflip:
            bgrs = F.hflip(bgrs)

        if random.random() < self.prob_noise:
            fgrs, bgrs = self._motion_noise(fgrs, bgrs)

        if random.random() < self.prob_color_jitter:
            fgrs = self._motion_color_jitter(fgrs)
        if random.random() < self.prob_color_jitter:
            bgrs = self._motion_color_jitter(bgrs)

        if random.random() < self.prob_grayscale:
            fgrs = F.rgb_to_grayscale(fgrs, num_output_channels=3).contiguous()
            bgrs = F.rgb_to_grayscale(bgrs, num_output_channels=3).contiguous()

        if random.random() < self.prob_sharpness:
            sharpness = random.random() * 8
            fgrs = F.adjust_sharpness(fgrs, sharpness)
            phas = F.adjust_sharpness(phas, sharpness)
            bgrs = F.adjust_sharpness(bgrs, sharpness)

        if random.random() < self.prob_blur / 3:
            fgrs, phas = self._motion_blur(fgrs, phas)
        if random.random() < self.prob_blur / 3:
            bgrs = self._motion_blur(bgrs)
        if random.random() < self.prob_blur / 3:
            fgrs, phas, bgrs = self._motion_blur(fgrs, phas, bgrs)

        if random.random() < self.prob_pause:
            fgrs, phas, bgrs = self._motion_pause(fgrs, phas, bgrs)

        return fgrs, phas, bgrs

    @staticmethod
    def _static_affine(*clips: List[Image.Image], scale_ranges: Tuple[float, float]):
        """One random affine for every frame of every clip."""
        params = random_affine_params(F.get_image_size(clips[0][0]), degrees=(-10, 10), translate=(0.1, 0.1),
                                      scale_ranges=scale_ranges, shears=(-5, 5))
        return _one_or_many(tuple(apply_affine(clip, [params] * len(clip)) for clip in clips))

    @staticmethod
    def _motion_noise(*clips: Tensor):
        """Film grain `[T, C, H, W]`: Gaussian noise of grain size 1..4 px, monochrome or per channel."""
        grain_size = random.random() * 3 + 1
        monochrome = random.random() < 0.5
        for clip in clips:
            T, C, H, W = clip.shape
            noise = torch.randn((T, 1 if monochrome else C, round(H / grain_size), round(W / grain_size)))
            noise.mul_(random.random() * 0.2 / grain_size)
            if grain_size != 1:
                noise = F.resize(noise, [H, W])
            clip.add_(noise).clamp_(0, 1)
        return _one_or_many(clips)

    @staticmethod
    def _motion_color_jitter(*clips: Tensor):
        """Brightness, contrast, saturation and hue drifting over time along a random easing curve."""
        brightness_a, brightness_b, contrast_a, contrast_b, saturation_a, saturation_b, hue_a, hue_b \
            = torch.randn(8).mul(0.1).tolist()
        strength = random.random() * 0.2
        for t, progress in enumerate(eased_progress(len(clips[0]))):
            p = progress * strength
            for clip in clips:
                clip[t] = F.adjust_brightness(clip[t], max(1 + lerp(brightness_a, brightness_b, p), 0.1))
                clip[t] = F.adjust_contrast(clip[t], max(1 + lerp(contrast_a, contrast_b, p), 0.1))
                clip[t] = F.adjust_saturation(clip[t], max(1 + lerp(saturation_a, saturation_b, p), 0.1))
                clip[t] = F.adjust_hue(clip[t], min(0.5, max(-0.5, lerp(hue_a, hue_b, p) * 0.1)))
        return _one_or_many(clips)

    @staticmethod
    def _motion_blur(*clips: Tensor):
        """Gaussian blur whose sigma (0..10 px) changes over time along a random easing curve."""
        blur_a = random.random() * 10
        blur_b = random.random() * 10
        for t, progress in enumerate(eased_progress(len(clips[0]))):
            sigma = max(lerp(blur_a, blur_b, progress), 0)
            if sigma != 0:
                kernel_size = int(sigma * 2)
                if kernel_size % 2 == 0:
                    kernel_size += 1
                for clip in clips:
                    clip[t] = F.gaussian_blur(clip[t], kernel_size, sigma=sigma)
        return _one_or_many(clips)

    @staticmethod
    def _motion_pause(*clips: Tensor):
        """Freeze a random span of frames (a stalled video)."""
        T = len(clips[0])
        if T > 1:
            pause_frame = random.choice(range(T - 1))
            pause_length = random.choice(range(T - pause_frame))
            for clip in clips:
                clip[pause_frame + 1:pause_frame + pause_length] = clip[pause_frame]
        return _one_or_many(clips)


class VideoMatteTrainAugmentation(MotionAugmentation):
    """The published VideoMatte240K training probabilities."""

    def __init__(self, size: Tuple[int, int]):
        super().__init__(size=size, prob_fgr_affine=0.3, prob_bgr_affine=0.3, prob_noise=0.1,
                         prob_color_jitter=0.3, prob_grayscale=0.02, prob_sharpness=0.1, prob_blur=0.02,
                         prob_hflip=0.5, prob_pause=0.03)


class VideoMatteValidAugmentation(MotionAugmentation):
    """Validation: only the static affine and the resized crop."""

    def __init__(self, size: Tuple[int, int]):
        super().__init__(size=size, prob_fgr_affine=0, prob_bgr_affine=0, prob_noise=0,
                         prob_color_jitter=0, prob_grayscale=0, prob_sharpness=0, prob_blur=0,
                         prob_hflip=0, prob_pause=0)


class ImageMatteAugmentation(MotionAugmentation):
    """The published image matting probabilities: still images get motion almost always."""

    def __init__(self, size: Tuple[int, int]):
        super().__init__(size=size, prob_fgr_affine=0.95, prob_bgr_affine=0.3, prob_noise=0.05,
                         prob_color_jitter=0.3, prob_grayscale=0.03, prob_sharpness=0.05, prob_blur=0.02,
                         prob_hflip=0.5, prob_pause=0.03)
