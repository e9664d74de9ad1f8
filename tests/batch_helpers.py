"""What the batch tests share: a recurrent stub model, and a folder of small clips."""
import os
import signal
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from media import make_video


class RecurrentStub(nn.Module):
    """MattingNetwork's signature with a memory: alpha is a running average of the frames'
    brightness (carried in r1) times a ramp across the width, so outputs depend on every earlier
    frame since the last reset. `kill_at`: the process kills itself (SIGKILL) on that frame."""

    def __init__(self, kill_at=None):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))
        self.kill_at, self.frames = kill_at, 0

    def forward(self, src, r1=None, r2=None, r3=None, r4=None, downsample_ratio=1.0):
        b, t, _, h, w = src.shape
        state = r1 if r1 is not None else src.new_zeros(b, 1, 1, 1)
        ramp = torch.linspace(0, 1, w, dtype=src.dtype).view(1, 1, 1, w)
        alphas = []
        for i in range(t):
            self.frames += 1
            if self.frames == self.kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            state = 0.8 * state + 0.2 * src[:, i].mean(dim=(1, 2, 3), keepdim=True)
            alphas.append((state * ramp).expand(b, 1, h, w))
        return [src, torch.stack(alphas, 1), state, state, state, state]


def make_image_folder(path: Path, frames: int = 3, size=(64, 48)) -> None:
    path.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i in range(frames):
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), np.uint8)).save(path / f'{i}.png')


def make_folder(root: Path, corrupt: bool = True) -> None:
    """in/a.mp4 (6 frames, with audio), in/sub/deeper/b.mkv (3), in/seq/ (3 images), in/bad.mp4 (not a video)."""
    (root / 'sub' / 'deeper').mkdir(parents=True)
    make_video(root / 'a.mp4', frames=6, audio_seconds=0.2, noise=True)
    make_video(root / 'sub' / 'deeper' / 'b.mkv', frames=3, noise=True)
    make_image_folder(root / 'seq')
    (root / 'notes.txt').write_text('not an input')
    if corrupt:
        (root / 'bad.mp4').write_bytes(b'\x00\x00\x00\x18ftypmp42 but nothing after')
