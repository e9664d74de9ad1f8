"""A model with MattingNetwork's signature and known outputs, for tests of the conversion pipeline."""
import torch
from torch import nn

FGR = (0.8, 0.2, 0.4)
ALPHAS = (0.0, 0.25, 0.5, 1.0)  # the stub's alpha, by quarter of the width


class StubMatting(nn.Module):
    """MattingNetwork's signature with known outputs: fgr = FGR, alpha = ALPHAS by quarter of the width.

    It records `(frames seen before, as told by r1; downsample_ratio; T)` per call, and raises
    `error` on call number `fail_at`.
    """

    def __init__(self, fail_at=None, error=RuntimeError):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))
        self.calls, self.fail_at, self.error = [], fail_at, error

    def forward(self, src, r1=None, r2=None, r3=None, r4=None, downsample_ratio=1.0):
        b, t, _, h, w = src.shape
        self.calls.append((None if r1 is None else int(r1), downsample_ratio, t))
        if len(self.calls) == self.fail_at:
            raise self.error('the model failed')
        fgr = torch.tensor(FGR, dtype=src.dtype, device=src.device).view(1, 1, 3, 1, 1).expand(b, t, 3, h, w)
        quarter = torch.div(torch.arange(w, device=src.device) * 4, w, rounding_mode='floor')
        pha = torch.tensor(ALPHAS, dtype=src.dtype, device=src.device)[quarter].expand(b, t, 1, h, w)
        seen = (r1 if r1 is not None else torch.zeros((), device=src.device)) + t
        return [fgr, pha, seen, seen, seen, seen]


class ThresholdMatting(nn.Module):
    """MattingNetwork's signature: alpha 1 where a pixel is brighter than mid grey, else 0 (the
    figures of `media.people_frames`), and the frame as the foreground; no memory."""

    def __init__(self):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))

    def forward(self, src, r1=None, r2=None, r3=None, r4=None, downsample_ratio=1.0):
        pha = (src.mean(2, keepdim=True) > 0.5).to(src.dtype)
        state = torch.zeros((), device=src.device)
        return [src, pha, state, state, state, state]
