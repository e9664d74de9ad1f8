"""ImageSequenceWriter: frames as numbered images in a folder, each carrying a mark, so that a later
run replaces only the frames this tool wrote (the video files' writer is `writers.VideoWriter`).

`write(frames [T, C, H, W] in 0..1)` is `write_packed(pack(frames))`, as for VideoWriter: `pack`
quantises where the frames are, `write_packed` encodes on the CPU.
"""
import io
import os
import re
import struct
import zlib
from typing import Any, Dict, Optional, Sequence, Set, Tuple, Union

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from .color import to_images
from .formats import ConversionError


class ImageSequenceWriter:
    """Write frames as numbered images `0000.png`, `0001.png`... into a directory (created if needed).

    The directory holds frames only, and the writer changes only frames it wrote: each carries
    `MARK` in its first bytes (`save_image`), and a numbered image of this writer's pattern without
    it (the user's own) makes the constructor refuse the directory. Frames an earlier run wrote are
    replaced; when the writer closes, those of them past this sequence's end (a longer earlier run)
    are removed, so that the directory holds this sequence; every other file is left alone.

    Args:
        path: the directory.
        extension: 'png' (gray, RGB or RGBA), 'jpg' (gray or RGB), 'tif' (like png) or 'exr'
            (OpenEXR, for the alpha: one channel named A, as compositors read a matte).
        bit_depth: 8 or 16 for png and tif (16-bit holds the levels between the 8-bit steps);
            for exr 16 (half float, the default) or 32 (float).
    """
    MANIFEST = '.rvm-frames.txt'  # the list of frames older versions kept in the directory: removed when found

    def __init__(self, path: Union[str, os.PathLike], extension: str = 'jpg', bit_depth: Optional[int] = None):
        self.path = os.fspath(path)
        self.extension = extension
        self.bit_depth = bit_depth or image_bit_depths(extension)[0]
        if self.bit_depth not in image_bit_depths(extension):
            raise ConversionError(f'{self.path}: {extension} images have no {self.bit_depth}-bit format '
                                  f'(they have {", ".join(map(str, image_bit_depths(extension)))} bits)')
        self.counter = 0
        # zlib level 1: several times faster than PIL's default 6 for ~10% larger files.
        self.options = {'compress_level': 1} if extension == 'png' else {}
        self.earlier = check_sequence_directory(self.path, extension)
        os.makedirs(self.path, exist_ok=True)
        if os.path.isfile(manifest := os.path.join(self.path, self.MANIFEST)):
            os.remove(manifest)

    def write(self, frames: Tensor, pts: Optional[Sequence[int]] = None) -> None:
        """Write `[T, C, H, W]` frames in 0..1: C = 1 (gray), 3 (RGB) or 4 (RGBA)."""
        self.write_packed(self.pack(frames).cpu().numpy(), pts)

    def pack(self, frames: Tensor) -> Tensor:
        """`[T, C, H, W]` frames in 0..1 as `[T, H, W, C]` images, on their device: uint8 or uint16, or
        for exr float16 or float32 (not quantised)."""
        if frames.size(1) == 4 and self.extension.lower() in ('jpg', 'jpeg'):
            raise ConversionError(f'{self.path}: JPEG has no alpha channel; use png for RGBA frames')
        if self.extension == 'exr':
            if frames.size(1) != 1:
                raise ConversionError(f'{self.path}: EXR output holds the alpha matte (EXR colour is scene-linear, '
                                      f'which video is not); write {frames.size(1)}-channel frames as tif or png')
            return frames.permute(0, 2, 3, 1).to(torch.float16 if self.bit_depth == 16 else torch.float32)
        return to_images(frames, self.bit_depth)

    def write_packed(self, images: np.ndarray, pts: Optional[Sequence[int]] = None) -> None:
        """Save the output of `pack` (`pts` is accepted for the writers' shared interface and unused)."""
        for image in images:
            save_image(os.path.join(self.path, f'{self.counter:04d}.{self.extension}'), image, self.options)
            self.counter += 1

    def close(self) -> None:
        """Remove the frames an earlier run wrote past this sequence's end."""
        written = {f'{i:04d}.{self.extension}' for i in range(self.counter)}
        for name in sorted(self.earlier - written):
            if os.path.isfile(stale := os.path.join(self.path, name)):
                os.remove(stale)


def check_sequence_directory(path: str, extension: str) -> Set[str]:
    """The numbered `extension` images an earlier ImageSequenceWriter wrote into directory `path` (those
    that carry its mark: `is_ours`), or ConversionError if the directory holds one it did not write."""
    if not os.path.isdir(path):
        return set()
    pattern = re.compile(rf'\d{{4,}}\.{re.escape(extension)}')
    present = {name for name in os.listdir(path) if pattern.fullmatch(name)}
    foreign = sorted(name for name in present if not is_ours(os.path.join(path, name)))
    if foreign:
        raise ConversionError(f'output {path} already holds {foreign[0]} ({len(foreign)} numbered images in all) that '
                              f'this tool did not write; refusing to overwrite them: choose another directory')
    return present


