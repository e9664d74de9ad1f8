"""One input of a batch: what to convert (`Job`) and how (`BatchOptions`, the batch's options record).

A job's segments (one, unless `segment_seconds` splits a long input; `segments`) are converted into
checkpointed parts in the job's work folder (`parts`), then joined without re-encoding and renamed
onto the final names (`join`): in this process (`run`) or as Ray tasks (`ray_runner`).
"""
import dataclasses
import hashlib
import os
from dataclasses import dataclass
from typing import Dict, Optional, Union

from ..formats import ConversionError
from ..options import ConversionOptions, OUTPUT_KINDS, option, option_name
from .discover import Input

WARMUP_FRAMES = 32           # documentation/batch.md, "Segments": the join difference by warm-up length
CHECKPOINT_SECONDS = 60.0


@dataclass(frozen=True)
class BatchOptions:
    """A batch: the conversion every input gets (its output fields are names inside each input's
    folder with an output folder, else one input's paths) and how the batch runs."""
    conversion: ConversionOptions = option(ConversionOptions(), 'the conversion of every input', cli=False)
    force: bool = option(False, 'redo inputs whose outputs exist (default: skip them)', action='store_true')
    resume: bool = option(False, 'continue interrupted conversions from their last checkpoint instead of starting '
                                 'them over', action='store_true')
    checkpoint_seconds: float = option(CHECKPOINT_SECONDS, f'work between checkpoints (default {CHECKPOINT_SECONDS:g})',
                                       type=float)
    segment_seconds: Optional[float] = option(None, 'split longer inputs into segments converted independently '
                                                    '(in parallel with --ray)', type=float)
    warmup_frames: int = option(WARMUP_FRAMES, f'frames matted before each segment to warm up the state (default '
                                               f'{WARMUP_FRAMES})', type=int)
    ray: Union[bool, str] = option(False, 'run as Ray tasks: on this machine, or on the Ray cluster at ADDRESS',
                                   nargs='?', const=True, metavar='ADDRESS')
    ray_cpus: Optional[int] = option(None, 'cores per Ray task on machines without GPUs (default: min(4, all))',
                                     type=int)

    def check(self, cli: bool = False) -> None:
        """ConversionError for a value out of range, naming the option (its flag when `cli`), as
        `ConversionOptions.check` does for the conversion's."""
        def name(option: str) -> str:
            return option_name(option, cli)

        self.conversion.check(cli)
        if self.warmup_frames < 0:
            raise ConversionError(f'{name("warmup_frames")} must be 0 or more, got {self.warmup_frames}')
        if self.segment_seconds is not None and not self.segment_seconds > 0:
            raise ConversionError(f'{name("segment_seconds")} must be above 0, got {self.segment_seconds:g}')
        if not self.checkpoint_seconds >= 0:  # 0: a checkpoint after every part of the shortest length
            raise ConversionError(f'{name("checkpoint_seconds")} must be 0 or more, got {self.checkpoint_seconds:g}')
        if self.segment_seconds is not None and (self.conversion.keep or self.conversion.drop):
            raise ConversionError(f'{name("segment_seconds")} and {name("keep")}/{name("drop")}: the people chosen are '
                                  f'followed from the first frame, in one pass; convert without segments')
        if self.ray_cpus is not None and self.ray_cpus < 1:
            raise ConversionError(f'{name("ray_cpus")} must be 1 or more, got {self.ray_cpus}')

    def key(self, path: str) -> str:
        """What a checkpoint must match to be continued: the input file and every option that changes
        frames (not the output paths, which parts replace, nor the device, which Ray workers choose)."""
        stat = os.stat(path)
        conversion = {k: v for k, v in dataclasses.asdict(self.conversion).items()
                      if k != 'device' and k not in {'output_' + kind for kind in OUTPUT_KINDS}}
        frames = (conversion, self.segment_seconds, self.warmup_frames)
        return hashlib.sha1(repr((os.path.abspath(path), stat.st_size, stat.st_mtime_ns, frames)).encode()).hexdigest()


@dataclass(frozen=True)
class Job:
    input: Input
    outputs: Dict[str, str]  # kind -> final path
