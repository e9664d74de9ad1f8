"""The models the server offers, built once each (through `model.create_model`) and prepared for
its device, and the lock that lets one job at a time use the hardware."""
import os
import threading
from typing import Dict, List, Optional, Sequence

import torch
from torch import nn

from model import create_model
from streaming import Matter
from streaming.device import default_device


class Models:
    """Named models: one per --checkpoint (named by its file), one per --variant (the published weights).

    Args:
        checkpoints: state_dict files. variants: encoders whose published weights to offer.
            Neither: the published mobilenetv3.
        device: where the networks run; default: cuda when available, else cpu.
    """

    def __init__(self, checkpoints: Sequence[str] = (), variants: Sequence[str] = (),
                 device: Optional[str] = None):
        self.sources: Dict[str, dict] = {}
        for path in checkpoints:
            self.sources[os.path.basename(path)] = {'checkpoint': path}
        for variant in variants or ([] if checkpoints else ['mobilenetv3']):
            self.sources[f'{variant} (published)'] = {'variant': variant, 'pretrained': True}
        self.device = torch.device(device) if device else default_device()
        self.lock = threading.Lock()  # one conversion or webcam frame at a time on the hardware
        self._prepared: Dict[str, nn.Module] = {}
        self._building = threading.Lock()

    @property
    def names(self) -> List[str]:
        return list(self.sources)

    def matter(self, name: str, downsample_ratio: Optional[float] = None) -> Matter:
        """A fresh Matter (no recurrent state) on model `name`, which is built and prepared on first use."""
        if name not in self.sources:
            raise KeyError(f'no model {name!r}; the server offers {", ".join(self.sources)}')
        with self._building:
            if name not in self._prepared:
                self._prepared[name] = Matter(create_model(**self.sources[name]), self.device, torch.float32).model
        return Matter(self._prepared[name], self.device, torch.float32, downsample_ratio)

    def load_all(self) -> None:
        """Build every model now (at start-up: a bad checkpoint fails before the server listens)."""
        for name in self.sources:
            self.matter(name)
