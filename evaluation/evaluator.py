"""The evaluation driver that `evaluate_lr.py` (numpy/OpenCV) and `evaluate_hr.py` (torch) share.

Layout of both the predictions and the ground truth (the same file names in both):

    DIR/DATASET/CLIP/pha/FRAME.png    alpha, 8- or 16-bit gray (color is converted)
    DIR/DATASET/CLIP/fgr/FRAME.png    foreground, 8- or 16-bit color (read only for fgr_* metrics)

The clips evaluated are those in the prediction folder (so one dataset or clip can be evaluated on
its own); the frames of a clip are those of its ground truth, and each must have a prediction.
Frames are read with OpenCV and scaled to float32 in 0..1; the backend then computes the metrics on
arrays (numpy) or tensors (torch). Work is split into runs of `FRAMES_PER_TASK` consecutive frames
of a clip (each run also reads the frame before it for dtSSD), run in order by a worker pool.
"""
import argparse
import os
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, List, Mapping, Sequence, Tuple

import cv2
import numpy as np
from tqdm import tqdm

from streaming.formats import list_folders
from evaluation.common import InputError, parallel_map, require_dir
from evaluation.metrics import ALPHA_METRICS, FOREGROUND_METRICS, METRIC_NAMES, TEMPORAL_METRICS
from evaluation.results import FrameResult, Results
from streaming.formats import list_images

FRAMES_PER_TASK = 10


@dataclass(frozen=True)
class Clip:
    dataset: str
    name: str
    frames: Tuple[str, ...]  # file names, the same in pha/ and fgr/, of prediction and truth

    def where(self, frame: str) -> str:
        return f'{self.dataset}/{self.name} frame {frame}'


@dataclass(frozen=True)
class Task:
    """Frames `clip.frames[start:stop]` of one clip."""
    clip: Clip
    start: int
    stop: int


@dataclass(frozen=True)
class Backend:
    """`metrics`: name -> function (see `evaluation.metrics.METRICS`); `to_array`: float32 numpy image ->
    the array type those functions take."""
    metrics: Mapping[str, Callable]
    to_array: Callable[[np.ndarray], Any]


def find_clips(pred_dir: Path, true_dir: Path, kinds: Sequence[str]) -> List[Clip]:
    """The clips under `pred_dir`, with their ground-truth frame names; checks that every `kind`
    ('pha', 'fgr') frame exists on both sides before any work starts."""
    require_dir(pred_dir, 'predictions')
    require_dir(true_dir, 'ground truth')
    clips = []
    for dataset in list_folders(pred_dir):
        if (pred_dir / dataset / 'pha').is_dir():
            raise InputError(f'{pred_dir} holds a clip ({dataset}/pha); pass the folder above the datasets '
                             f'(layout DIR/DATASET/CLIP/pha/FRAME.png)')
        for name in list_folders(pred_dir / dataset):
            frames = list_images(require_dir(true_dir / dataset / name / 'pha', f'{dataset}/{name} ground truth'))
            clip = Clip(dataset, name, tuple(frames))
            if not frames:
                raise InputError(f'{dataset}/{name}: no ground-truth frames in {true_dir / dataset / name / "pha"}')
            for root, side in ((true_dir, 'ground truth'), (pred_dir, 'prediction')):
                for kind in kinds:
                    for frame in frames:
                        path = root / dataset / name / kind / frame
                        if not path.is_file():
                            raise InputError(f'{clip.where(frame)}: {side} {path} is missing')
            clips.append(clip)
    if not clips:
        raise InputError(f'no clips in {pred_dir} (layout DIR/DATASET/CLIP/pha/FRAME.png)')
    return clips


def read_image(path: Path, color: bool, where: str) -> np.ndarray:
    """An 8- or 16-bit image as float32 in 0..1: `[H, W, 3]` (BGR) if `color`, else `[H, W]`."""
    flags = (cv2.IMREAD_COLOR if color else cv2.IMREAD_GRAYSCALE) | cv2.IMREAD_ANYDEPTH
    image = cv2.imread(str(path), flags)
    if image is None:
        raise InputError(f'{where}: cannot read {path} as an image')
    if image.dtype not in (np.uint8, np.uint16):
        raise InputError(f'{where}: {path} has {image.dtype} samples; 8- or 16-bit images are expected')
    return image.astype(np.float32) / np.iinfo(image.dtype).max


