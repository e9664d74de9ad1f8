"""Time folding: the one place where RVM deals with `[B, T, C, H, W]` input.

Every layer of RVM except the ConvGRU treats the frames of a chunk independently, so
`MattingNetwork` folds time into the batch once at its entrance (`[B, T, C, H, W]` ->
`[B*T, C, H, W]`), runs all modules on rank-4 tensors, and unfolds the outputs at its
exit. Only `ConvGRU` needs to see time; it unfolds its input with the same helpers.
"""
from typing import Tuple

from torch import Tensor


def fold_time(x: Tensor) -> Tuple[Tensor, int]:
    """`[B, T, C, H, W]` -> (`[B*T, C, H, W]`, T); `[B, C, H, W]` -> (x, 0).

    The returned T is 0 for rank-4 input, so that `unfold_time` can restore the
    caller's rank exactly.
    """
    if x.dim() == 5:
        return x.flatten(0, 1), x.size(1)
    if x.dim() != 4:
        raise ValueError(f'expected a [B, C, H, W] or [B, T, C, H, W] tensor, got shape {list(x.shape)}')
    return x, 0


def unfold_time(x: Tensor, time_steps: int) -> Tensor:
    """Inverse of `fold_time`: `[B*T, ...]` -> `[B, T, ...]`, or x unchanged when T == 0."""
    if time_steps == 0:
        return x
    return x.unflatten(0, (x.size(0) // time_steps, time_steps))
