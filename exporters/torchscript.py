"""Export RVM as a TorchScript file, for C++ (libtorch) and other programs without this repository.

    python export.py --format torchscript --checkpoint rvm_mobilenetv3.pth --precision float16 \\
        --output rvm_mobilenetv3_fp16.torchscript

The file holds the scripted `MattingNetwork` (weights on the CPU, in the chosen precision) with its
full forward: `model(src, r1, r2, r3, r4, downsample_ratio)` for `[B, 3, H, W]` frames or
`[B, T, 3, H, W]` chunks, states None at the start. Load it with `torch.jit.load(path,
map_location=device)`; `torch.jit.freeze(model)` (after moving it) folds batch norm and constants
for faster inference. float16 files are meant for CUDA.
"""
import torch

from model import MattingNetwork


def export_torchscript(model: MattingNetwork, output: str, dtype: torch.dtype = torch.float32) -> torch.jit.ScriptModule:
    """Script `model` in `dtype` on the CPU, save it to `output` and return it."""
    scripted = torch.jit.script(model.eval().to(device='cpu', dtype=dtype))
    scripted.save(output)
    return scripted
