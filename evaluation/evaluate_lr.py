"""LR (low-resolution) evaluation with numpy and OpenCV, all seven metrics by default.

Evaluation only: run the model on the test set first and save its outputs with the same layout
and file names as the ground truth (see evaluation/evaluator.py and documentation/evaluation.md):

    python evaluation/evaluate_lr.py \\
        --pred-dir PREDICTIONS/videomatte_512x288 \\
        --true-dir TESTSETS/videomatte_512x288

writes PREDICTIONS/videomatte_512x288/videomatte_512x288.{xlsx,json} (and _clips.csv, _frames.csv)
and prints the summary. Workers are processes, one clip run of frames each at a time.
"""
import sys
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path

if __package__ in (None, ''):  # run as a script: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import numpy as np

from evaluation import metrics
from evaluation.common import run_cli
from evaluation.evaluator import Backend, build_parser, run

BACKEND = Backend(metrics.METRICS, np.asarray)


def process_pool(num_workers: int) -> Executor:
    """Worker processes with one OpenCV thread each: the pool is the parallelism."""
    return ProcessPoolExecutor(num_workers, initializer=cv2.setNumThreads, initargs=(1,))


def main(argv=None):
    args = build_parser(__doc__.splitlines()[0], metrics.METRIC_NAMES).parse_args(argv)
    return run(args, BACKEND, process_pool)


if __name__ == '__main__':
    sys.exit(run_cli(main))
