"""`convert_videos`: a batch from its arguments, every option checked before any output exists,
then run in this process (`run`) or as Ray tasks (`ray_runner`)."""
import os
from typing import Any, Optional, Union

from torch import nn

from ..background import check_background
from ..formats import ConversionError
from ..options import ConversionOptions, from_keywords
from .discover import Input, is_batch_source
from .job import BatchOptions, Job
from .run import Report, make_jobs, run_batch


def convert_videos(model: nn.Module, input_source: Union[str, os.PathLike], output_dir: Optional[str] = None, *,
                   progress: bool = True, **options: Any) -> Report:
    """Convert every video and image folder of `input_source` (a folder, searched at any depth, or a glob).

    With `output_dir`, each output option (`output_composition`, `output_alpha`,
    `output_foreground`) is a name inside the input's own folder there: `in/a/b.mp4` gives
    `output_dir/a/b/com.mp4`; without it, `input_source` is one input and the output options are its
    paths (for `resume` and segments on a single file). Outputs appear under their final names
    only when complete; inputs whose outputs all exist are skipped unless `force`. A failing input
    is reported and the others go on: see the returned Report (`.outcomes`, `.summary()`, also
    `output_dir/report.json`).

    Args:
        options: any field of `streaming.ConversionOptions` (what each conversion is, as for
            `convert_video`) or of `BatchOptions`: force, resume (continue interrupted conversions
            from their last checkpoint, taken about every `checkpoint_seconds`), segment_seconds
            (split longer inputs into segments converted independently, each starting
            `warmup_frames` early, joined without re-encoding), ray (True: Ray on this machine, or a
            cluster's address), ray_cpus (cores per Ray task without GPUs).

    Every option is checked, and the inputs found, before any output exists. See documentation/batch.md.
    """
    conversion_fields = {k: v for k, v in options.items() if k in ConversionOptions.__dataclass_fields__}
    batch = from_keywords(BatchOptions, 'convert_videos', {k: v for k, v in options.items() if k not in conversion_fields},
                          conversion=ConversionOptions(**conversion_fields))
    batch.check()
    return run_batch_of(model, input_source, output_dir, batch, progress)


def run_batch_of(model: nn.Module, input_source: Union[str, os.PathLike], output_dir: Optional[str],
                 options: BatchOptions, progress: bool = True) -> Report:
    """`convert_videos` with its options record built (the command line builds its own)."""
    source = os.fspath(input_source)
    names = options.conversion.outputs
    if options.conversion.background is not None:
        check_background(options.conversion.background)
    if output_dir is not None:
        jobs = make_jobs(source, os.fspath(output_dir), names)
        report_path = os.path.join(output_dir, 'report.json')
    elif is_batch_source(source):
        raise ConversionError(f'input {source} holds several inputs: give output_dir (--output-dir) for their outputs')
    else:
        if not names:
            raise ConversionError('no output: give at least one of output_composition, output_alpha, '
                                  'output_foreground')
        jobs, report_path = [Job(Input(source, os.path.basename(source)), names)], None
    if output_dir is not None:
        os.makedirs(output_dir, exist_ok=True)
    if options.ray:
        from .ray_runner import run_batch_ray  # Ray is optional: requirements/ray.txt
        return run_batch_ray(jobs, options, model, progress, report_path)
    return run_batch(jobs, options, model, progress, report_path)
