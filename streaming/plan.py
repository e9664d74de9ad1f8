"""A conversion's options resolved against its input, once, before any frame: `ConversionPlan.resolve`.

Every entry point resolves its `ConversionOptions` here: a bad number, name or path fails at once
with a one-line ConversionError that names the option (the flag, for the command line) and what
was expected. Resolving opens the input (the reader's checks are the input's checks), decides what
depends on it and on the paths (the output type, transparency, the background, the codecs) and
creates the output folders; it writes no file.
"""
import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple, Union

import torch
from torch import Tensor

from .background import GREEN, check_background
from .color import BT709, Colors
from .formats import VIDEO_EXTENSIONS, ConversionError, Encoding, check_writable, holds_alpha, video_codec
from .matter import render
from .options import SEQUENCE_EXTENSIONS, ConversionOptions, option_name
from .readers import open_reader
from .threads import ThreadedWriter, Turns
from .sequence_writer import ImageSequenceWriter, check_sequence_directory, image_bit_depths
from .writers import VideoWriter

WRITE_AHEAD_CHUNKS = 2


def output_type_of(options: ConversionOptions, name: Callable[[str], str]) -> str:
    """'video' for video extensions, 'png_sequence' for paths without one (directories), or the
    given type; an unknown extension is an error whatever the type would be."""
    if options.output_type is not None and options.output_type != 'video':
        return options.output_type
    kinds = set()
    for kind, path in options.outputs.items():
        ext = os.path.splitext(path)[1].lower()
        if ext and ext not in VIDEO_EXTENSIONS:
            raise ConversionError(f'{name("output_" + kind)} {path}: no writer knows the extension {ext!r} (videos: '
                                  f'{", ".join(VIDEO_EXTENSIONS)}; an image sequence is a directory without an '
                                  f'extension, or give {name("output_type")} png_sequence)')
        kinds.add('video' if ext else 'png_sequence')
    if options.output_type is not None or len(kinds) == 1:
        return options.output_type or kinds.pop()
    raise ConversionError(f'outputs {", ".join(options.outputs.values())} mix video files and image-sequence '
                          f'directories; use one kind (or give {name("output_type")})')


@dataclass(frozen=True)
class ConversionPlan:
    """What to convert and how: the options with everything decided (see `resolve`), the opened input."""
    options: ConversionOptions          # output_type, transparent and background resolved
    source: Any                         # the opened reader (VideoReader or ImageSequenceReader)
    encodings: Dict[str, Encoding]      # kind -> codec, pixel format, bits (video outputs)
    input_colors: Colors                # the input's colour tags, which the colour outputs are written in
    cli: bool = False                   # options are named by their flags in errors

    def name(self, option: str) -> str:
        """How the caller spells `option` (`keep`, or `--keep` on the command line)."""
        return option_name(option, self.cli)

    @property
    def outputs(self) -> Dict[str, str]:
        return self.options.outputs

    @property
    def size(self) -> Tuple[int, int]:
        """The frames' size `(W, H)` as the network sees them."""
        return self.options.input_resize or (self.source.width, self.source.height)

    @classmethod
    def resolve(cls, input_source: Any, options: ConversionOptions, cli: bool = False) -> 'ConversionPlan':
        """Check every option and decide what depends on the input and the paths. `cli` names options
        by their flags in errors.

        Decided here: the output type from the paths; a transparent composition when its format
        holds alpha (`formats.holds_alpha`) and no background is given, else the green background;
        each video output's codec (`formats.video_codec`) in the input's bit depth as far as the
        codec goes, in the input's colours. HDR input (PQ, HLG) is carried through at 10 bits or
        more, or refused.
        """
        def name(option: str) -> str:
            return option_name(option, cli)

        options.check(cli)
        outputs = options.outputs
        if not outputs:
            raise ConversionError(f'no output: give at least one of {name("output_composition")}, '
                                  f'{name("output_alpha")}, {name("output_foreground")}')
        output_type = output_type_of(options, name)
        composition, transparent, background = outputs.get('composition'), options.transparent, options.background
        if composition is None:
            transparent, background = False, None
        elif transparent is None:
            transparent = background is None and holds_alpha(composition, output_type != 'video')
        if composition is not None and not transparent:
            background = GREEN if background is None else background
            check_background(background)
        source = open_reader(os.fspath(input_source))
        check_selections(options, source, name)
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
        resolved = dataclasses.replace(options, output_type=output_type, transparent=transparent, background=background)
        return cls(resolved, source, check_depth_and_colors(source, resolved, name), source.colors, cli)

    def colors(self, kind: str) -> Colors:
        """The colours output `kind` is written in: the input's; the alpha (coverage, not colour) in BT.709."""
        return BT709 if kind == 'alpha' else self.input_colors

    def render(self, kind: str, fgr: Tensor, pha: Tensor, bgr: Optional[Tensor]) -> Tensor:
        """Output `kind` of a chunk as `[T, C, H, W]` in 0..1 (`matter.render`), premultiplied if asked."""
        frames = render(kind, fgr, pha, bgr)
        if self.options.premultiplied and (kind == 'foreground' or (kind == 'composition' and bgr is None)):
            frames = torch.cat([frames[:, :3] * pha, frames[:, 3:]], dim=1)
        return frames

    def writer(self, kind: str, turns: Turns) -> ThreadedWriter:
        """The writer of output `kind`, on its own thread."""
        options, path = self.options, self.outputs[kind]
        if options.output_type != 'video':
            writer: Union[VideoWriter, ImageSequenceWriter] = ImageSequenceWriter(path, SEQUENCE_EXTENSIONS[options.output_type], options.bit_depth)
        else:
            encoding = self.encodings[kind]
            bit_rate = None if options.output_video_mbps is None else int(options.output_video_mbps * 1_000_000)
            writer = VideoWriter(path, self.source.frame_rate, bit_rate, options.transparent and kind == 'composition',
                                 self.source.time_base, self.source.path if self.source.has_audio else None,
                                 encoding.codec, options.video_quality, encoding.bits, colors=self.colors(kind))
        return ThreadedWriter(writer, WRITE_AHEAD_CHUNKS, turns)


def check_selections(options: ConversionOptions, source: Any, name: Callable[[str], str]) -> None:
    """ConversionError for a selection outside the frames (as the network sees them) or past the input's end."""
    width, height = options.input_resize or (source.width, source.height)
    for kind in ('keep', 'drop'):
        for selection in getattr(options, kind):
            if selection.outside(width, height):
                raise ConversionError(f'{name(kind)} {selection}: outside the {width}x{height} frame '
                                      f'(x 0..{width - 1}, y 0..{height - 1})')
            if selection.frame >= len(source):
                raise ConversionError(f'{name(kind)} {selection}: frame {selection.frame} is past the end of '
                                      f'{source.path} (frames 0..{len(source) - 1})')


def check_depth_and_colors(source: Any, options: ConversionOptions, name: Callable[[str], str]) -> Dict[str, Encoding]:
    """Each video output's encoding (`formats.video_codec`), or ConversionError for a codec, depth or
    quality an output cannot take, and for HDR colour an output would lose (8 bits, image files).
    `options` are resolved (output type, transparency)."""
    outputs, output_type, transparent = options.outputs, options.output_type, options.transparent
    codec, quality, bit_depth = options.video_codec, options.video_quality, options.bit_depth
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
