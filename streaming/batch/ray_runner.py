"""The batch as Ray tasks (`--ray [ADDRESS]`): every segment of every input is a task, retried if its worker dies.

Without an address Ray starts on this machine with every core and GPU; each task takes one GPU
(where the cluster has GPUs) or `cpus_per_task` cores, so a laptop runs one worker per GPU or per
that many cores. With an address the driver joins that cluster and the same command runs on all
its machines. Workers read the inputs and write the parts through paths every node sees (shared
storage), and import this repository from its path (the same on every node). A task killed
midway is retried by Ray (`MAX_RETRIES`) and continues from its segment's last checkpoint; the
driver joins each input's segments when they are all done.
"""
import copy
import dataclasses
import os
import sys
import time
from typing import Dict, List, Optional, Tuple

import ray
import torch
from torch import nn
from tqdm.auto import tqdm

from ..conversion import make_matter
from .job import BatchOptions, Job
from .join import finish
from .outputs import is_complete, remove_work, work_dir
from .parts import convert_segment
from .run import Outcome, Report, reason
from .segments import Segment, plan_segments

MAX_RETRIES = 3
DEFAULT_CPUS_PER_TASK = 4
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def convert_segment_task(model: nn.Module, job: Job, options: BatchOptions, segment: Segment, threads: int) -> int:
    """Ray task: convert one segment on this worker, on its GPU if Ray gave it one (Ray shows a task
    only its own GPUs: the options' default device is then CUDA, else the CPU); returns the frames written."""
    torch.set_num_threads(threads)
    checkpoint = convert_segment(job, options, segment, make_matter(model, options.conversion))
    return sum(frames for frames, _ in checkpoint['parts'])


def start(address: Optional[str] = None) -> None:
    """Connect to the cluster at `address`, or start Ray here; this repository is importable on its workers."""
    if not ray.is_initialized():
        ray.init(address=address, runtime_env={'env_vars': {'PYTHONPATH': ROOT}}, include_dashboard=False,
                 log_to_driver=False)


def task_resources(cpus_per_task: Optional[int]) -> Tuple[int, int]:
    """`(cpus, gpus)` a task asks for: one GPU where the cluster has GPUs, else some cores."""
    resources = ray.cluster_resources()
    if resources.get('GPU', 0) >= 1:
        return 1, 1
    return cpus_per_task or min(DEFAULT_CPUS_PER_TASK, int(resources.get('CPU', 1))), 0


def run_batch_ray(jobs: List[Job], options: BatchOptions, model: nn.Module, progress: bool = True,
                  report_path: Optional[str] = None) -> Report:
    """Convert `jobs` as Ray tasks (on the cluster at `options.ray` when it is an address); returns the
    report (also in `report_path`), as `run.run_batch` does."""
    start(None if options.ray is True else options.ray)
    cpus, gpus = task_resources(options.ray_cpus)
    task = ray.remote(convert_segment_task).options(num_cpus=cpus, num_gpus=gpus, max_retries=MAX_RETRIES)
    model_ref = ray.put(copy.deepcopy(model).cpu())
    # A retried task must continue its segment, not restart it: the first attempt clears stale work instead.
    task_options = dataclasses.replace(options, resume=True)
    report = Report(report_path)
    running: Dict[int, Tuple[Job, List[Segment], list, float]] = {}  # by the job's index
    with tqdm(total=len(jobs), unit='file', disable=not progress, dynamic_ncols=True) as bar:
        for index, job in enumerate(jobs):
            if not options.force and is_complete(job.outputs.values()):
                report.add(Outcome(job.input.path, job.outputs, 'skipped'))
                bar.update()
                continue
            try:
                if not options.resume:
                    remove_work(work_dir(job.outputs))
                segments = plan_segments(job, options)
            except Exception as e:
                report.add(Outcome(job.input.path, job.outputs, 'failed', error=reason(e)))
                bar.update()
                continue
            refs = [task.remote(model_ref, job, task_options, segment, cpus) for segment in segments]
            running[index] = job, segments, refs, time.perf_counter()
        while running:
            ray.wait([ref for _, _, refs, _ in running.values() for ref in refs], num_returns=1)
            for index, (job, segments, refs, began) in list(running.items()):
                if ray.wait(refs, num_returns=len(refs), timeout=0)[1]:
                    continue
                del running[index]
                try:
                    frames = sum(ray.get(refs))
                    finish(job, task_options, segments)
                    report.add(Outcome(job.input.path, job.outputs, 'converted', frames, time.perf_counter() - began))
                except Exception as e:  # one bad file never stops the batch
                    error = e.cause if isinstance(e, ray.exceptions.RayTaskError) and e.cause is not None else e
                    report.add(Outcome(job.input.path, job.outputs, 'failed', 0, time.perf_counter() - began,
                                       reason(error)))
                    tqdm.write(f'{job.input.path}: failed: {reason(error)}', file=sys.stderr)
                bar.update()
                bar.set_postfix(frames=report.totals()['frames'], refresh=False)
    return report
