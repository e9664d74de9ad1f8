"""The models the server offers, built once each (through `model.create_model`) and prepared for
its device, and the lock that lets one job at a time use the hardware."""
import os
import threading
from typing import Dict, List, Optional, Sequence

import torch
from torch import nn

from model import CheckpointError, create_model
from streaming import ConversionOptions, Matter, make_matter


class Models:
    """Named models: one per checkpoint (named by its file), else the published weights of each variant.

    Args:
        checkpoints: state_dict files; `variants` then names the encoder they must hold (one at most).
        variants: without checkpoints, the encoders whose published weights to offer (default mobilenetv3).
        options: the server's conversion options (device, dtype, bfloat16...), which every job's and
            every webcam session's record starts from.
    """

    def __init__(self, checkpoints: Sequence[str] = (), variants: Sequence[str] = (),
                 options: ConversionOptions = ConversionOptions()):
        if checkpoints and len(variants) > 1:
            raise CheckpointError(f'--variant {" --variant ".join(variants)}: with --checkpoint, give the one encoder '
                                  f'the checkpoints hold (or none: it is read from them)')
        self.sources: Dict[str, dict] = {}
        for path in checkpoints:
            self.sources[os.path.basename(path)] = {'checkpoint': path, 'variant': next(iter(variants), None)}
        for variant in [] if checkpoints else (variants or ['mobilenetv3']):
            self.sources[f'{variant} (published)'] = {'variant': variant, 'pretrained': True}
        self.options = options
        self.lock = threading.Lock()  # one conversion or webcam frame at a time on the hardware
        self._prepared: Dict[str, nn.Module] = {}
        self._building = threading.Lock()

    @property
    def names(self) -> List[str]:
        return list(self.sources)

    @property
    def device(self) -> torch.device:
        """Where the networks run (as `Placement.choose` decided for the first model)."""
        return self.matter(self.names[0]).placement.device

    def matter(self, name: str, options: Optional[ConversionOptions] = None) -> Matter:
        """A fresh Matter (no recurrent state) on model `name` for a conversion with `options` (default
        the server's); the model is built and prepared on first use."""
        if name not in self.sources:
            raise KeyError(f'no model {name!r}; the server offers {", ".join(self.sources)}')
        options = options or self.options
        with self._building:
            if name not in self._prepared:
                self._prepared[name] = make_matter(create_model(**self.sources[name]), options).model
        return make_matter(self._prepared[name], options)

    def load_all(self) -> None:
        """Build every model now (at start-up: a bad checkpoint fails before the server listens)."""
        for name in self.sources:
            self.matter(name)
