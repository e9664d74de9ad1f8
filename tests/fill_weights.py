# Copied from ../shared/reference/fill_weights.py: the rule that fills a state_dict for the parity fixtures.
"""Deterministic weights for parity tests of MattingNetwork.

fill_state_dict(state_dict) overwrites every floating tensor of a state_dict
with values that depend only on the tensor's key and shape, so that two
implementations with the same keys get the same weights without sharing a
checkpoint file. It uses numpy's legacy RandomState, whose streams are stable
across numpy releases.

    from fill_weights import fill_state_dict
    model.load_state_dict(fill_state_dict(model.state_dict()))
"""
import zlib

import numpy as np
import torch


def _rng(key: str) -> np.random.RandomState:
    return np.random.RandomState(zlib.crc32(key.encode()) & 0x7FFFFFFF)


def fill_tensor(key: str, shape) -> np.ndarray:
    rng = _rng(key)
    shape = tuple(shape)
    leaf = key.rsplit('.', 1)[-1]
    if leaf == 'running_var':
        return rng.uniform(0.5, 1.5, size=shape)
    if leaf == 'running_mean':
        return rng.standard_normal(shape) * 0.1
    if len(shape) <= 1:
        # biases and batch-norm affine parameters
        if leaf == 'weight':
            return 1.0 + rng.standard_normal(shape) * 0.1
        return rng.standard_normal(shape) * 0.1
    fan_in = int(np.prod(shape[1:]))
    return rng.standard_normal(shape) * (1.0 / np.sqrt(fan_in))


def fill_state_dict(state_dict):
    out = {}
    for key in sorted(state_dict):
        value = state_dict[key]
        if torch.is_floating_point(value):
            data = fill_tensor(key, value.shape)
            out[key] = torch.from_numpy(np.asarray(data, dtype=np.float32)).reshape(value.shape)
        else:
            out[key] = value.clone()
    return out
