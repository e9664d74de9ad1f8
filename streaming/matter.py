"""The streaming core: `Matter` turns uint8 frames into foreground and alpha, frame by frame or chunk by chunk.

It owns the prepared model, its recurrent states, the downsample ratio and the `Placement` (the
device decisions), and renders what writers, windows and streams show: the composition over a
background, transparent RGBA, the alpha, the foreground. Conversion, live matting, the batch tools
and the web app all run through it; what they change of it goes through its methods (`reset`,
`set_ratio`, `warm_up`, `snapshot`/`restore`, and for the people kept `identify` and `toggle`),
never its fields. After the network, its `Selector` (selection.py) gives alpha 0 to the people not
kept, when any are chosen.

    matter = Matter(model)                          # the model's device, or model.to('cuda') first
    for images in chunks:                           # [T, H, W, 3] uint8, numpy or tensor
        fgr, pha = matter(images)                   # [T, 3, H, W], [T, 1, H, W] in 0..1 on the device
        com = render('composition', fgr, pha, bgr)  # [T, 3, H, W]
    matter.reset()                                  # before an unrelated clip
"""
import warnings
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .background import Background
from .color import to_images
from .device import Placement
from .images import Size, composite
from .options import check_downsample_ratio
from .selection import Selection, Selector
from .threads import Turns


def auto_downsample_ratio(h: int, w: int) -> float:
    """The downsample ratio that brings the longer side to 512 px (never upsampling)."""
    return min(512 / max(h, w), 1)


