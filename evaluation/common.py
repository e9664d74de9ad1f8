"""What the evaluators and the test-set generators share: input errors, the worker pool and the
command-line wrapper."""
import sys
from concurrent.futures import Executor
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Sequence, TypeVar

T = TypeVar('T')
R = TypeVar('R')


class InputError(Exception):
    """Bad input (a missing, unreadable or mismatched file or folder); the message names it."""


def require_dir(path: Path, what: str) -> Path:
    """`path` if it is a folder, else an InputError naming `what` it should hold."""
    if not path.is_dir():
        raise InputError(f'{what}: {path} is not a folder')
    return path


def parallel_map(fn: Callable[[T], R], tasks: Sequence[T], num_workers: int,
                 executor: Callable[[int], Executor]) -> Iterator[R]:
    """`map(fn, tasks)` in order, run by `executor(num_workers)` (in this thread when num_workers is 0).

    On an error or an interrupt the tasks not yet started are cancelled, so it stops promptly.
    """
    if num_workers < 0:
        raise InputError(f'--num-workers must be 0 or more, not {num_workers}')
    if num_workers == 0:
        yield from map(fn, tasks)
        return
    pool = executor(num_workers)
    try:
        yield from pool.map(fn, tasks)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_cli(main: Callable[[Optional[Iterable[str]]], object], argv: Optional[Iterable[str]] = None) -> int:
    """Run a script's `main(argv)`; bad input ends it with a one-line error and exit status 2."""
    try:
        main(argv)
    except InputError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    return 0
