"""Many and long videos: folders and globs of inputs, resumable checkpointed conversions, segments
joined without re-encoding, scene-cut resets, and the same batch as Ray tasks. One module per job:

    discover    the inputs of a folder or glob, and each one's output folder
    job         Job (an input and its outputs), Settings (the batch's options), the Matter it uses
    scenes      hard-cut detection on the frames the network sees; SceneCutMatter resets at cuts
    segments    a long input split into segments (warm-up frames, boundaries at cuts)
    parts       a segment converted in checkpointed parts: what --resume continues
    join        parts joined without re-encoding; renamed onto the final names when complete
    outputs     work folders, temporary names, the commit, completeness
    run         the batch in this process: skip complete, report failures, report.json, summary
    ray_runner  the batch as Ray tasks, retried when a worker dies (Ray is optional)

`inference.convert_videos` and `python inference.py --output-dir ...` run it; see documentation/batch.md.
"""
from .discover import Input, find_inputs, is_batch_source
from .job import Job, Settings
from .run import Report, make_jobs, run_batch

__all__ = ['Input', 'Job', 'Report', 'Settings', 'find_inputs', 'is_batch_source', 'make_jobs', 'run_batch']