def state_sizes(size: Size, ratio: float, count: int) -> List[Tuple[int, int]]:
    """The `(h, w)` of the `count` recurrent states for frames of `size` `(W, H)` at `ratio`: the
    downsampled frame (`floor(H * ratio)`, as `F.interpolate` makes it) halved 1..count times,
    rounding up, as the encoder's strided layers and the decoder's pooling do."""
    h, w = int(size[1] * ratio), int(size[0] * ratio)
    sizes = []
    for _ in range(count):
        h, w = -(-h // 2), -(-w // 2)
        sizes.append((h, w))
    return sizes


def render(kind: str, fgr: Tensor, pha: Tensor, bgr: Optional[Tensor]) -> Tensor:
    """Output `kind` of a chunk as `[T, C, H, W]` frames in 0..1, from fgr `[T, 3, H, W]` and pha `[T, 1, H, W]`.

    'alpha': C = 1. 'foreground': C = 3. 'composition': the foreground over `bgr`
    (`[T or 1, 3, H or 1, W or 1]`, C = 3), or, when `bgr` is None, RGBA with fgr zeroed where pha is 0.
    """
    if kind == 'alpha':
        return pha
    if kind == 'foreground':
        return fgr
    if bgr is None:
        return torch.cat([fgr * pha.gt(0), pha], dim=1)
    return composite(fgr, pha, bgr)


class Matter:
    """A prepared matting network and the state of the clip it is matting.

    Args:
        model: a MattingNetwork (prepared for its device by `Placement.prepare`), or any module with
            its forward signature, e.g. a TorchScript file (then give device and dtype).
        device, dtype: where and in what precision to run (`Placement.choose`: by default the
            model's device when it was moved off the CPU, else CUDA when available; the model's dtype).
        downsample_ratio: the network's downsample ratio; None chooses it from the first frame
            (`auto_downsample_ratio`), again after each `reset()`.
        bfloat16: ask for the bfloat16 decoder convolutions (`Placement.bfloat16`); a warning says
            when this machine runs float32 instead.
        keep, drop: the people to keep (everyone else gets alpha 0) or to drop, each pointed at on a
            frame (`selection.Selection`); `toggle` changes them as frames go.
    """

    def __init__(self, model: nn.Module, device: Optional[Union[str, torch.device]] = None,
                 dtype: Optional[torch.dtype] = None, downsample_ratio: Optional[float] = None,
                 bfloat16: bool = False, keep: Sequence[Selection] = (), drop: Sequence[Selection] = ()):
        check_downsample_ratio(downsample_ratio)
        self.placement = Placement.choose(model, device, dtype, bfloat16)
        if self.placement.bfloat16_declined:
            warnings.warn(f'bfloat16: {self.placement.bfloat16_declined}', RuntimeWarning, stacklevel=2)
        self.model = self.placement.prepare(model)
        self.turns = Turns(self.placement.take_turns)
        self.requested_ratio = downsample_ratio
        self._ratio = downsample_ratio
        self._states: List[Optional[Tensor]] = [None] * 4
        self.selector = Selector(keep, drop)

    @property
    def downsample_ratio(self) -> Optional[float]:
        """The ratio in use: the requested one, `set_ratio`'s, or the automatic one once the first frame came."""
        return self._ratio

    @property
    def states(self) -> Tuple[Optional[Tensor], ...]:
        """The recurrent states r1..r4 (`[1, C, h, w]` on the device), all None before the first frame."""
        return tuple(self._states)

    def reset(self, keep_ratio: bool = False) -> None:
        """Forget the recurrent states: the next frame starts a new clip. Its ratio is chosen again
        (when automatic) unless `keep_ratio`, as a live source that restarted keeps its own: the same
        clip goes on (a scene cut, a restart), and so do the people kept, recognised by their colours."""
        self._states = [None] * 4
        if keep_ratio:
            self.selector.cut()
        else:
            self._ratio = self.requested_ratio
            self.selector.reset()

    def set_ratio(self, ratio: float, size: Size, resize: Optional[bool] = None) -> None:
        """Run at `ratio` from the next frame, for frames of `size` `(W, H)`. The states have the
        downsampled frame's size, so they follow: a lower ratio resizes them (bilinear), a higher one
        resets them, as measured best in documentation/live.md; `resize` forces one or the other."""
        check_downsample_ratio(ratio)
        if ratio == self._ratio:
            return
        resize = ratio < (self._ratio or 1) if resize is None else resize
        if resize and all(state is not None for state in self._states):
            self._states = [F.interpolate(state, size=hw, mode='bilinear', align_corners=False)
                            for state, hw in zip(self._states, state_sizes(size, ratio, len(self._states)))]
        else:
            self._states = [None] * 4
        self._ratio = ratio

    def warm_up(self, frames: Union[np.ndarray, Tensor]) -> None:
        """Matte frames only for the states they leave (a segment starting after its warm-up frames)."""
        self(frames)

    def snapshot(self) -> Dict[str, Any]:
        """What `restore` needs to continue exactly here: the states (on the CPU), the ratio, the people followed."""
        return {'states': [s if s is None else s.cpu() for s in self._states], 'ratio': self._ratio,
                'selection': self.selector.snapshot()}

    def restore(self, snapshot: Dict[str, Any]) -> None:
        """Continue from a `snapshot` (of this matter or an identical one)."""
        device = self.placement.device
        self._states = [s if s is None else s.to(device) for s in snapshot['states']]
        self._ratio = snapshot['ratio']
        self.selector.restore(snapshot['selection'])

    @property
    def waits_for(self) -> Optional[int]:
        """The last frame that a selection points at and that `identify` has not run to yet (None: none)."""
        return max((s.frame for s, _ in self.selector.waiting), default=None)

    def identify(self, chunks: Iterable[Union[np.ndarray, Tensor]]) -> None:
        """A first pass: matte `chunks` (the clip from its first frame, as far as `waits_for`) only to
        find whom each selection points at (`selection.NotFound` when nobody is there), then start
        over as before, keeping those people from the first frame on."""
        start = self.snapshot()
        self.selector.strict = True
        try:
            for frames in chunks:
                self(frames)
                if not self.selector.waiting:
                    break
        finally:
            self.selector.strict = False
        self.selector.identified()
        start['selection'] = self.selector.snapshot()
        self.restore(start)

    def toggle(self, x: int, y: int, keep: bool = True) -> Optional[int]:
        """Keep (or with `keep` False, drop) the person at `(x, y)` of the last frame from the next
        frame on; again: no longer. Returns their id, None when nobody is there."""
        return self.selector.toggle(x, y, keep)

    @property
    def unsure(self) -> bool:
        """Whether the kept and the dropped people have been one region of the matte for long, now."""
        return self.selector.unsure

    def selection_notes(self) -> List[str]:
        """What to warn about the selection since the last call (`Selector.take_unsure`)."""
        return self.selector.take_unsure()

    def stage(self, images: Union[np.ndarray, Tensor]) -> Tensor:
        """`[T, H, W, 3]` uint8 frames as they should wait for the network, made on a reader thread:
        pinned uint8 for a GPU (converted there), else already the network's input `[T, 3, H, W]`."""
        images = torch.as_tensor(images)
        return self.placement.stage(images) if self.placement.cuda else self.placement.network_input(images)

    @torch.inference_mode()
    def __call__(self, frames: Union[np.ndarray, Tensor]) -> Tuple[Tensor, Tensor]:
        """Matte `[T, H, W, 3]` uint8 frames (or what `stage` made of them), carrying the states on.

        Returns fgr `[T, 3, H, W]` and pha `[T, 1, H, W]` in 0..1 on the device, new tensors each call.
        """
        src = frames if isinstance(frames, Tensor) and frames.is_floating_point() else \
            self.placement.network_input(torch.as_tensor(frames))
        if self._ratio is None:
            self._ratio = auto_downsample_ratio(src.size(2), src.size(3))
        with self.turns.network():
            fgr, pha, *self._states = self.model(src.unsqueeze(0), *self._states, self._ratio)
            return fgr[0], self.selector(src, pha[0])

    def background(self, spec: Any, size: Size) -> Background:
        """The composition background `spec` (a colour, an image or a video) for frames of `size` `(W, H)`."""
        return Background(spec, size, self.placement.device, self.placement.dtype, self.turns)

    def images(self, kind: str, fgr: Tensor, pha: Tensor, bgr: Optional[Tensor] = None) -> np.ndarray:
        """Output `kind` (see `render`) as `[T, H, W, C]` uint8 on the host: for windows and streams."""
        return to_images(render(kind, fgr, pha, bgr)).cpu().numpy()

    def hand_off(self, make_packed: Callable[[], Tensor]) -> Tuple[Callable[[], Tensor], Any]:
        """Where an output's packed uint8 data is made, for a writer thread: `(make_packed, ready event)`.

        On CUDA it is made now on the GPU and copied into pinned memory without blocking; the event
        marks the copy done. Elsewhere the writer thread makes it after the network call (so the
        model must return new tensors on each call, as MattingNetwork and TorchScript do).
        """
        if not self.placement.cuda:
            return make_packed, None
        packed = make_packed()
        host = torch.empty(packed.shape, dtype=packed.dtype, pin_memory=True)
        host.copy_(packed, non_blocking=True)
        ready = torch.cuda.Event()
        ready.record()
        return (lambda: host), ready
