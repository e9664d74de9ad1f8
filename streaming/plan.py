"""A conversion's options, resolved and checked once, before any frame: `ConversionPlan.resolve`.

The command line and `convert_video` both build their plan here; a bad number, name or path
fails at once with a one-line ConversionError that names the option (the flag, for the CLI)
and what was expected. Resolving opens the input (the reader's checks are the input's checks)
and creates the output folders; it writes no file.
"""
import os
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import torch
from torch import Tensor

from .background import GREEN, check_background
from .color import BT709, Colors
from .formats import (TRANSPARENT_VIDEO_EXTENSIONS, VIDEO_EXTENSIONS, ConversionError, Encoding, check_writable,
                      video_codec)
from .matter import check_downsample_ratio, render
from .readers import open_reader
from .threads import ThreadedWriter, Turns
from .writers import ImageSequenceWriter, VideoWriter, Writer, check_sequence_directory, image_bit_depths

# Image sequences: a directory of numbered images of each output, by type.
SEQUENCE_EXTENSIONS = {'png_sequence': 'png', 'tiff_sequence': 'tif', 'exr_sequence': 'exr'}
OUTPUT_TYPES = ('video', *SEQUENCE_EXTENSIONS)
WRITE_AHEAD_CHUNKS = 2


def output_type_of(outputs: Dict[str, str], output_type: Optional[str], name) -> str:
    """'video' for video extensions, 'png_sequence' for paths without one (directories), or the
    given type; an unknown extension is an error whatever the type would be."""
    if output_type is not None:
        if output_type not in OUTPUT_TYPES:
            raise ConversionError(f'{name("output_type")} {output_type!r} is not one of {", ".join(OUTPUT_TYPES)}')
        if output_type != 'video':
            return output_type
    kinds = set()
    for kind, path in outputs.items():
        ext = os.path.splitext(path)[1].lower()
        if ext and ext not in VIDEO_EXTENSIONS:
            raise ConversionError(f'{name("output_" + kind)} {path}: no writer knows the extension {ext!r} (videos: '
                                  f'{", ".join(VIDEO_EXTENSIONS)}; an image sequence is a directory without an '
                                  f'extension, or give {name("output_type")} png_sequence)')
        kinds.add('video' if ext else 'png_sequence')
    if output_type is not None or len(kinds) == 1:
        return output_type or kinds.pop()
    raise ConversionError(f'outputs {", ".join(outputs.values())} mix video files and image-sequence directories; '
                          f'use one kind (or give {name("output_type")})')