@dataclass(frozen=True)
class ClipEvaluator:
    """Evaluates a Task: returns one FrameResult per frame, values in the order of `metrics`."""
    pred_dir: Path
    true_dir: Path
    metrics: Tuple[str, ...]
    backend: Backend

    def read_pair(self, clip: Clip, kind: str, frame: str) -> Tuple[Any, Any]:
        """(prediction, truth) of one frame's `kind` ('pha' or 'fgr'), as backend arrays of the same shape."""
        where = clip.where(frame)
        pred, true = (read_image(root / clip.dataset / clip.name / kind / frame, kind == 'fgr', where)
                      for root in (self.pred_dir, self.true_dir))
        if pred.shape != true.shape:
            raise InputError(f'{where}: {kind} prediction is {_size(pred)} but the ground truth is {_size(true)}')
        return self.backend.to_array(pred), self.backend.to_array(true)

    def __call__(self, task: Task) -> List[FrameResult]:
        clip, fns = task.clip, self.backend.metrics
        temporal = any(m in TEMPORAL_METRICS for m in self.metrics)
        previous = self.read_pair(clip, 'pha', clip.frames[task.start - 1]) if temporal and task.start > 0 else None
        results = []
        for frame in clip.frames[task.start:task.stop]:
            pred_pha, true_pha = self.read_pair(clip, 'pha', frame)
            values = {m: fns[m](pred_pha, true_pha) for m in self.metrics if m in ALPHA_METRICS}
            if temporal:
                values.update({m: fns[m](pred_pha, previous[0], true_pha, previous[1]) if previous else 0.0
                               for m in self.metrics if m in TEMPORAL_METRICS})
            if any(m in FOREGROUND_METRICS for m in self.metrics):
                pred_fgr, true_fgr = self.read_pair(clip, 'fgr', frame)
                if true_fgr.shape[:2] != true_pha.shape:
                    raise InputError(f'{clip.where(frame)}: ground-truth fgr is {_size(true_fgr)} '
                                     f'but its pha is {_size(true_pha)}')
                values.update({m: fns[m](pred_fgr, true_fgr, true_pha)
                               for m in self.metrics if m in FOREGROUND_METRICS})
            results.append(FrameResult(clip.dataset, clip.name, frame, {m: float(values[m]) for m in self.metrics}))
            previous = pred_pha, true_pha
        return results


def _size(image) -> str:
    return f'{image.shape[1]}x{image.shape[0]}'


def evaluate(pred_dir: Path, true_dir: Path, metrics: Sequence[str], backend: Backend, num_workers: int,
             executor: Callable[[int], Executor], progress: bool = True) -> Results:
    """Evaluate every clip of `pred_dir` against `true_dir` with `num_workers` workers of `executor`.

    The results hold the requested metrics once each, in the order of `METRIC_NAMES`."""
    metrics = tuple(m for m in METRIC_NAMES if m in metrics)
    kinds = ['pha'] + (['fgr'] if any(m in FOREGROUND_METRICS for m in metrics) else [])
    clips = find_clips(pred_dir, true_dir, kinds)
    tasks = [Task(clip, start, min(start + FRAMES_PER_TASK, len(clip.frames)))
             for clip in clips for start in range(0, len(clip.frames), FRAMES_PER_TASK)]
    frames = []
    evaluator = ClipEvaluator(pred_dir, true_dir, metrics, backend)
    with tqdm(total=sum(len(c.frames) for c in clips), unit='frame', desc='evaluating', disable=not progress) as bar:
        for results in parallel_map(evaluator, tasks, num_workers, executor):
            frames.extend(results)
            bar.update(len(results))
    return Results(metrics, frames)


def build_parser(description: str, default_metrics: Sequence[str]) -> argparse.ArgumentParser:
    """The command line both evaluators share; the caller may add its own flags."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--pred-dir', type=Path, required=True, help='predictions, DIR/DATASET/CLIP/{pha,fgr}/FRAME')
    parser.add_argument('--true-dir', type=Path, required=True, help='ground truth, the same layout and file names')
    parser.add_argument('--num-workers', type=int, default=os.cpu_count() or 1, help='parallel workers (0: none)')
    parser.add_argument('--metrics', nargs='+', choices=METRIC_NAMES, default=list(default_metrics),
                        metavar='METRIC', help=f'any of {", ".join(METRIC_NAMES)}')
    parser.add_argument('--output', type=Path, default=None,
                        help='results prefix: writes PREFIX.xlsx, PREFIX.json, PREFIX_clips.csv, PREFIX_frames.csv '
                             '(default: PRED_DIR/<name of PRED_DIR>, as the original)')
    parser.add_argument('--disable-progress', action='store_true', help='no progress bar')
    return parser


def run(args: argparse.Namespace, backend: Backend, executor: Callable[[int], Executor]) -> Results:
    """Evaluate as `args` say, write the result files and print the summary table."""
    require_dir(args.pred_dir, 'predictions')
    prefix = args.output or args.pred_dir / args.pred_dir.resolve().name
    if not (prefix.parent.is_dir() and os.access(prefix.parent, os.W_OK)):
        raise InputError(f'cannot write the results into {prefix.parent} (not a writable folder); '
                         f'choose another --output')
    results = evaluate(args.pred_dir, args.true_dir, args.metrics, backend, args.num_workers, executor,
                       progress=not args.disable_progress)
    paths = results.write(prefix)
    print(results.table())
    print('results written to ' + ', '.join(map(str, paths)))
    return results
