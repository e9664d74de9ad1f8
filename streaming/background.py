"""The composition background: a colour, an image, or a looped video, scaled to cover the frame."""
import os
from typing import Iterator, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from PIL import Image, ImageColor
from torch import Tensor

from .color import from_images
from .formats import ConversionError, is_image_file
from .images import Size, center_crop, cover_size, fit_cover, image_to_rgb
from .readers import Frame, VideoReader
from .threads import Turns, prefetch

GREEN = (120, 255, 155)  # the default background: every entry point's (the web app shows it as GREEN_HEX)
GREEN_HEX = '#{:02x}{:02x}{:02x}'.format(*GREEN)


def parse_color(spec: Union[str, Sequence[float]]) -> Tuple[int, int, int]:
    """An RGB color from `(r, g, b)` (0..255), 'r,g,b', '#rrggbb' or a CSS name, or raise ConversionError."""
    try:
        if isinstance(spec, str):
            values = spec.split(',') if ',' in spec and not spec.startswith('rgb') else ImageColor.getrgb(spec)[:3]
        else:
            values = spec
        color = tuple(int(round(float(v))) for v in values)
    except ValueError as e:
        raise ConversionError(f'background {spec!r} is not a color, an image or a video') from e
    if len(color) != 3 or not all(0 <= v <= 255 for v in color):
        raise ConversionError(f'background color {spec!r} must be three values in 0..255')
    return color


class Background:
    """The composition background: a color, an image, or a video looped to length.

    Images and videos are scaled to cover the frame and center-cropped (no distortion).

    Args:
        spec: an RGB color (see `parse_color`), or the path of an image or a video.
        size: the frame size `(W, H)`.
        device, dtype: where the background tensors live.
        turns: for a background video, decode it taking turns with the network (see `Turns`).
    """

    def __init__(self, spec: Union[str, Sequence[float], os.PathLike], size: Size,
                 device: torch.device, dtype: torch.dtype, turns: Optional[Turns] = None):
        self.size, self.device, self.dtype = size, device, dtype
        self.video: Optional[Iterator[Frame]] = None
        path = os.fspath(spec) if isinstance(spec, (str, os.PathLike)) else None
        if path is not None and os.path.isfile(path) and is_image_file(path):
            with Image.open(path) as image:
                rgb = image_to_rgb(image)
            self.still = self._to_tensor(np.array(fit_cover(Image.fromarray(rgb), size))[None])
        elif path is not None and os.path.isfile(path):
            reader = VideoReader(path)
            self.reader_size = cover_size((reader.width, reader.height), size)
            self.video = prefetch(self._loop(reader), 4, turns)
        else:
            color = torch.tensor(parse_color(spec), dtype=dtype, device=device).div(255)
            self.still = color.view(1, 3, 1, 1)

    def _loop(self, reader: VideoReader) -> Iterator[np.ndarray]:
        while True:
            count = 0
            for frame in reader.frames(self.reader_size):
                count += 1
                yield center_crop(frame.image, self.size)
            if count == 0:
                raise ConversionError(f'background video {reader.path} has no decodable frame')

    def _to_tensor(self, images: np.ndarray) -> Tensor:
        """`[T, H, W, 3]` uint8, or uint16 from a video of more than 8 bits -> `[T, 3, H, W]` in 0..1."""
        return from_images(torch.from_numpy(np.ascontiguousarray(images)).to(self.device), self.dtype)

    def next(self, count: int) -> Tensor:
        """The background of the next `count` frames: `[count, 3, H, W]`, or `[1, 3, H or 1, W or 1]` when still."""
        if self.video is None:
            return self.still
        return self._to_tensor(np.stack([next(self.video) for _ in range(count)]))

    def close(self) -> None:
        if self.video is not None:
            self.video.close()


def check_background(spec: Union[str, Sequence[float], os.PathLike]) -> None:
    """Fail now, before any frame, for a background that is neither a colour nor an existing file."""
    if isinstance(spec, (str, os.PathLike)) and os.path.isfile(spec):
        return
    try:
        parse_color(spec)
    except ConversionError:
        if isinstance(spec, (str, os.PathLike)) and (os.path.splitext(os.fspath(spec))[1] or os.sep in os.fspath(spec)):
            raise ConversionError(f'background {os.fspath(spec)} does not exist (expected a color, an image or a video)')
        raise
