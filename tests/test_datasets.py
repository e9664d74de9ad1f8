"""Augmentation, frame samplers, and every dataset reading the synthetic data written in its format."""
import random

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import functional as F

from dataset import augmentation
from dataset.augmentation import (
    AffineParams, MotionAugmentation, Step, VideoMatteTrainAugmentation, motion_affine,
    random_motion_affine_params,
)


def _smooth_pattern(h, w, seed):
    """A uint8 `[h, w]` pattern with gradients and edges, so misalignment shows."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    img = 0.5 + 0.25 * np.sin(2 * np.pi * (x * rng.uniform(1, 3) + y * rng.uniform(1, 3)))
    img[h // 4:h // 2, w // 3:2 * w // 3] = 1.0
    return (img * 255).astype(np.uint8)


def _clips(T=3, h=40, w=48, seed=0):
    """fgr whose three channels all equal pha, and an unrelated background."""
    phas = [Image.fromarray(_smooth_pattern(h, w, seed)) for _ in range(T)]
    fgrs = [Image.merge('RGB', [pha] * 3) for pha in phas]
    bgrs = [Image.fromarray(np.full((h + 8, w + 8, 3), 100, np.uint8))] * T
    return fgrs, phas, bgrs


def test_motion_augmentation_keeps_fgr_and_pha_aligned():
    # Every geometric effect, sharpening, blur, grayscale and pause on; colour effects that touch
    # only the foreground RGB (noise, jitter) off, so fgr must equal pha channel by channel.
    aug = MotionAugmentation(size=(32, 32), prob_fgr_affine=1, prob_bgr_affine=2, prob_noise=0,
                             prob_color_jitter=0, prob_grayscale=1, prob_sharpness=1, prob_blur=3,
                             prob_hflip=1, prob_pause=1)
    moved = 0
    for seed in range(6):
        random.seed(seed)
        torch.manual_seed(seed)
        fgr, pha, bgr = aug(*_clips(seed=seed))
        assert fgr.shape == (3, 3, 32, 32) and pha.shape == (3, 1, 32, 32) and bgr.shape == (3, 3, 32, 32)
        for c in range(3):
            torch.testing.assert_close(fgr[:, c], pha[:, 0], atol=1e-4, rtol=0)  # grayscale weights round
        moved += not torch.allclose(pha[0], pha[-1])
    assert moved > 0, 'the motion affine never moved the clip: the alignment check tested nothing'


def test_motion_affine_moves_clips_alike_along_an_easing_curve():
    random.seed(1)
    torch.manual_seed(1)
    params = random_motion_affine_params(5, [48, 40])
    assert len(params) == 5 and all(isinstance(p, AffineParams) for p in params)
    assert abs(params[0].translate[0]) <= 0.1 * 48 + 1e-6 and abs(params[0].angle) <= 10

    clip = torch.rand(5, 3, 40, 48)
    a, b = clip.clone(), clip.clone()
    random.seed(2)
    torch.manual_seed(2)
    a_out, b_out = motion_affine(a, b)
    torch.testing.assert_close(a_out, b_out)
    assert not torch.equal(a_out, clip)


def test_single_frame_clips_are_supported():
    random.seed(0)
    params = random_motion_affine_params(1, [16, 16])
    assert len(params) == 1
    fgr, pha, bgr = VideoMatteTrainAugmentation((16, 16))(*_clips(T=1, h=20, w=20))
    assert fgr.shape == (1, 3, 16, 16)


def test_step_easing_is_a_sudden_change():
    step = Step()
    assert [step(x) for x in (0, 0.49, 0.5, 1)] == [0, 0, 1, 1]


def test_color_jitter_applies_saturation_not_brightness(monkeypatch):
    # The published code passed the brightness factors to adjust_saturation. Draw zero brightness,
    # contrast and hue changes and a saturation change of +0.5: only saturation may change.
    monkeypatch.setattr(torch, 'randn', lambda *size, **kw: torch.tensor([0., 0., 0., 0., 5., 5., 0., 0.]))
    clip = torch.rand(3, 3, 8, 8)
    out = MotionAugmentation._motion_color_jitter(clip.clone())
    torch.testing.assert_close(out, F.adjust_saturation(clip, 1.5))
    assert not torch.allclose(out, clip, atol=1e-3)


def test_random_easing_fn_covers_the_published_curves():
    random.seed(0)
    names = {type(augmentation.random_easing_fn()).__name__ for _ in range(2000)}
    assert {'LinearInOut', 'Step', 'ElasticEaseInOut', 'BounceEaseOut'} <= names
    assert len(names) == len(augmentation.EASING_FUNCTIONS) + 2
