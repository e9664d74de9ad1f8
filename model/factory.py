"""One way to build a MattingNetwork, as timm's `create_model`: published weights, a checkpoint, or fresh.

    model = create_model('mobilenetv3', pretrained=True)          # the published rvm_mobilenetv3.pth
    model = create_model(checkpoint='epoch-27.pth')                # variant and refiner read from the keys
    model = create_model('resnet50', pretrained_backbone=True)     # fresh, ImageNet encoder (training)

inference.py, hubconf.py, train.py, the export scripts, the speed test and the benchmarks all
build their model here; `add_model_arguments` / `model_from_arguments` are the command-line form.
"""
import argparse
import os
from typing import Mapping, Optional, Union

from torch import Tensor

from .checkpoint import CheckpointError, load_matting_network, published_state_dict
from .model import REFINERS, VARIANTS, MattingNetwork

Checkpoint = Union[str, os.PathLike, Mapping[str, Tensor]]


def create_model(variant: Optional[str] = None, pretrained: bool = False, checkpoint: Optional[Checkpoint] = None,
                 refiner: Optional[str] = None, pretrained_backbone: bool = False,
                 progress: bool = True) -> MattingNetwork:
    """Build a MattingNetwork, on the CPU in eval mode.

    Args:
        variant: 'mobilenetv3' or 'resnet50'. None: read from `checkpoint`, else 'mobilenetv3'.
            With a checkpoint of another variant, an error.
        pretrained: load the published weights of `variant` (fetched once into torch.hub's cache).
        checkpoint: a state_dict file or an already loaded state_dict (published, or from train.py).
        refiner: 'deep_guided_filter' or 'fast_guided_filter'. None: the checkpoint's, else deep.
        pretrained_backbone: for a fresh network, start the encoder from torchvision's ImageNet weights.
        progress: show a progress bar while downloading the published weights.
    """
    if pretrained and checkpoint is not None:
        raise CheckpointError('give pretrained=True (the published weights) or a checkpoint, not both')
    if pretrained:
        checkpoint = published_state_dict(variant or 'mobilenetv3', progress)
    if checkpoint is not None:
        return load_matting_network(checkpoint, variant, refiner)
    return MattingNetwork(variant or 'mobilenetv3', refiner or 'deep_guided_filter', pretrained_backbone).eval()


def add_model_arguments(parser: argparse.ArgumentParser, refiner: bool = True, random_weights: bool = False,
                        several: bool = False, device: bool = True) -> None:
    """The flags that choose a model and where it runs, with one meaning in every command-line tool:
    --variant (also spelt --model-variant, as the original export scripts did), --checkpoint,
    --refiner (--model-refiner; with `refiner`) and --device (with `device`).

    Without --checkpoint the published weights of --variant are used, or random ones when
    `random_weights` (the speed tests, whose timings do not depend on the weights). With `several`
    (the web app, which offers several models), --checkpoint and --variant may be repeated.
    """
    repeat = {'action': 'append', 'default': []} if several else {}
    parser.add_argument('--variant', '--model-variant', dest='model_variant', choices=VARIANTS, **repeat,
                        help='the encoder: of the published weights, or what --checkpoint must hold (default: read '
                             'from --checkpoint, else mobilenetv3)')
    if refiner:
        parser.add_argument('--refiner', '--model-refiner', dest='model_refiner', choices=REFINERS,
                            help="default: the checkpoint's refiner (deep_guided_filter for fresh weights)")
    default = 'random weights' if random_weights else "the published weights (downloaded once into torch.hub's cache)"
    parser.add_argument('--checkpoint', **repeat, help=f'a MattingNetwork state_dict (.pth); default: {default}')
    if device:
        parser.add_argument('--device', help='where the network runs: cpu, cuda, cuda:1...; default: cuda when '
                                             'available, else cpu')
    parser.set_defaults(random_weights=random_weights)


def model_argument_parser(doc: str, random_weights: bool = False, device: bool = True) -> argparse.ArgumentParser:
    """A parser described by `doc` (its first paragraph; the rest shown as usage) with the model
    flags of `add_model_arguments` and --precision float32|float16: the export scripts' and speed test's."""
    parser = argparse.ArgumentParser(description=doc.split('\n\n')[0], epilog=doc.split('\n\n', 1)[-1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(parser, random_weights=random_weights, device=device)
    parser.add_argument('--precision', choices=['float32', 'float16'], default='float32')
    return parser


def model_from_arguments(args: argparse.Namespace, progress: bool = True) -> MattingNetwork:
    """The MattingNetwork that `add_model_arguments`' flags describe, on the CPU in eval mode."""
    return create_model(args.model_variant, pretrained=args.checkpoint is None and not args.random_weights,
                        checkpoint=args.checkpoint, refiner=getattr(args, 'model_refiner', None), progress=progress)
