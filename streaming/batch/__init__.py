"""Many and long videos: folders and globs of inputs, resumable checkpointed conversions, segments
joined without re-encoding, scene-cut resets, and the same batch as Ray tasks. One module per job:

    discover    the inputs of a folder or glob, and each one's output folder
    job         Job (an input and its outputs), BatchOptions (the batch's options record)
    segments    a long input split into segments (warm-up frames, boundaries at cuts)
    parts       a segment converted in checkpointed parts: what --resume continues
    join        parts joined without re-encoding; renamed onto the final names when complete
    outputs     work folders, temporary names, the commit, completeness
    run         the batch in this process: skip complete, report failures, report.json, summary
    ray_runner  the batch as Ray tasks, retried when a worker dies (Ray is optional)
    videos      convert_videos: the options checked, the jobs made, the batch run here or on Ray

`convert_videos` (also `from inference import convert_videos`) and `python inference.py
--output-dir ...` run it; see documentation/batch.md. Scene cuts are the streaming core's
(`streaming.scenes`): every conversion resets at them.
"""
from .discover import Input, find_inputs, is_batch_source
from .job import BatchOptions, Job
from .run import Report, make_jobs, run_batch
from .videos import convert_videos, run_batch_of

__all__ = ['BatchOptions', 'Input', 'Job', 'Report', 'convert_videos', 'find_inputs', 'is_batch_source', 'make_jobs',
           'run_batch', 'run_batch_of']