@dataclass
class ConversionPlan:
    """What to convert and how, every option resolved (see `resolve`)."""
    source: Any                          # the opened reader (VideoReader or ImageSequenceReader)
    outputs: Dict[str, str]              # kind ('composition', 'alpha', 'foreground') -> path
    output_type: str                     # 'video' or 'png_sequence'
    transparent: bool                    # the composition is RGBA
    background: Any                      # the composition's background spec, None when transparent or unused
    input_resize: Optional[Tuple[int, int]]
    downsample_ratio: Optional[float]    # None: chosen from the first frame
    seq_chunk: int
    num_workers: int
    bit_rate: Optional[int]              # None: constant quality
    encodings: Dict[str, Encoding]       # kind -> codec, pixel format, bits (video outputs)
    video_quality: Optional[float]       # the codecs' CRF; None: each codec's default
    bit_depth: Optional[int]             # image sequences' (None: the format's default)
    premultiplied: bool                  # the transparent composition's and the foreground's colours times alpha
    input_colors: Colors                 # the input's colour tags, which the colour outputs are written in

    @property
    def size(self) -> Tuple[int, int]:
        """The frames' size `(W, H)` as the network sees them."""
        return self.input_resize or (self.source.width, self.source.height)

    @classmethod
    def resolve(cls, input_source: Any, output_composition: Optional[str] = None, output_alpha: Optional[str] = None,
                output_foreground: Optional[str] = None, output_type: Optional[str] = None,
                transparent: Optional[bool] = None, background: Any = None,
                input_resize: Optional[Tuple[int, int]] = None, downsample_ratio: Optional[float] = None,
                seq_chunk: int = 1, num_workers: int = 0, output_video_mbps: Optional[float] = None,
                cli: bool = False, video_codec: Optional[str] = None, video_quality: Optional[float] = None,
                bit_depth: Optional[int] = None, premultiplied: bool = False) -> 'ConversionPlan':
        """Check every option and resolve the defaults. `cli` names options by their flags in errors.

        Defaults: the output type from the paths; a transparent composition when its format holds
        alpha (image sequences, .mov, .webm) and no background is given; else a green background.
        Video: the extension's codec (`formats.video_codec`) at constant quality unless
        `output_video_mbps` is given, in the input's bit depth as far as the codec goes, in the
        input's colours. HDR input (PQ, HLG) is carried through at 10 bits or more, or refused.
        """
        def name(option: str) -> str:
            return '--' + option.replace('_', '-') if cli else option

        check_downsample_ratio(downsample_ratio, name('downsample_ratio'))
        if seq_chunk < 1:
            raise ConversionError(f'{name("seq_chunk")} must be 1 or more, got {seq_chunk}')
        if num_workers < 0:
            raise ConversionError(f'{name("num_workers")} must be 0 or more, got {num_workers}')
        if input_resize is not None and (len(input_resize) != 2 or min(input_resize) < 1):
            raise ConversionError(f'{name("input_resize")} must be a width and a height of 1 or more, '
                                  f'got {" ".join(map(str, input_resize))}')
        if output_video_mbps is not None and not output_video_mbps > 0:
            raise ConversionError(f'{name("output_video_mbps")} must be above 0, got {output_video_mbps:g}')
        if output_video_mbps is not None and video_quality is not None:
            raise ConversionError(f'give {name("output_video_mbps")} (a bit rate) or {name("video_quality")} '
                                  f'(constant quality), not both')
        paths = {'composition': output_composition, 'alpha': output_alpha, 'foreground': output_foreground}
        outputs = {kind: os.fspath(path) for kind, path in paths.items() if path is not None}
        if not outputs:
            raise ConversionError(f'no output: give at least one of {name("output_composition")}, '
                                  f'{name("output_alpha")}, {name("output_foreground")}')
        output_type = output_type_of(outputs, output_type, name)
        composition = outputs.get('composition')
        if composition is None:
            transparent, background = False, None
        elif transparent is None:
            transparent = background is None and (output_type != 'video' or os.path.splitext(
                composition)[1].lower() in TRANSPARENT_VIDEO_EXTENSIONS)
        elif transparent and background is not None:
            raise ConversionError(f'a transparent composition has no background: give {name("transparent")} or '
                                  f'{name("background")}, not both')
        if composition is not None and not transparent:
            background = GREEN if background is None else background
            check_background(background)
        source = open_reader(os.fspath(input_source))
        seen = {os.path.realpath(source.path): 'the input'}
        for kind, path in outputs.items():
            real = os.path.realpath(path)
            if real in seen:
                raise ConversionError(f'{name("output_" + kind)} {path} is the same path as {seen[real]}; '
                                      f'refusing to overwrite it')
            seen[real] = name('output_' + kind)
            if output_type != 'video':
                check_sequence_directory(path, SEQUENCE_EXTENSIONS[output_type])
            check_writable(path, directory=output_type != 'video')
        encodings = check_depth_and_colors(source, outputs, output_type, transparent, video_codec, video_quality,
                                           bit_depth, name)
        return cls(source, outputs, output_type, transparent, background, input_resize and tuple(input_resize),
                   downsample_ratio, seq_chunk, num_workers,
                   None if output_video_mbps is None else int(output_video_mbps * 1_000_000), encodings,
                   video_quality, bit_depth, premultiplied, source.colors)

    def colors(self, kind: str) -> Colors:
        """The colours output `kind` is written in: the input's; the alpha (coverage, not colour) in BT.709."""
        return BT709 if kind == 'alpha' else self.input_colors

    def render(self, kind: str, fgr: Tensor, pha: Tensor, bgr: Optional[Tensor]) -> Tensor:
        """Output `kind` of a chunk as `[T, C, H, W]` in 0..1 (`matter.render`), premultiplied if asked."""
        frames = render(kind, fgr, pha, bgr)
        if self.premultiplied and (kind == 'foreground' or (kind == 'composition' and bgr is None)):
            frames = torch.cat([frames[:, :3] * pha, frames[:, 3:]], dim=1)
        return frames

    def writer(self, kind: str, turns: Turns) -> ThreadedWriter:
        """The writer of output `kind`, on its own thread."""
        path = self.outputs[kind]
        if self.output_type != 'video':
            writer: Writer = ImageSequenceWriter(path, SEQUENCE_EXTENSIONS[self.output_type], self.bit_depth)
        else:
            encoding = self.encodings[kind]
            writer = VideoWriter(path, self.source.frame_rate, self.bit_rate, self.transparent and kind == 'composition',
                                 self.source.time_base, self.source.path if self.source.has_audio else None,
                                 encoding.codec, self.video_quality, encoding.bits, colors=self.colors(kind))
        return ThreadedWriter(writer, WRITE_AHEAD_CHUNKS, turns)


def check_depth_and_colors(source: Any, outputs: Dict[str, str], output_type: str, transparent: bool,
                           codec: Optional[str], quality: Optional[float], bit_depth: Optional[int],
                           name) -> Dict[str, Encoding]:
    """Each video output's encoding (`formats.video_codec`), or ConversionError for a codec, depth or
    quality an output cannot take, and for HDR colour an output would lose (8 bits, image files)."""
    hdr = source.colors.hdr
    if output_type != 'video':
        extension = SEQUENCE_EXTENSIONS[output_type]
        if bit_depth is not None and bit_depth not in image_bit_depths(extension):
            raise ConversionError(f'{name("bit_depth")} {bit_depth}: {extension} images have '
                                  f'{", ".join(map(str, image_bit_depths(extension)))} bits')
        if codec is not None or quality is not None:
            raise ConversionError(f'{name("video_codec")} and {name("video_quality")} are for video outputs, '
                                  f'not {output_type}')
        colored = [kind for kind in outputs if kind != 'alpha']
        if hdr and colored:
            raise ConversionError(f'{source.path} is HDR ({source.colors.describe()}): {output_type} images cannot '
                                  f'carry its colours; write {name("output_" + colored[0])} as video '
                                  f'(h265, av1, prores or ffv1), or convert the input to SDR first')
        if output_type == 'exr_sequence' and colored:
            raise ConversionError(f'exr_sequence holds the alpha matte only (EXR colour is scene-linear, video is not); '
                                  f'write {name("output_" + colored[0])} as tiff_sequence or video')
        return {}
    encodings = {}
    for kind, path in outputs.items():
        encoding = video_codec(path, transparent and kind == 'composition', codec, bit_depth,
                               max(source.bit_depth, 10 if hdr and kind != 'alpha' else 8), quality)
        if hdr and kind != 'alpha' and encoding.bits < 10:
            raise ConversionError(f'{source.path} is HDR ({source.colors.describe()}): {name("output_" + kind)} as '
                                  f'{encoding.bits}-bit {encoding.codec} would band and lose it; use h265, av1, '
                                  f'prores or ffv1 at 10 bits or more (or convert the input to SDR first)')
        encodings[kind] = encoding
    return encodings