def image_bit_depths(extension: str) -> Tuple[int, ...]:
    """The bit depths ImageSequenceWriter writes `extension` images in, the first the default."""
    return {'png': (8, 16), 'tif': (8, 16), 'tiff': (8, 16), 'exr': (16, 32)}.get(extension.lower(), (8,))


# What every frame ImageSequenceWriter writes carries, in its first few hundred bytes: a PNG `tEXt`
# chunk right after IHDR (`mark_png`), the TIFF Software tag (which both writers put before the
# pixels), a JPEG comment, an EXR header attribute. Images of other formats (bmp...) carry none.
MARK = 'Robust Video Matting'
_HEAD = 4096  # the bytes of a file read for the mark: it lies within the first 400 in every format


def is_ours(path: str) -> bool:
    """Whether the file at `path` is a frame ImageSequenceWriter wrote: its first bytes carry `MARK`, which
    a frame cut short by a crash keeps (it is written first), or it is empty (a crash before any byte)."""
    try:
        with open(path, 'rb') as file:
            head = file.read(_HEAD)
    except OSError:  # a folder of that name, an unreadable file: not ours to replace
        return False
    return not head or MARK.encode() in head


def mark_png(data: bytes) -> bytes:
    """PNG file `data` with a `tEXt` chunk `Software` = `MARK` right after IHDR (the 8-byte signature and
    IHDR's 25 bytes), where reading a file's first 100 bytes finds it."""
    if data[12:16] != b'IHDR':
        raise ValueError('not a PNG file: IHDR does not follow the signature')
    text = b'Software\0' + MARK.encode()
    chunk = struct.pack('>I', len(text)) + b'tEXt' + text + struct.pack('>I', zlib.crc32(b'tEXt' + text))
    return data[:33] + chunk + data[33:]


def encode_image(image: np.ndarray, extension: str, options: Dict[str, Any]) -> bytes:
    """`[H, W, C]` uint8 (PIL) or uint16 (PNG: OpenCV, TIFF: tifffile) as the bytes of an `extension` file
    that carries `MARK`."""
    extension = extension.lower()
    if image.dtype == np.uint16 and extension == 'png':
        import cv2  # opencv-python-headless: requirements/outputs.txt
        order = {1: [0], 3: [2, 1, 0], 4: [2, 1, 0, 3]}[image.shape[2]]  # OpenCV's BGR(A)
        encoded, data = cv2.imencode('.png', np.ascontiguousarray(image[..., order]), [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if not encoded:
            raise OSError(f'OpenCV could not encode a {image.shape[1]}x{image.shape[0]} 16-bit PNG')
        return mark_png(data.tobytes())
    buffer = io.BytesIO()
    if image.dtype == np.uint16:
        import tifffile  # tifffile: requirements/outputs.txt
        # Deflate at level 1 with the horizontal predictor: about as fast as OpenCV's LZW, and smaller files.
        tifffile.imwrite(buffer, image[..., 0] if image.shape[2] == 1 else image, software=MARK, metadata=None,
                         photometric='minisblack' if image.shape[2] == 1 else 'rgb',
                         extrasamples=['unassalpha'] if image.shape[2] == 4 else None,
                         compression='zlib', compressionargs={'level': 1}, predictor=True)
        return buffer.getvalue()
    pil_format = Image.registered_extensions().get(f'.{extension}')
    if pil_format is None:
        raise ValueError(f'PIL knows no image format with the extension .{extension}')
    marks = {'JPEG': {'comment': MARK}, 'TIFF': {'tiffinfo': {305: MARK}}}.get(pil_format, {})
    Image.fromarray(image[..., 0] if image.shape[2] == 1 else image).save(buffer, pil_format, **options, **marks)
    return mark_png(buffer.getvalue()) if pil_format == 'PNG' else buffer.getvalue()


def save_image(path: str, image: np.ndarray, options: Dict[str, Any]) -> None:
    """Save `[H, W, C]` uint8, uint16 (`encode_image`) or float (OpenEXR, channel A) to `path`, with `MARK` in its
    first bytes: images are written at once, EXR's header (with the mark) before its pixels."""
    if image.dtype.kind == 'f':
        import OpenEXR  # OpenEXR: requirements/outputs.txt
        header = {'compression': OpenEXR.ZIP_COMPRESSION, 'type': OpenEXR.scanlineimage, 'software': MARK}
        with OpenEXR.File(header, {'A': np.ascontiguousarray(image[..., 0])}) as file:
            file.write(path)
        return
    data = encode_image(image, os.path.splitext(path)[1][1:], options)
    with open(path, 'wb') as file:
        file.write(data)
