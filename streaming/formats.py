"""What files are: the one definition of the video and image extensions, of frame order (natural
sort), of the codec each output extension gets, and of the checks that an output can be written."""
import os
import re
import tempfile
from typing import Dict, List, Tuple, Union

from PIL import Image

# The containers the writers produce (and the files a folder of inputs is searched for).
VIDEO_EXTENSIONS = ('.mp4', '.m4v', '.mov', '.mkv', '.webm', '.avi')
TRANSPARENT_VIDEO_EXTENSIONS = ('.mov', '.webm')
IMAGE_EXTENSIONS = frozenset(ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN)


class ConversionError(ValueError):
    """Bad input or output for a conversion; the message names the path and the problem."""


def natural_key(name: str) -> List[Union[int, str]]:
    """Sort key that orders embedded numbers by value: frame2 before frame10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r'(\d+)', name)]


def is_image_file(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def list_images(path: Union[str, os.PathLike]) -> List[str]:
    """The names of the visible image files in directory `path`, in natural order (frame2 before frame10)."""
    return sorted((entry.name for entry in os.scandir(path)
                   if not entry.name.startswith('.') and entry.is_file() and is_image_file(entry.name)), key=natural_key)
