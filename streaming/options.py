"""What a conversion is: `ConversionOptions`, one frozen record of every option and its default.

Every entry point only builds this record: `convert_video`'s arguments, `inference.py`'s flags
(made from the fields below by `add_arguments`), `convert_videos` (inside `batch.BatchOptions`),
the web app's form and `live.py`. `check` validates the values, naming each option as its caller
spells it (`downsample_ratio`, or `--downsample-ratio` on the command line);
`plan.ConversionPlan.resolve` then opens the input and decides what depends on it (the output
type, transparency, the codecs), and `device.Placement.choose` the device and dtype.
"""
import argparse
import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple, Type, TypeVar, Union

import torch

from engines import AUTO, ENGINES, PRECISIONS, check_engine

from .formats import CODECS, ConversionError
from .selection import FORMS, Selection

OUTPUT_KINDS = ('composition', 'alpha', 'foreground')
SEQUENCE_EXTENSIONS = {'png_sequence': 'png', 'tiff_sequence': 'tif', 'exr_sequence': 'exr'}
OUTPUT_TYPES = ('video', *SEQUENCE_EXTENSIONS)


def option(default: Any, help: str, cli: bool = True, **flag: Any) -> Any:
    """A field of an options record: its default, its help (the flag's), and the argparse keywords of
    its flag `--field-name` (`cli=False`: no flag, for the API only)."""
    return field(default=default, metadata={'help': help, 'flag': flag if cli else None})


def selection_argument(text: str) -> Selection:
    """A `--keep`/`--drop` value, its error as argparse shows it (`argument --keep: ...`)."""
    try:
        return Selection.parse(text)
    except ConversionError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def option_name(name: str, cli: bool) -> str:
    """How a caller spells option `name`: `downsample_ratio`, or `--downsample-ratio` on the command line."""
    return '--' + name.replace('_', '-') if cli else name


