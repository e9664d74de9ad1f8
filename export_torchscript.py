"""Export RVM as a TorchScript file, for C++ (libtorch) and other programs without this repository.

    python export_torchscript.py --model-variant mobilenetv3 --checkpoint rvm_mobilenetv3.pth \\
        --precision float16 --output rvm_mobilenetv3_fp16.torchscript

The file holds the scripted `MattingNetwork` (weights on the CPU, in the chosen precision) with its
full forward: `model(src, r1, r2, r3, r4, downsample_ratio)` for `[B, 3, H, W]` frames or
`[B, T, 3, H, W]` chunks, states None at the start. Load it with `torch.jit.load(path,
map_location=device)`; `torch.jit.freeze(model)` (after moving it) folds batch norm and constants
for faster inference. float16 files are meant for CUDA. Without a checkpoint, the published
weights are downloaded through torch.hub's cache.
"""

import torch

from model import MattingNetwork
from model.factory import model_argument_parser, model_from_arguments


def export_torchscript(model: MattingNetwork, output: str, dtype: torch.dtype = torch.float32) -> torch.jit.ScriptModule:
    """Script `model` in `dtype` on the CPU, save it to `output` and return it."""
    scripted = torch.jit.script(model.eval().to(device='cpu', dtype=dtype))
    scripted.save(output)
    return scripted


def main(argv=None):
    parser = model_argument_parser(__doc__, device=False)
    parser.add_argument('--output', required=True, help='the .torchscript file to write')
    args = parser.parse_args(argv)

    model = model_from_arguments(args)
    export_torchscript(model, args.output, getattr(torch, args.precision))
    print(f'wrote {args.output} ({args.precision})')


if __name__ == '__main__':
    main()
