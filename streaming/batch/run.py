"""A batch in this process: every job converted in turn, each failure reported, a summary and report.json.

    report = run_batch(jobs, options, model)      # jobs: see `make_jobs`; options: BatchOptions

A job whose outputs all exist is skipped (final names appear only when complete) unless `force`.
A job that fails is recorded with a one-line reason and the batch goes on. `report.json` is
rewritten after each job, so a killed batch still says what it finished.
"""
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional

from torch import nn
from tqdm.auto import tqdm

from ..conversion import make_matter
from ..formats import ConversionError
from .discover import find_inputs, output_paths
from .job import BatchOptions, Job
from .join import finish
from .outputs import is_complete
from .parts import convert_segment
from .segments import plan_segments


@dataclass
class Outcome:
    input: str
    outputs: Dict[str, str]
    status: str                  # 'converted', 'skipped' or 'failed'
    frames: int = 0
    seconds: float = 0.0
    error: Optional[str] = None  # why it failed, one line


@dataclass
class Report:
    """The outcomes so far, written to `path` (report.json) after each one."""
    path: Optional[str]
    outcomes: List[Outcome] = field(default_factory=list)
    began: float = field(default_factory=time.perf_counter)

    def add(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        if self.path is not None:
            with open(self.path + '.tmp', 'w') as file:
                json.dump({'summary': self.totals(), 'inputs': [asdict(o) for o in self.outcomes]}, file, indent=1)
            os.replace(self.path + '.tmp', self.path)

    def totals(self) -> Dict[str, float]:
        counts = {status: sum(o.status == status for o in self.outcomes) for status in ('converted', 'skipped', 'failed')}
        frames = sum(o.frames for o in self.outcomes)
        seconds = time.perf_counter() - self.began
        return {**counts, 'frames': frames, 'seconds': round(seconds, 2), 'fps': round(frames / max(seconds, 1e-9), 2)}

    def summary(self) -> str:
        t = self.totals()
        return (f'converted {t["converted"]}, skipped {t["skipped"]} (complete), failed {t["failed"]}; '
                     f'{t["frames"]} frames in {t["seconds"]:.1f} s ({t["fps"]:.1f} fps)' +
                (f'; report: {self.path}' if self.path else ''))


def make_jobs(source: str, output_dir: str, names: Dict[str, str]) -> List[Job]:
    """A job per input found in `source` (see `discover`), its outputs named `names` in its own folder."""
    names = {kind: name for kind, name in names.items() if name is not None}
    if not names:
        raise ConversionError('no output: give at least one of --output-composition, --output-alpha, '
                              '--output-foreground (names inside each input\'s folder under --output-dir)')
    return [Job(item, output_paths(item, output_dir, names)) for item in find_inputs(source, exclude=output_dir)]


def reason(error: BaseException) -> str:
    """An exception as one line: its message's first line, with its type when that says more."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text if isinstance(error, (ConversionError, OSError)) else f'{type(error).__name__}: {text}'


def convert_job(job: Job, options: BatchOptions, matter, on_frames: Optional[Callable[[int], None]] = None) -> int:
    """Convert one input to its final outputs in this process; returns the frames written."""
    segments = plan_segments(job, options)
    frames = sum(frames for segment in segments
                 for frames, _ in convert_segment(job, options, segment, matter, on_frames)['parts'])
    finish(job, options, segments)
    return frames


def run_batch(jobs: List[Job], options: BatchOptions, model: nn.Module, progress: bool = True,
              report_path: Optional[str] = None) -> Report:
    """Convert `jobs` one after another with one Matter; returns the report (also in `report_path`)."""
    report = Report(report_path)
    matter = make_matter(model, options.conversion)
    with tqdm(total=len(jobs), unit='file', disable=not progress, dynamic_ncols=True, position=0) as overall:
        for job in jobs:
            if not options.force and is_complete(job.outputs.values()):
                report.add(Outcome(job.input.path, job.outputs, 'skipped'))
                overall.update()
                continue
            began = time.perf_counter()
            with tqdm(desc=job.input.name, unit='frame', disable=not progress, dynamic_ncols=True, leave=False,
                      position=1) as current:
                def on_frames(count: int) -> None:
                    current.update(count)
                    overall.set_postfix(frames=report.totals()['frames'] + current.n, refresh=False)
                try:
                    frames = convert_job(job, options, matter, on_frames)
                    report.add(Outcome(job.input.path, job.outputs, 'converted', frames, time.perf_counter() - began))
                except Exception as e:  # one bad file never stops the batch
                    report.add(Outcome(job.input.path, job.outputs, 'failed', 0, time.perf_counter() - began, reason(e)))
                    tqdm.write(f'{job.input.path}: failed: {reason(e)}', file=sys.stderr)
            overall.update()
    return report
