"""Hard scene cuts, found on the frames the network already sees, and a `Matter` that resets at them.

A cut is a frame whose colour histogram (8 levels per channel, on a frame shrunk to at most 64 px)
differs from the previous frame's by more than `CUT_THRESHOLD` (half the L1 distance: 0 for the same
colours, 1 for disjoint ones); documentation/batch.md, "Scene cuts", has the threshold's margins on
the real clips. It costs a pooling and a bincount per frame. Every conversion resets at cuts by
default (`ConversionOptions.reset_on_scene_cut`).
"""
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .matter import Matter

CUT_THRESHOLD = 0.3
LEVELS = 8
THUMBNAIL = 64


def histograms(frames: Tensor) -> Tensor:
    """Normalised colour histograms `[T, LEVELS ** 3]` of frames `[T, 3, H, W]` in 0..1."""
    scale = THUMBNAIL / max(frames.shape[-2:])
    if scale < 1:
        frames = F.interpolate(frames.float(), scale_factor=scale, mode='area')
    levels = (frames.float().clamp(0, 1) * (LEVELS - 1e-3)).long()
    bins = (levels[:, 0] * LEVELS + levels[:, 1]) * LEVELS + levels[:, 2]
    offsets = torch.arange(len(frames), device=frames.device)[:, None] * LEVELS ** 3
    counts = torch.bincount((bins.flatten(1) + offsets).flatten(), minlength=len(frames) * LEVELS ** 3)
    return counts.view(len(frames), -1).float() / bins[0].numel()


class CutDetector:
    """Finds the cuts in a stream of chunks; remembers the last frame's histogram between chunks."""

    def __init__(self, threshold: float = CUT_THRESHOLD):
        self.threshold = threshold
        self.previous: Optional[Tensor] = None  # [1, LEVELS ** 3]

    def __call__(self, frames: Tensor) -> List[int]:
        """The indices in this chunk `[T, 3, H, W]` (0..1) of frames that start a new shot."""
        current = histograms(frames)
        before = current[:-1] if self.previous is None else torch.cat([self.previous, current[:-1]])
        distance = (current[-len(before):] - before).abs().sum(1) / 2
        self.previous = current[-1:]
        first = len(current) - len(before)
        return [first + int(i) for i in torch.nonzero(distance > self.threshold).flatten()]


class SceneCutMatter(Matter):
    """A Matter that forgets its recurrent states at each hard cut, so a new shot starts fresh.

    `cuts` lists the frame indices (counted from this matter's first frame) where it reset.
    """

    def __init__(self, *args, threshold: float = CUT_THRESHOLD, **kwargs):
        super().__init__(*args, **kwargs)
        self.detector = CutDetector(threshold)
        self.seen = 0
        self.cuts: List[int] = []

    def __call__(self, frames) -> Tuple[Tensor, Tensor]:
        src = frames if isinstance(frames, Tensor) and frames.is_floating_point() else \
            self.placement.network_input(torch.as_tensor(frames))
        starts = self.detector(src)
        self.cuts += [self.seen + i for i in starts]
        self.seen += len(src)
        pieces, begin = [], 0
        for end in starts + [len(src)]:
            if end > begin:
                pieces.append(super().__call__(src[begin:end]))
            if end < len(src):
                Matter.reset(self, keep_ratio=True)  # a cut inside a clip: the frames keep their size
            begin = end
        if len(pieces) == 1:
            return pieces[0]
        return torch.cat([fgr for fgr, _ in pieces]), torch.cat([pha for _, pha in pieces])

    def reset(self, keep_ratio: bool = False) -> None:
        """A new clip: the states, and the last frame seen (a cut is between frames of one clip)."""
        super().reset(keep_ratio)
        self.detector.previous = None

    def snapshot(self) -> Dict[str, Any]:
        """The Matter's snapshot, the detector's last histogram (the next frame is compared with it) and
        the cuts so far."""
        previous = self.detector.previous
        return {**super().snapshot(), 'previous': None if previous is None else previous.cpu(), 'seen': self.seen,
                'cuts': list(self.cuts)}

    def restore(self, snapshot: Dict[str, Any]) -> None:
        super().restore(snapshot)
        previous = snapshot.get('previous')
        self.detector.previous = None if previous is None else previous.to(self.placement.device)
        self.seen, self.cuts = snapshot['seen'], list(snapshot['cuts'])
