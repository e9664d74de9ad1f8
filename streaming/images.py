"""Picture geometry and compositing, the one definition of each for every wing (conversion, training
data, evaluation sets): cover-and-crop, and `fgr * pha + bgr * (1 - pha)`."""
from typing import Tuple, TypeVar, Union

import numpy as np
import torch
from PIL import Image
from torch import Tensor

Size = Tuple[int, int]  # (width, height)
Array = TypeVar('Array', np.ndarray, Tensor)


def composite(fgr: Array, pha: Array, bgr: Union[Array, float]) -> Array:
    """`fgr * pha + bgr * (1 - pha)`: the foreground over the background, for tensors or arrays that broadcast."""
    if isinstance(fgr, Tensor):
        return torch.lerp(torch.as_tensor(bgr, dtype=fgr.dtype, device=fgr.device), fgr, pha)
    return fgr * pha + bgr * (1 - pha)


def cover_size(size: Size, target: Size) -> Size:
    """The smallest size with `size`'s aspect ratio that covers `target` (both `(W, H)`)."""
    scale = max(target[0] / size[0], target[1] / size[1])
    return max(target[0], round(size[0] * scale)), max(target[1], round(size[1] * scale))


def center_crop(image: np.ndarray, target: Size) -> np.ndarray:
    """Crop `[H, W, C]` to `target` `(W, H)` around its center."""
    top, left = (image.shape[0] - target[1]) // 2, (image.shape[1] - target[0]) // 2
    return image[top:top + target[1], left:left + target[0]]


def fit_cover(image: Image.Image, target: Size) -> Image.Image:
    """Scale `image` (bilinear, aspect kept) to cover `target` `(W, H)`, then crop its center to exactly `target`."""
    scaled = cover_size(image.size, target)
    image = image.resize(scaled, Image.Resampling.BILINEAR)
    left, top = (scaled[0] - target[0]) // 2, (scaled[1] - target[1]) // 2
    return image.crop((left, top, left + target[0], top + target[1]))


def image_to_rgb(image: Image.Image) -> np.ndarray:
    """A PIL image of any mode (gray, RGBA, 16-bit, palette, CMYK...) as `[H, W, 3]` uint8 RGB.

    Alpha is dropped; 16-bit samples are scaled to 8 bits (not clipped, as PIL's convert does).
    """
    if image.mode == 'I' or image.mode.startswith('I;16'):
        gray = np.asarray(image, dtype=np.float32) / 257
        gray = gray.round().clip(0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    return np.asarray(image.convert('RGB'))
