"""RVM checkpoints: the one loader that inference, torch.hub, export and training share, and the
atomic writer of training's checkpoints and resume state.

A checkpoint is a plain `state_dict` of `MattingNetwork` (the published `rvm_mobilenetv3.pth` and
`rvm_resnet50.pth`, and every `epoch-N.pth` that `train.py` writes). Its keys say which encoder
and refiner it was trained with, so callers never need to be told the variant.
"""
import os
import tempfile
import urllib.error
from typing import Dict, Mapping, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from .model import REFINERS, VARIANTS, MattingNetwork

PUBLISHED_URLS = {
    'mobilenetv3': 'https://github.com/PeterL1n/RobustVideoMatting/releases/download/v1.0.0/rvm_mobilenetv3.pth',
    'resnet50': 'https://github.com/PeterL1n/RobustVideoMatting/releases/download/v1.0.0/rvm_resnet50.pth',
}

# A key that only the given encoder / refiner has.
_VARIANT_KEYS = {'mobilenetv3': 'backbone.features.0.0.weight', 'resnet50': 'backbone.conv1.weight'}
_DEEP_GUIDED_FILTER_KEY = 'refiner.box_filter.weight'


class CheckpointError(ValueError):
    """A file or state_dict that cannot be loaded into the requested MattingNetwork."""


def detect_variant(state_dict: Mapping[str, Tensor], name: str = 'checkpoint') -> Tuple[str, str]:
    """Return `(variant, refiner)` of an RVM state_dict, or raise CheckpointError naming `name`."""
    found = [v for v, key in _VARIANT_KEYS.items() if key in state_dict]
    if len(found) != 1 or 'project_mat.conv.weight' not in state_dict:
        raise CheckpointError(f'{name} is not an RVM checkpoint (a MattingNetwork state_dict was expected; '
                              f'it has {len(state_dict)} entries, e.g. {list(state_dict)[:3]})')
    refiner = 'deep_guided_filter' if _DEEP_GUIDED_FILTER_KEY in state_dict else 'fast_guided_filter'
    return found[0], refiner


def load_checkpoint(path: Union[str, os.PathLike], map_location: Union[str, torch.device] = 'cpu') -> Dict[str, Tensor]:
    """Read a state_dict from `path` (weights only, no code execution), with a one-line error for a bad file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f'checkpoint {path} does not exist')
    try:
        state_dict = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise CheckpointError(f'{path} is not a PyTorch checkpoint ({type(e).__name__}: {str(e).splitlines()[0]})') from e
    if not isinstance(state_dict, Mapping) or not all(isinstance(v, Tensor) for v in state_dict.values()):
        raise CheckpointError(f'{path} is not an RVM checkpoint (it holds a {type(state_dict).__name__}, not a state_dict)')
    return dict(state_dict)


def published_state_dict(variant: str, progress: bool = True) -> Dict[str, Tensor]:
    """Fetch the published weights for `variant` once into torch.hub's cache and return them.

    Offline, fails at once with a message naming the URL and how to pass a local file instead.
    """
    if variant not in PUBLISHED_URLS:
        raise CheckpointError(f'no published weights for variant {variant!r}: expected one of {VARIANTS}')
    url = PUBLISHED_URLS[variant]
    try:
        return torch.hub.load_state_dict_from_url(url, map_location='cpu', progress=progress, weights_only=True)
    except (urllib.error.URLError, OSError) as e:
        cache = os.path.join(torch.hub.get_dir(), 'checkpoints')
        raise CheckpointError(f'could not download the published {variant} weights from {url} ({e}); '
                              f'download the file yourself and pass it with --checkpoint (or place it in {cache})') from e


def load_matting_network(checkpoint: Union[str, os.PathLike, Mapping[str, Tensor]],
                         variant: Optional[str] = None, refiner: Optional[str] = None) -> MattingNetwork:
    """Build the MattingNetwork a checkpoint belongs to and load it strictly.

    Args:
        checkpoint: a path, or an already loaded state_dict.
        variant: the expected encoder; None takes it from the checkpoint. A mismatch is an error.
        refiner: None takes it from the checkpoint. A deep-guided-filter checkpoint may be run with
            'fast_guided_filter' (its refiner weights are then unused); the reverse is an error.

    Returns the network on the CPU in eval mode.
    """
    if isinstance(checkpoint, Mapping):
        name, state_dict = 'state_dict', dict(checkpoint)
    else:
        name, state_dict = os.fspath(checkpoint), load_checkpoint(checkpoint)
    found_variant, found_refiner = detect_variant(state_dict, name)
    if variant is not None and variant != found_variant:
        raise CheckpointError(f'{name} is a {found_variant} checkpoint, but variant {variant!r} was asked for')
    refiner = refiner or found_refiner
    if refiner not in REFINERS:
        raise CheckpointError(f'unknown refiner {refiner!r}: expected one of {REFINERS}')
    if refiner == 'deep_guided_filter' and found_refiner != refiner:
        raise CheckpointError(f'{name} has no deep guided filter weights; use refiner="fast_guided_filter"')
    if refiner == 'fast_guided_filter':
        state_dict = {k: v for k, v in state_dict.items() if not k.startswith('refiner.')}

    model = MattingNetwork(found_variant, refiner)
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    if missing or unexpected:
        raise CheckpointError(f'{name} does not match MattingNetwork({found_variant!r}, {refiner!r}): '
                              f'{len(missing)} missing keys (e.g. {missing[:3]}), '
                              f'{len(unexpected)} unexpected keys (e.g. {unexpected[:3]})')
    return model.eval()


def atomic_save(obj, path: str) -> None:
    """torch.save to a temporary file in the same directory, fsync, then rename over `path`.

    A crash at any moment leaves either the old file or the new one, never a partial file.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f'.{os.path.basename(path)}.', suffix='.tmp')
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)     # mkstemp creates 0600; give the file the usual permissions
        with os.fdopen(fd, 'wb') as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_resume_state(path: str, model: nn.Module, optimizer: torch.optim.Optimizer,
                      scaler: torch.amp.GradScaler, epoch: int, step: int) -> None:
    """Everything `train.py --resume` needs to continue with step `step` of epoch `epoch`."""
    atomic_save({'model': model.state_dict(), 'optimizer': optimizer.state_dict(), 'scaler': scaler.state_dict(),
                 'epoch': epoch, 'step': step}, path)


def load_resume_state(path: str, model: nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                      device: torch.device) -> Tuple[int, int]:
    """Restore what `save_resume_state` wrote; returns `(epoch, step)`."""
    if not os.path.isfile(path):
        raise CheckpointError(f'--resume: {path} does not exist (it is written every --checkpoint-save-interval steps)')
    state = torch.load(path, map_location=device, weights_only=True)
    model.load_state_dict(state['model'])
    optimizer.load_state_dict(state['optimizer'])
    scaler.load_state_dict(state['scaler'])
    return state['epoch'], state['step']
