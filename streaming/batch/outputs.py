"""Final names appear only when an output is complete: temporary names, the commit, completeness.

An input's work (parts, checkpoints) lives in a hidden folder beside its first output; its outputs
are joined under temporary names there and renamed onto their final names at the end, so a killed
batch never leaves a partial file under a final name. Every name made here starts with `.rvm-`.
"""
import os
import shutil
from typing import Dict, Iterable

from ..formats import ConversionError
from ..sequence_writer import ImageSequenceWriter, check_sequence_directory
from .discover import WORK_PREFIX


def work_dir(outputs: Dict[str, str]) -> str:
    """The hidden folder of an input's parts, checkpoints and joined outputs (beside its first output)."""
    first = next(iter(outputs.values()))
    return os.path.join(os.path.dirname(first), f'{WORK_PREFIX}{os.path.basename(first)}.work')


def joined_path(work: str, kind: str, final: str) -> str:
    """Where output `kind` is joined before it is renamed to `final` (same folder tree, same extension)."""
    return os.path.join(work, f'{kind}{os.path.splitext(final)[1]}')


def is_complete(outputs: Iterable[str]) -> bool:
    return all(os.path.exists(path) for path in outputs)


def commit(joined: str, final: str) -> None:
    """Rename a joined output onto its final name, replacing an earlier output of this tool.

    A final image folder may only hold this tool's images (and the frame list older versions kept
    there), else ConversionError: nothing of the user's is deleted.
    """
    if os.path.isdir(joined) and os.path.isdir(final):
        ours = check_sequence_directory(final, 'png') | {ImageSequenceWriter.MANIFEST}
        foreign = sorted(set(os.listdir(final)) - ours)
        if foreign:
            raise ConversionError(f'output {final} holds {foreign[0]} ({len(foreign)} files in all) that this tool '
                                  f'did not write; refusing to replace the folder')
        shutil.rmtree(final)
    os.makedirs(os.path.dirname(final) or '.', exist_ok=True)
    os.replace(joined, final)


def remove_work(work: str) -> None:
    """Remove an input's work folder (only ever one this module named)."""
    if os.path.basename(work).startswith(WORK_PREFIX) and os.path.isdir(work):
        shutil.rmtree(work)
