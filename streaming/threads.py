"""The threads of a conversion and the bounded queues between them.

`prefetch` runs the reader ahead of the network, `ThreadedWriter` runs each writer behind it;
their queues are short, so memory stays flat for any length. `Turns`: with a CPU network, they
run while the network waits instead of beside it.
"""
import contextlib
import os
import queue
import sys
import threading
from typing import Any, Callable, Iterable, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

def background_thread_setup() -> None:
    """Settings for the reader and writer threads.

    One intra-op thread for their torch work (torch's setting is per thread: the network keeps
    its own), and on Linux a slightly lower priority (nice +5, for this thread and the codec
    threads it starts), so that the thread that runs the network goes first where they run at
    once (with a GPU). Not lower: beside other busy processes, a low priority starves them
    (documentation/conversion.md, Benchmark).
    """
    torch.set_num_threads(1)
    if sys.platform == 'linux':
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), min(19, os.getpriority(os.PRIO_PROCESS, 0) + 5))


class Turns:
    """The network and the reader and writer threads taking turns, for a network that runs on the CPU.

    Such a network keeps every core busy with OpenMP threads that work in lockstep: a reader or
    writer thread that preempts one of them leaves the others spinning at their next barrier, so
    running beside it costs the network more than the preempting work itself (on 2 cores, ~25 ms
    per 720p frame; see documentation/conversion.md). Instead, the pipeline threads `wait()` before
    each piece of work, and the network runs in `network()`, which first waits for the writers
    to finish what they were given, then holds the pipeline threads back until it returns. The
    pipeline threads still run in parallel with each other. Disabled (for a GPU network, which
    leaves the CPU to the pipeline), both are no-ops.
    """

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._pipeline_may_run = threading.Event()
        self._pipeline_may_run.set()
        self._writer_queues: List[queue.Queue] = []

    def wait(self) -> None:
        """Block a pipeline thread while the network runs."""
        self._pipeline_may_run.wait()

    def add_writer(self, pending: queue.Queue) -> None:
        """A writer's queue, which the network waits to see processed (`task_done` for each item)."""
        self._writer_queues.append(pending)

    @contextlib.contextmanager
    def network(self) -> Iterator[None]:
        """Run the network alone: after the writers finish, with the pipeline threads held back."""
        if not self.enabled:
            yield
            return
        for pending in self._writer_queues:
            pending.join()
        self._pipeline_may_run.clear()
        try:
            yield
        finally:
            self._pipeline_may_run.set()


def prefetch(items: Iterable[Any], max_items: int, turns: Optional[Turns] = None) -> Iterator[Any]:
    """Iterate `items` on a background thread, at most `max_items` ahead of the consumer.

    With `turns`, each item is made only while the network is not running. An exception in the
    producer is raised in the consumer; closing this iterator (or leaving its loop) stops the producer.
    """
    results: 'queue.Queue[Tuple[Any, Optional[BaseException]]]' = queue.Queue(max_items)
    stop = threading.Event()
    done = object()

    def put(item: Tuple[Any, Optional[BaseException]]) -> bool:
        while not stop.is_set():
            try:
                results.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def produce() -> None:
        background_thread_setup()
        iterator = iter(items)
        try:
            while True:
                if turns is not None:
                    turns.wait()
                item = next(iterator, done)
                if item is done:
                    break
                if not put((item, None)):
                    return
            put((done, None))
        except BaseException as e:
            put((done, e))
        finally:
            if hasattr(iterator, 'close'):
                iterator.close()

    thread = threading.Thread(target=produce, name='rvm-reader', daemon=True)
    thread.start()
    try:
        while True:
            item, error = results.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        thread.join()


class ThreadedWriter:
    """Run a writer on its own thread, behind a bounded queue.

    `write(make_packed, pts, ready)`: the thread waits for `ready` (a CUDA event marking the end of
    a non_blocking copy from the GPU, or None), calls `make_packed()` for the writer's packed uint8
    data on the CPU (`writer.pack`), and writes it. Work done in `make_packed` (the composition, the
    conversion to uint8) runs on this thread (see `background_thread_setup`), off the network's
    thread. With `turns`, each item is written only while the network is not running, and the
    network waits for this writer to finish its items. An error in the thread is raised at the
    next call; `close()` writes what is queued, then closes the writer.
    """

    def __init__(self, writer: Any, max_pending: int = 2, turns: Optional[Turns] = None):
        self.writer = writer
        self.turns = turns
        self.queue: 'queue.Queue[Optional[Tuple[Callable[[], Tensor], Sequence[int], Any]]]' = queue.Queue(max_pending)
        if turns is not None:
            turns.add_writer(self.queue)
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run, name=f'rvm-writer {writer.path}', daemon=True)
        self.thread.start()

    def _run(self) -> None:
        background_thread_setup()
        while True:
            item = self.queue.get()
            try:
                if item is None:  # closed
                    return
                if self.error is None:  # after an error, keep taking items so that the producer never blocks
                    self._write(*item)
            except BaseException as e:
                self.error = e
            finally:
                self.queue.task_done()

    def _write(self, make_packed: Callable[[], Tensor], pts: Sequence[int], ready: Any) -> None:
        if self.turns is not None:
            self.turns.wait()
        if ready is not None:
            ready.synchronize()
        with torch.inference_mode():
            packed = make_packed()
        self.writer.write_packed(packed.cpu().numpy(), pts)

    def write(self, make_packed: Callable[[], Tensor], pts: Sequence[int], ready: Any = None) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put((make_packed, pts, ready))

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        self.writer.close()
        if self.error is not None:
            raise self.error
