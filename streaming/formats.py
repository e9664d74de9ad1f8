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

# H.264 'superfast' keeps encoding three outputs cheap next to the network on a CPU (25% less
# time than 'veryfast' for 0.2 dB less PSNR at the same bit rate: see documentation/conversion.md).
# Up to three encoders share the cores, so each gets a quarter of them.
H264_OPTIONS = {'preset': 'superfast', 'threads': str(max(1, (os.cpu_count() or 1) // 4))}
VP9_OPTIONS = {'deadline': 'good', 'cpu-used': '5', 'row-mt': '1'}
PRORES_4444_OPTIONS = {'profile': '4444'}


def container_options(ext: str) -> Dict[str, str]:
    """Muxer options that keep an output playable when the process is killed: MP4 and MOV in
    one-second fragments (the moov with the first, so that its edit list holds the decoder delay;
    a moof per fragment), and every packet flushed to disk."""
    if ext in ('.mp4', '.m4v', '.mov'):
        return {'movflags': 'empty_moov+default_base_moof+delay_moov', 'frag_duration': '1000000', 'flush_packets': '1'}
    return {'flush_packets': '1'}


class ConversionError(ValueError):
    """Bad input or output for a conversion; the message names the path and the problem."""


def natural_key(name: str) -> List[Union[int, str]]:
    """Sort key that orders embedded numbers by value: frame2 before frame10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r'(\d+)', name)]


def is_image_file(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def list_folders(path: Union[str, os.PathLike]) -> List[str]:
    """The names of the visible folders in directory `path` (clips; not .ipynb_checkpoints...), in natural order."""
    return sorted((entry.name for entry in os.scandir(path) if entry.is_dir() and not entry.name.startswith('.')),
                  key=natural_key)


def list_images(path: Union[str, os.PathLike]) -> List[str]:
    """The names of the visible image files in directory `path`, in natural order (frame2 before frame10)."""
    return sorted((entry.name for entry in os.scandir(path)
                   if not entry.name.startswith('.') and entry.is_file() and is_image_file(entry.name)), key=natural_key)


def video_codec(path: str, transparent: bool) -> Tuple[str, str, Dict[str, str]]:
    """`(codec, pix_fmt, options)` for a video output, chosen by its extension."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in VIDEO_EXTENSIONS:
        raise ConversionError(f'{path}: unknown video extension {ext!r} (expected one of {", ".join(VIDEO_EXTENSIONS)}; '
                              f'for an image sequence, give a directory and output_type png_sequence)')
    if transparent:
        if ext == '.mov':
            return 'prores_ks', 'yuva444p10le', PRORES_4444_OPTIONS
        if ext == '.webm':
            return 'libvpx-vp9', 'yuva420p', VP9_OPTIONS
        raise ConversionError(f'{path}: a transparent video needs .mov (ProRes 4444) or .webm (VP9 with alpha), not {ext}')
    if ext == '.webm':
        return 'libvpx-vp9', 'yuv420p', VP9_OPTIONS
    return 'libx264', 'yuv420p', H264_OPTIONS


def check_writable(path: str, directory: bool) -> None:
    """Create `path` (a directory) or its parent, and prove it writable, or raise ConversionError."""
    folder = path if directory else (os.path.dirname(path) or '.')
    if not directory and os.path.isdir(path):
        raise ConversionError(f'output {path} is a directory, but a video file was expected')
    if directory and os.path.exists(path) and not os.path.isdir(path):
        raise ConversionError(f'output {path} is a file, but an image-sequence directory was expected')
    try:
        os.makedirs(folder, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as e:
        raise ConversionError(f'cannot write {path}: {e.strerror or e} ({folder})') from e


def mp4_boxes(path: str) -> List[Tuple[bytes, int, int]]:
    """The top-level boxes of an MP4/MOV file as `(type, offset, size)`; the last may run past the
    end of a file that was cut. Any other file gives boxes of garbage types: check the first is `ftyp`."""
    boxes = []
    with open(path, 'rb') as file:
        end = os.fstat(file.fileno()).st_size
        position = 0
        while position + 8 <= end:
            file.seek(position)
            header = file.read(16)
            size, kind = int.from_bytes(header[:4], 'big'), header[4:8]
            if size == 1 and len(header) == 16:  # a 64-bit size follows the type
                size = int.from_bytes(header[8:16], 'big')
            if size == 0:  # the box runs to the end of the file
                size = end - position
            boxes.append((kind, position, size))
            if size < 8:
                break
            position += size
    return boxes
