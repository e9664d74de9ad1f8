"""What files are: the one definition of the video and image extensions, of frame order (natural
sort), of the video codecs, which container holds which and at what bit depth, and of the checks
that an output can be written."""
import os
import re
import tempfile
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple, Union

from PIL import Image

# The containers the writers produce.
VIDEO_EXTENSIONS = ('.mp4', '.m4v', '.mov', '.mkv', '.webm', '.avi')
# Inputs: those and other common video files FFmpeg reads (what batches, the web app and listings look for).
INPUT_EXTENSIONS = (*VIDEO_EXTENSIONS, '.mpg', '.mpeg', '.ts', '.mts', '.m2ts', '.wmv', '.flv', '.3gp')
IMAGE_EXTENSIONS = frozenset(ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN)

# SVT-AV1 prints its whole configuration to stderr for each encoder unless told to log errors only
# (it reads SVT_LOG when an encoder starts); a user's own setting wins.
os.environ.setdefault('SVT_LOG', '1')
# Up to three encoders share the cores (beside the network, on a CPU), so each gets a quarter of them.
_THREADS = str(max(1, (os.cpu_count() or 1) // 4))
# H.264 'superfast' keeps encoding three outputs cheap next to the network on a CPU (25% less
# time than 'veryfast' for 0.2 dB less PSNR at the same bit rate: see documentation/conversion.md).
H264_OPTIONS = {'preset': 'superfast', 'threads': _THREADS}
VP9_OPTIONS = {'deadline': 'good', 'cpu-used': '5', 'row-mt': '1'}
PRORES_4444_OPTIONS = {'profile': '4444'}


@dataclass(frozen=True)
class Codec:
    """A video codec the writers offer: its encoder, its pixel format for each (bits, alpha), its
    options, and its constant-quality option (None: ProRes and FFV1 have fixed quality)."""
    encoder: str
    pix_fmts: Dict[Tuple[int, bool], str]
    options: Dict[str, str]
    quality_option: Optional[str] = None
    default_quality: Optional[int] = None
    quality_range: Tuple[int, int] = (0, 51)
    auto_bits: int = 10  # the most bits chosen for an input that has more (H.264 and VP9: 8, what editors decode)

    @property
    def depths(self) -> List[int]:
        return sorted({bits for bits, _ in self.pix_fmts})


# The constant-quality defaults are visually transparent on 720p and 1080p compositions
# (documentation/conversion.md, "Quality and size"); --output-video-mbps forces a bit rate instead.
CODECS = {
    'h264': Codec('libx264', {(8, False): 'yuv420p', (10, False): 'yuv420p10le'}, H264_OPTIONS, 'crf', 18, auto_bits=8),
    'h265': Codec('libx265', {(8, False): 'yuv420p', (10, False): 'yuv420p10le'},
                  {'preset': 'superfast', 'x265-params': f'log-level=error:pools={_THREADS}'}, 'crf', 17),
    'av1': Codec('libsvtav1', {(8, False): 'yuv420p', (10, False): 'yuv420p10le'}, {'preset': '10'}, 'crf', 20, (0, 63)),
    'vp9': Codec('libvpx-vp9', {(8, False): 'yuv420p', (8, True): 'yuva420p'}, VP9_OPTIONS, 'crf', 20, (0, 63), 8),
    'prores': Codec('prores_ks', {(10, False): 'yuv422p10le'}, {'profile': '3'}),  # 422 HQ
    'prores4444': Codec('prores_ks', {(10, False): 'yuv444p10le', (10, True): 'yuva444p10le'}, PRORES_4444_OPTIONS),
    # FFV1 stores RGB as it is (GBR planes; bgr0 and bgra at 8 bits, FFV1's own 8-bit RGB), so that it decodes back to
    # exactly the samples of a PNG or TIFF output: in Y'CbCr the conversion alone lost up to 2 levels.
    'ffv1': Codec('ffv1', {(8, False): 'bgr0', (10, False): 'gbrp10le', (16, False): 'gbrp16le',
                           (8, True): 'bgra', (10, True): 'gbrap10le', (16, True): 'gbrap16le'},
                  {'level': '3', 'slices': '4', 'slicecrc': '1', 'threads': _THREADS}, auto_bits=16),
}
# What each container holds, the first its default (and for transparent video, the first with alpha).
CONTAINER_CODECS = {
    '.mp4': ('h264', 'h265', 'av1', 'vp9'),
    '.m4v': ('h264', 'h265'),
    '.mov': ('h264', 'prores4444', 'h265', 'prores'),
    '.mkv': ('h264', 'ffv1', 'h265', 'av1', 'vp9', 'prores', 'prores4444'),
    '.webm': ('vp9', 'av1'),
    '.avi': ('h264', 'ffv1'),
}
# The codecs whose alpha each container keeps (VP9's alpha is a Matroska side channel: not in MP4), the first the default.
CONTAINER_ALPHA = {'.mov': ('prores4444',), '.webm': ('vp9',), '.mkv': ('ffv1', 'vp9', 'prores4444'), '.avi': ('ffv1',)}


@dataclass(frozen=True)
class Encoding:
    """How a video output is encoded: the codec's name (a key of CODECS), its pixel format, bits and options."""
    codec: str
    pix_fmt: str
    bits: int
    options: Dict[str, str]
    quality_option: Optional[str]

    @property
    def encoder(self) -> str:
        return CODECS[self.codec].encoder


def container_options(ext: str) -> Dict[str, str]:
    """Muxer options that keep an output playable when the process is killed: MP4 and MOV in
    one-second fragments (the moov with the first, so that its edit list holds the decoder delay;
    a moof per fragment), Matroska and WebM in one-second clusters (the muxer holds a cluster back
    until it closes, by default after 5 s), and every packet flushed to disk."""
    if ext in ('.mp4', '.m4v', '.mov'):
        return {'movflags': 'empty_moov+default_base_moof+delay_moov', 'frag_duration': '1000000', 'flush_packets': '1'}
    if ext in ('.mkv', '.webm'):
        return {'cluster_time_limit': '1000', 'flush_packets': '1'}
    return {'flush_packets': '1'}


def holds_alpha(path: str, sequence: bool) -> bool:
    """Whether output `path` keeps an alpha channel by default: image sequences (`sequence`) and the
    containers of CONTAINER_ALPHA. A composition is transparent by default exactly there."""
    return sequence or os.path.splitext(path)[1].lower() in CONTAINER_ALPHA


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


def video_codec(path: str, transparent: bool, codec: Optional[str] = None, bits: Optional[int] = None,
                source_bits: int = 8, quality: Optional[float] = None) -> Encoding:
    """The encoding of a video output, or ConversionError naming what the container or codec cannot do.

    `codec`: a key of CODECS, or None for the extension's default (H.265 for more than 8-bit input in
    .mp4, .m4v, .mov and .mkv: H.264's 10-bit profile is one editors rarely decode). `bits`: None for
    the input's `source_bits`, as far as the codec's `auto_bits`, at the nearest depth it has.
    `quality`: the codec's constant-quality value (CRF), None for its default.
    """
    ext = os.path.splitext(path)[1].lower()
    if ext not in VIDEO_EXTENSIONS:
        raise ConversionError(f'{path}: unknown video extension {ext!r} (expected one of {", ".join(VIDEO_EXTENSIONS)}; '
                              f'for an image sequence, give a directory and an output type such as png_sequence)')
    held = CONTAINER_CODECS[ext]
    if codec is None:
        if transparent and ext not in CONTAINER_ALPHA:
            raise ConversionError(f'{path}: a transparent video needs .mov (ProRes 4444) or .webm (VP9 with alpha) '
                                  f'(or .mkv: FFV1), not {ext}')
        codec = CONTAINER_ALPHA[ext][0] if transparent else held[0]
        if codec == 'h264' and source_bits > 8 and 'h265' in held and bits in (None, 10):
            codec = 'h265'
    if codec not in CODECS:
        raise ConversionError(f'unknown video codec {codec!r} (expected one of {", ".join(CODECS)})')
    if codec not in held:
        raise ConversionError(f'{path}: {ext} cannot hold {codec} (it holds {", ".join(held)}; .mkv holds every codec)')
    spec = CODECS[codec]
    if transparent and codec not in CONTAINER_ALPHA.get(ext, ()):
        raise ConversionError(f'{path}: {codec} in {ext} keeps no alpha channel; a transparent video needs '
                              f'{", ".join(f"{c} in {e}" for e, codecs in CONTAINER_ALPHA.items() for c in codecs)}')
    if bits is None:
        wanted = min(source_bits, spec.auto_bits)
        bits = next((depth for depth in spec.depths if depth >= wanted), spec.depths[-1])
    elif bits not in spec.depths:
        raise ConversionError(f'{path}: {codec} has no {bits}-bit format (it has {", ".join(map(str, spec.depths))} bits)')
    pix_fmt = spec.pix_fmts.get((bits, transparent)) or spec.pix_fmts[(bits, False)]
    options = dict(spec.options)
    if quality is not None:
        if spec.quality_option is None:
            raise ConversionError(f'{codec} has a fixed quality (ProRes: its profile; FFV1: lossless): '
                                  f'the video quality does not apply to it')
        low, high = spec.quality_range
        if not low <= quality <= high:
            raise ConversionError(f'the video quality of {codec} (its CRF) must be in {low}..{high}, got {quality:g}')
    if spec.quality_option is not None:
        options[spec.quality_option] = f'{quality if quality is not None else spec.default_quality:g}'
    return Encoding(codec, pix_fmt, bits, options, spec.quality_option)


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
