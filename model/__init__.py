"""Robust Video Matting: the network and its checkpoint loader."""
from .checkpoint import detect_variant, load_checkpoint, load_matting_network
from .model import REFINERS, VARIANTS, MattingNetwork

__all__ = ['MattingNetwork', 'VARIANTS', 'REFINERS', 'detect_variant', 'load_checkpoint', 'load_matting_network']
