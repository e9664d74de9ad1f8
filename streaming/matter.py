"""The streaming core: `Matter` turns uint8 frames into foreground and alpha, frame by frame or chunk by chunk.

It owns the prepared model, its recurrent states, the downsample ratio and the `Placement` (the
device decisions), and renders what writers, windows and streams show: the composition over a
background, transparent RGBA, the alpha, the foreground. Conversion, live matting and the batch
tools all run through it.

    matter = Matter(model)                          # the model's device, or model.to('cuda') first
    for images in chunks:                           # [T, H, W, 3] uint8, numpy or tensor
        fgr, pha = matter(images)                   # [T, 3, H, W], [T, 1, H, W] in 0..1 on the device
        com = render('composition', fgr, pha, bgr)  # [T, 3, H, W]
    matter.reset()                                  # before an unrelated clip
"""
from typing import Any, Callable, List, Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor, nn

from .background import Background
from .color import to_images
from .device import Placement
from .formats import ConversionError
from .images import Size, composite
from .threads import Turns

OUTPUT_KINDS = ('composition', 'alpha', 'foreground')


def auto_downsample_ratio(h: int, w: int) -> float:
    """The downsample ratio that brings the longer side to 512 px (never upsampling)."""
    return min(512 / max(h, w), 1)


def check_downsample_ratio(ratio: Optional[float], option: str = 'downsample_ratio') -> None:
    """None (automatic) or a ratio in (0, 1], else ConversionError naming `option`."""
    if ratio is not None and not 0 < ratio <= 1:
        raise ConversionError(f'{option} must be in (0, 1], got {ratio:g}')


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
        device, dtype: where and in what precision to run; default: the model's parameters'.
        downsample_ratio: the network's downsample ratio; None chooses it from the first frame
            (`auto_downsample_ratio`), again after each `reset()`.
    """

    def __init__(self, model: nn.Module, device: Optional[Union[str, torch.device]] = None,
                 dtype: Optional[torch.dtype] = None, downsample_ratio: Optional[float] = None):
        check_downsample_ratio(downsample_ratio)
        self.placement = Placement.choose(model, device, dtype)
        self.model = self.placement.prepare(model)
        self.turns = Turns(self.placement.take_turns)
        self.requested_ratio = downsample_ratio
        self.reset()

    def reset(self) -> None:
        """Forget the recurrent states (and an automatic ratio): the next frame starts a new clip."""
        self.states: List[Optional[Tensor]] = [None] * 4
        self.downsample_ratio = self.requested_ratio

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
        if self.downsample_ratio is None:
            self.downsample_ratio = auto_downsample_ratio(src.size(2), src.size(3))
        with self.turns.network():
            fgr, pha, *self.states = self.model(src.unsqueeze(0), *self.states, self.downsample_ratio)
        return fgr[0], pha[0]

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