@dataclass(frozen=True)
class ConversionOptions:
    """Every option of a conversion and its default; the fields' help says what each means."""
    output_composition: Optional[str] = option(None, 'the foreground over --background (or transparent)')
    output_alpha: Optional[str] = option(None, 'the alpha matte')
    output_foreground: Optional[str] = option(None, 'the foreground colours')
    output_type: Optional[str] = option(
        None, 'video, png_sequence, tiff_sequence or exr_sequence (alpha only); default: video for video '
              'extensions, png_sequence for paths without an extension', choices=OUTPUT_TYPES)
    output_video_mbps: Optional[float] = option(
        None, 'video bit rate (default: constant quality, see --video-quality)', type=float)
    video_codec: Optional[str] = option(
        None, 'default: from the extension (h264; vp9 for .webm; prores4444 for transparent .mov, ffv1 for '
              'transparent .mkv; h265 for more than 8-bit input)', choices=tuple(CODECS))
    video_quality: Optional[float] = option(
        None, "the codec's CRF, lower is better (default: visually transparent: h264 18, h265 17, av1 20, vp9 20)",
        type=float)
    bit_depth: Optional[int] = option(
        None, "default: the input's as far as the codec goes (h264, vp9: 8); png/tiff: 8 or 16, exr: 16 (half) "
              'or 32 (float)', type=int, choices=(8, 10, 16, 32))
    premultiplied: bool = option(
        False, 'colours of the transparent composition and the foreground multiplied by alpha (default: straight)',
        action='store_true')
    transparent: Optional[bool] = option(
        None, 'write the composition with alpha (default: when its format holds alpha, i.e. image sequences, '
              '.mov, .webm, .mkv and .avi, and no --background is given)', action=argparse.BooleanOptionalAction)
    background: Any = option(
        None, "the composition's background: a colour ('120,255,155', '#78ff9b', 'white'), an image or a video "
              '(looped); default green (120,255,155)')
    input_resize: Optional[Tuple[int, int]] = option(None, 'resize the input to W H before matting',
                                                     type=int, nargs=2, metavar=('W', 'H'))
    downsample_ratio: Optional[float] = option(
        None, "the network's downsample ratio (default: bring the longer side to 512 px)", type=float)
    seq_chunk: int = option(1, 'frames per network call (default 1)', type=int)
    num_workers: int = option(0, 'input decoding threads (default 0: automatic)', type=int)
    reset_on_scene_cut: bool = option(
        True, 'forget the recurrent states at hard cuts (default: on; documentation/batch.md, "Scene cuts")',
        action=argparse.BooleanOptionalAction)
    device: Optional[Union[str, torch.device]] = option(
        None, "where the network runs; default: the model's device when it was moved off the CPU, else cuda when "
              'available, else cpu', cli=False)
    dtype: Optional[torch.dtype] = option(None, "the network's precision; default: the model's", cli=False)
    bfloat16: bool = option(
        False, 'decoder convolutions in bfloat16 on CPUs with native bfloat16 (AVX512-BF16, AMX): faster, not '
               'exact (documentation/inference.md); elsewhere float32, with a warning', action='store_true')
    keep: Tuple[Selection, ...] = option(
        (), f'keep only this person, followed through the clip, and give everyone else alpha 0: {FORMS} on frame '
            'FRAME (default 0) in input pixels; repeat for several (documentation/selection.md)',
        type=selection_argument, action='append', metavar='X,Y[@FRAME]')
    drop: Tuple[Selection, ...] = option(
        (), 'give this person alpha 0 throughout the clip and keep everyone else (as --keep points); repeat for '
            'several', type=selection_argument, action='append', metavar='X,Y[@FRAME]')
    engine: str = option('pytorch', 'what runs the network on the CPU: pytorch (default), onnxruntime, openvino, or '
                                    'auto: the fastest within the quality bound, measured once on this machine '
                                    '(documentation/inference.md, "Choosing an engine")', choices=ENGINES + (AUTO,))
    precision: str = option('float32', "the network's arithmetic on --engine onnxruntime, openvino or auto: float32 "
                                       '(default) or int8 (calibrated on real footage)', choices=PRECISIONS)

    def __post_init__(self) -> None:
        for kind in OUTPUT_KINDS:  # paths as str, whatever path-like the caller gave
            path = getattr(self, 'output_' + kind)
            if path is not None:
                object.__setattr__(self, 'output_' + kind, os.fspath(path))
        if self.input_resize is not None:
            object.__setattr__(self, 'input_resize', tuple(self.input_resize))
        for name in ('keep', 'drop'):  # 'x,y@frame' strings or Selections, as one tuple
            values = getattr(self, name)
            values = [values] if isinstance(values, (str, Selection)) else values
            try:
                object.__setattr__(self, name, tuple(Selection.parse(value) for value in values))
            except ConversionError as e:
                raise ConversionError(f'{name} {e}') from None

    @property
    def outputs(self) -> Dict[str, str]:
        """The outputs asked for: kind ('composition', 'alpha', 'foreground') -> path."""
        return {kind: path for kind in OUTPUT_KINDS if (path := getattr(self, 'output_' + kind)) is not None}

    def with_outputs(self, outputs: Dict[str, str]) -> 'ConversionOptions':
        """These options writing `outputs` (kind -> path) instead: a batch's input or part."""
        return dataclasses.replace(self, **{f'output_{kind}': outputs.get(kind) for kind in OUTPUT_KINDS})

    def check(self, cli: bool = False) -> None:
        """Raise ConversionError for a value out of range, naming the option (its flag when `cli`).
        What depends on the input and the paths is checked by `ConversionPlan.resolve`."""
        def name(option: str) -> str:
            return option_name(option, cli)

        check_downsample_ratio(self.downsample_ratio, name('downsample_ratio'))
        if self.seq_chunk < 1:
            raise ConversionError(f'{name("seq_chunk")} must be 1 or more, got {self.seq_chunk}')
        if self.num_workers < 0:
            raise ConversionError(f'{name("num_workers")} must be 0 or more, got {self.num_workers}')
        if self.input_resize is not None and (len(self.input_resize) != 2 or min(self.input_resize) < 1):
            raise ConversionError(f'{name("input_resize")} must be a width and a height of 1 or more, '
                                  f'got {" ".join(map(str, self.input_resize))}')
        if self.output_video_mbps is not None and not self.output_video_mbps > 0:
            raise ConversionError(f'{name("output_video_mbps")} must be above 0, got {self.output_video_mbps:g}')
        if self.output_video_mbps is not None and self.video_quality is not None:
            raise ConversionError(f'give {name("output_video_mbps")} (a bit rate) or {name("video_quality")} '
                                  f'(constant quality), not both')
        if self.output_type is not None and self.output_type not in OUTPUT_TYPES:
            raise ConversionError(f'{name("output_type")} {self.output_type!r} is not one of {", ".join(OUTPUT_TYPES)}')
        if self.engine != 'pytorch' or self.precision != 'float32':
            self.check_engine(name)
        if self.transparent and self.background is not None:
            raise ConversionError(f'a transparent composition has no background: give {name("transparent")} or '
                                  f'{name("background")}, not both')

    def check_engine(self, name) -> None:
        """The engine and precision, and what they exclude: another device, dtype or bfloat16."""
        try:
            check_engine(self.engine, self.precision)
        except ValueError as e:
            raise ConversionError(f'{name("engine")} {self.engine} with {name("precision")} {self.precision}: '
                                  f'{e}') from None
        other = (f'{name("device")} {self.device}' if self.device is not None and torch.device(self.device).type != 'cpu'
                 else f'{name("dtype")} {self.dtype}' if self.dtype not in (None, torch.float32)
                 else name('bfloat16') if self.bfloat16 else None)
        if other:
            raise ConversionError(f'{name("engine")} {self.engine} runs on the CPU in {name("precision")} '
                                  f'{self.precision}: {other} is for {name("engine")} pytorch')


