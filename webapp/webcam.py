"""Real-time matting of the browser's camera: one `streaming.Matter` per browser session, carrying
its recurrent states from frame to frame, with fps and latency and a view of the four states; a
click on a person in the matted picture keeps only them (or drops them) from the next frame on.

A frame comes in as `[H, W, 3]` uint8 from Gradio's webcam stream; the matted frame goes back.
A camera that changes size (another camera, a rotated phone) starts a new clip: the states of
one size do not fit another.
"""
import time
from collections import deque
from typing import Deque, List, Optional, Tuple

import numpy as np
import torch
from PIL import Image

from streaming import Matter

from .models import Models

STATE_VIEW_SIZE = 160  # px, the long side of each recurrent-state image


def state_images(states: List[Optional[torch.Tensor]]) -> List[Optional[np.ndarray]]:
    """The recurrent states r1..r4 (`[1, C, h, w]`, in -1..1 from the ConvGRU's tanh) as `[h', w', 3]`
    uint8 images: the first three channels as red, green and blue, as the original demo showed them,
    scaled up (nearest) so that the coarse r4 stays visible."""
    images = []
    for state in states:
        if state is None:
            images.append(None)
            continue
        rgb = state[0, :3].float().add(1).mul(127.5).clamp(0, 255).byte().permute(1, 2, 0).cpu().numpy()
        h, w = rgb.shape[:2]
        scale = STATE_VIEW_SIZE / max(h, w)
        images.append(np.asarray(Image.fromarray(rgb).resize((max(1, round(w * scale)), max(1, round(h * scale))),
                                                             Image.Resampling.NEAREST)))
    return images


class Session:
    """One browser's webcam: its Matter, background, and the timings behind the fps and latency readout."""

    def __init__(self, models: Models, model: str):
        self.model = model
        self.matter: Matter = models.matter(model)
        self.size: Optional[Tuple[int, int]] = None
        self.background_key: Optional[Tuple] = None
        self.background: Optional[torch.Tensor] = None
        self.arrivals: Deque[float] = deque(maxlen=30)
        self.latency_ms = 0.0

    def _background(self, spec: str, size: Tuple[int, int]) -> torch.Tensor:
        """The background `[1, 3, H, W]` (a colour or an image), made again when the spec or size changes."""
        if self.background_key != (spec, size):
            background = self.matter.background(spec, size)
            self.background = background.next(1)
            background.close()
            self.background_key = (spec, size)
        return self.background

    def matte(self, frame: np.ndarray, background: str, kind: str) -> np.ndarray:
        """Matte one camera frame `[H, W, 3]` uint8; returns output `kind` as `[H, W, C]` uint8."""
        size = (frame.shape[1], frame.shape[0])
        if size != self.size:
            self.matter.reset()
            self.size = size
        start = time.perf_counter()
        fgr, pha = self.matter(np.array(frame[None]))  # Gradio's array is read-only; torch wants to own one
        bgr = self._background(background, size) if kind == 'composition' else None
        image = self.matter.images(kind, fgr, pha, bgr)[0]
        now = time.perf_counter()
        self.latency_ms = (now - start) * 1000
        self.arrivals.append(now)
        return image[..., 0] if kind == 'alpha' else image

    @property
    def fps(self) -> float:
        """Frames matted per second over the last (up to) 30 frames."""
        if len(self.arrivals) < 2:
            return 0.0
        return (len(self.arrivals) - 1) / (self.arrivals[-1] - self.arrivals[0])

    def toggle(self, x: int, y: int, keep: bool) -> str:
        """Keep (drop) the person at `(x, y)` of the last frame, or no longer; what happened, for the page."""
        person = self.matter.toggle(x, y, keep)
        if person is None:
            return f'No person at {x},{y}: click on a person.'
        selector = self.matter.selector
        now = 'kept' if person in selector.kept else 'dropped' if person in selector.dropped else 'let go'
        return f'Person {person} {now}.'

    def readout(self) -> str:
        selector = self.matter.selector
        chosen = f' · keeping {len(selector.kept)}' * bool(selector.kept) + \
            f' · dropping {len(selector.dropped)}' * bool(selector.dropped)
        unsure = ' · **selection unsure: the people touch**' if self.matter.unsure else ''
        return (f'{self.fps:.1f} fps · {self.latency_ms:.0f} ms per frame · downsample ratio '
                f'{self.matter.downsample_ratio:g}{chosen}{unsure}')

    def states(self) -> List[Optional[np.ndarray]]:
        return state_images(self.matter.states)
