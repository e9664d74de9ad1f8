"""One input of a batch: what to convert (`Job`), how (`Settings`), and the Matter it runs through.

A job's segments (one, unless `segment_seconds` splits a long input; `segments`) are converted into
checkpointed parts in the job's work folder (`parts`), then joined without re-encoding and renamed
onto the final names (`join`): in this process (`run`) or as Ray tasks (`ray_runner`).
"""
import hashlib
import os
from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional, Tuple

import torch
from torch import nn

from ..matter import Matter
from .discover import Input
from .scenes import SceneCutMatter

WARMUP_FRAMES = 32           # documentation/batch.md, "Segments": the join difference by warm-up length
CHECKPOINT_SECONDS = 60.0


@dataclass(frozen=True)
class Settings:
    """The options of every conversion of a batch (see `convert_videos` for their meaning)."""
    output_type: Optional[str] = None
    transparent: Optional[bool] = None
    background: Any = None
    input_resize: Optional[Tuple[int, int]] = None
    downsample_ratio: Optional[float] = None
    seq_chunk: int = 1
    num_workers: int = 0
    output_video_mbps: Optional[float] = None
    video_codec: Optional[str] = None
    video_quality: Optional[float] = None
    bit_depth: Optional[int] = None
    premultiplied: bool = False
    reset_on_scene_cut: bool = True  # documentation/batch.md, "Scene cuts"
    warmup_frames: int = WARMUP_FRAMES
    segment_seconds: Optional[float] = None
    checkpoint_seconds: float = CHECKPOINT_SECONDS
    resume: bool = False

    def key(self, path: str) -> str:
        """What a checkpoint must match to be continued: the input file and every option that changes frames."""
        stat = os.stat(path)
        fields = {k: v for k, v in asdict(self).items() if k not in ('resume', 'checkpoint_seconds')}
        return hashlib.sha1(repr((os.path.abspath(path), stat.st_size, stat.st_mtime_ns, fields)).encode()).hexdigest()


@dataclass(frozen=True)
class Job:
    input: Input
    outputs: Dict[str, str]  # kind -> final path


def make_matter(model: nn.Module, settings: Settings, device=None, dtype: Optional[torch.dtype] = None) -> Matter:
    """The Matter a job runs through: one that resets at scene cuts when asked."""
    kind = SceneCutMatter if settings.reset_on_scene_cut else Matter
    return kind(model, device, dtype, settings.downsample_ratio)