def check_downsample_ratio(ratio: Optional[float], option: str = 'downsample_ratio') -> None:
    """None (automatic) or a ratio in (0, 1], else ConversionError naming `option`."""
    if ratio is not None and not 0 < ratio <= 1:
        raise ConversionError(f'{option} must be in (0, 1], got {ratio:g}')


Record = TypeVar('Record')


def add_arguments(parser: Any, record: type, only: Optional[Tuple[str, ...]] = None) -> None:
    """A flag `--field-name` in `parser` (or an argument group) for each field of the options record
    `record` that has one (of the fields named in `only`, when given), with its help.
    Flags not given stay out of the parsed namespace, so that the record's defaults apply."""
    for item in dataclasses.fields(record):
        flag = item.metadata.get('flag')
        if flag is not None and (only is None or item.name in only):
            parser.add_argument(option_name(item.name, True), dest=item.name, help=item.metadata['help'],
                                default=argparse.SUPPRESS, **flag)


def from_arguments(record: Type[Record], args: argparse.Namespace, **values: Any) -> Record:
    """The options record `record` from the flags `add_arguments` made (those given) and `values`."""
    names = {item.name for item in dataclasses.fields(record)}
    return record(**{name: value for name, value in vars(args).items() if name in names}, **values)


def from_keywords(record: Type[Record], function: str, keywords: Dict[str, Any], **values: Any) -> Record:
    """The options record `record` from a function's `**keywords`; an unknown one is the TypeError that
    Python raises for `function`'s own parameters."""
    names = {item.name for item in dataclasses.fields(record)}
    unknown = sorted(set(keywords) - names)
    if unknown:
        raise TypeError(f'{function}() got an unexpected keyword argument {unknown[0]!r}')
    return record(**keywords, **values)
