"""`LiveFrame`: one matted frame of a live run, as the sinks and a Python consumer get it."""
from typing import Dict, Optional

import numpy as np
from torch import Tensor

from ..color import to_images
from ..matter import render


class LiveFrame:
    """A matted frame: the network's `fgr` `[1, 3, H, W]` and `pha` `[1, 1, H, W]` (0..1, on the
    device), the composition background `bgr` (see `streaming.render`), its `pts` (seconds: the
    source's, continued in real time after a sender restarted), when it was `captured`
    (`time.monotonic()`), its `index` among the frames output, the downsample `ratio` it was matted
    at, and whether the people kept were `unsure`ly told from those dropped (`Matter.unsure`).

    `image()` gives what a window or a camera shows, `rgba()` the transparent frame, `alpha()` the
    matte; each is made once, on first use.
    """

    def __init__(self, fgr: Tensor, pha: Tensor, bgr: Optional[Tensor], pts: float, captured: float,
                 index: int, ratio: float, unsure: bool = False):
        self.fgr, self.pha, self.bgr = fgr, pha, bgr
        self.pts, self.captured, self.index, self.ratio, self.unsure = pts, captured, index, ratio, unsure
        self._images: Dict[str, np.ndarray] = {}

    def render(self, transparent: bool) -> Tensor:
        """`[1, 4, H, W]` RGBA when `transparent`, else `[1, 3, H, W]` the composition over `bgr`."""
        return render('composition', self.fgr, self.pha, None if transparent else self.bgr)

    def _image(self, key: str, make) -> np.ndarray:
        if key not in self._images:
            self._images[key] = to_images(make()).cpu().numpy()[0]
        return self._images[key]

    def image(self) -> np.ndarray:
        """`[H, W, 3]` uint8: the foreground over the background."""
        return self._image('composition', lambda: self.render(False))

    def rgba(self) -> np.ndarray:
        """`[H, W, 4]` uint8: the foreground with its alpha (zeroed where alpha is 0)."""
        return self._image('rgba', lambda: self.render(True))

    def alpha(self) -> np.ndarray:
        """`[H, W]` uint8: the alpha matte."""
        return self._image('alpha', lambda: self.pha)[..., 0]
