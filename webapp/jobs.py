"""Conversion jobs: each has an unguessable id, its own folder, and a cancel flag; folders older
than the retention time are removed.

The ids are 128 random bits (`secrets`), so one user cannot fetch another's results by guessing.
Only folders this process created are ever removed: the jobs root is a fresh folder of its own.
"""
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional


class Cancelled(Exception):
    """Raised from a conversion's progress callback when its job was cancelled."""


@dataclass
class Job:
    id: str
    folder: Path
    created: float = field(default_factory=time.monotonic)
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    running: bool = False
    plan: Any = None                 # the job's ConversionPlan, once its input is resolved
    model_name: Optional[str] = None

    def check_cancelled(self) -> None:
        if self.cancel_requested.is_set():
            raise Cancelled()


class Jobs:
    """The jobs of one server, in folders under a fresh directory inside `parent` (default: the temp dir)."""

    def __init__(self, retention_s: float, parent: Optional[str] = None):
        self.root = Path(tempfile.mkdtemp(prefix='rvm-app-', dir=parent))
        self.retention_s = retention_s
        self._jobs: Dict[str, Job] = {}
        self._lock = threading.Lock()

    def create(self) -> Job:
        job = Job(secrets.token_urlsafe(16), Path())
        job.folder = self.root / job.id
        job.folder.mkdir()
        with self._lock:
            self._jobs[job.id] = job
        return job

    def get(self, job_id: Optional[str]) -> Optional[Job]:
        with self._lock:
            return self._jobs.get(job_id) if job_id else None

    def cancel(self, job_id: Optional[str]) -> bool:
        """Ask job `job_id` to stop; False when there is no such job."""
        job = self.get(job_id)
        if job is None:
            return False
        job.cancel_requested.set()
        return True

    def clean(self, now: Optional[float] = None) -> int:
        """Remove the jobs (and folders) older than the retention time that are not running; returns how many."""
        now = time.monotonic() if now is None else now
        with self._lock:
            old = [job for job in self._jobs.values() if not job.running and now - job.created > self.retention_s]
            for job in old:
                del self._jobs[job.id]
        for job in old:
            shutil.rmtree(job.folder, ignore_errors=True)
        return len(old)

    def start_cleaner(self) -> threading.Thread:
        """A daemon thread that calls `clean` every few seconds (a quarter of the retention, at most a minute)."""
        def loop() -> None:
            while True:
                time.sleep(min(60.0, max(1.0, self.retention_s / 4)))
                self.clean()
        thread = threading.Thread(target=loop, name='rvm-app-cleaner', daemon=True)
        thread.start()
        return thread

    def remove_all(self, attempts: int = 5) -> None:
        """Cancel every job and remove every job folder (at shutdown). A conversion or a webcam frame
        still finishing may add a file while the folder goes: then try again, briefly."""
        with self._lock:
            for job in self._jobs.values():
                job.cancel_requested.set()
        for _ in range(attempts):
            shutil.rmtree(self.root, ignore_errors=True)
            if not self.root.exists():
                return
            time.sleep(0.2)
