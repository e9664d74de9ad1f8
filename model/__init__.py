"""Robust Video Matting: the network, the one function that builds it, and its checkpoint loader."""
from .checkpoint import CheckpointError, detect_variant, load_checkpoint, load_matting_network
from .factory import create_model
from .model import REFINERS, VARIANTS, MattingNetwork

__all__ = ['MattingNetwork', 'VARIANTS', 'REFINERS', 'create_model', 'CheckpointError', 'detect_variant',
           'load_checkpoint', 'load_matting_network']
