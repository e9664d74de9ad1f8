"""File helpers shared by the datasets: directory listings with clear errors, and size capping."""
import os
from typing import List

from PIL import Image


def list_dir(path: str, what: str) -> List[str]:
    """Sorted visible entries of directory `path`; a missing or empty directory is an error naming `what`."""
    if not os.path.isdir(path):
        raise FileNotFoundError(f'{what}: directory {path} does not exist (see train_config.py for the expected layout)')
    entries = sorted(name for name in os.listdir(path) if not name.startswith('.'))
    if not entries:
        raise FileNotFoundError(f'{what}: directory {path} is empty')
    return entries


def downsample_if_needed(img: Image.Image, size: int,
                         resample: Image.Resampling = Image.Resampling.BICUBIC) -> Image.Image:
    """Shrink `img` so its short side is `size` if it is larger; smaller images are returned as they are."""
    w, h = img.size
    if min(w, h) > size:
        scale = size / min(w, h)
        img = img.resize((int(scale * w), int(scale * h)), resample)
    return img


def open_rgb(path: str, size: int, resample: Image.Resampling = Image.Resampling.BICUBIC) -> Image.Image:
    """Read an image as RGB with its short side capped at `size`."""
    with Image.open(path) as img:
        return downsample_if_needed(img.convert('RGB'), size, resample)


def open_gray(path: str, size: int) -> Image.Image:
    """Read an image as 8-bit grayscale (an alpha matte) with its short side capped at `size`."""
    with Image.open(path) as img:
        return downsample_if_needed(img.convert('L'), size)
