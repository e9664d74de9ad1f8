"""File helpers shared by the datasets: directory listings in frame order with clear errors, and size capping."""
import os
from typing import List

from PIL import Image

from streaming.formats import list_folders as subfolders, list_images


def _require_dir(path: str, what: str) -> None:
    if not os.path.isdir(path):
        raise FileNotFoundError(f'{what}: directory {path} does not exist (see train_config.py for the expected layout)')


def list_image_files(path: str, what: str) -> List[str]:
    """The image files of directory `path` in natural order (frame2 before frame10); a missing
    directory, or one without images, is an error naming `what`."""
    _require_dir(path, what)
    names = list_images(path)
    if not names:
        raise FileNotFoundError(f'{what}: directory {path} has no image files')
    return names


def list_folders(path: str, what: str) -> List[str]:
    """`streaming.formats.list_folders(path)`; a missing directory, or one without sub-directories, is an error naming `what`."""
    _require_dir(path, what)
    names = subfolders(path)
    if not names:
        raise FileNotFoundError(f'{what}: directory {path} has no sub-directories')
    return names


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
