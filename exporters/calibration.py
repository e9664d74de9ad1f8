"""Calibration data for 8-bit quantization: real frames of people, chained over time, so that the
recurrent states are calibrated as they occur in a video.

    feeds = calibration_feeds('rvm_fp32.onnx')     # dicts of the ONNX graph's inputs, in order

The frames are the four portrait clips of ../shared/real (shipped in `calibration_clips.npz`, 24
frames each, 50x91), upscaled x4 and run at ratios 0.5 and 1: every landscape clip of
../shared/real stays held out for the quality table (documentation/inference.md, "8-bit").
Each clip runs through the float32 graph in ONNX Runtime from zero states, and each frame's feed
carries the states the previous frame left: what a quantized network meets in a video.
"""
import hashlib
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np

CLIPS = Path(__file__).resolve().parent / 'calibration_clips.npz'
RATIOS = (0.5, 1.0)
UPSCALE = 4
FRAMES = 24  # of each clip, at each ratio

Feed = Dict[str, np.ndarray]


def calibration_frames(clips: Sequence[np.ndarray], upscale: int = UPSCALE) -> List[np.ndarray]:
    """`[T, H, W, 3]` uint8 clips as `[T, 1, 3, H * upscale, W * upscale]` float32 in 0..1 (bicubic)."""
    import torch
    from torch.nn import functional as F
    result = []
    for clip in clips:
        frames = torch.from_numpy(np.asarray(clip)).permute(0, 3, 1, 2).float()
        frames = F.interpolate(frames, scale_factor=upscale, mode='bicubic', align_corners=False)
        result.append((frames.clamp(0, 255).round() / 255).unsqueeze(1).numpy())
    return result


def shipped_clips(frames: Optional[int] = None) -> List[np.ndarray]:
    """The calibration clips shipped beside this module (`[T, H, W, 3]` uint8), their first `frames` (`FRAMES`)."""
    frames = frames or FRAMES
    with np.load(CLIPS) as clips:
        return [clips[name][:frames] for name in sorted(clips.files)]


def chained_feeds(float_onnx: str, clips: Sequence[np.ndarray], ratios: Sequence[float] = RATIOS,
                  threads: int = 0) -> Iterator[Feed]:
    """The inputs of every frame of `clips` (`[T, 1, 3, H, W]` float32) at each ratio, with the states
    that the float32 graph `float_onnx` left from the frame before (zeros on each clip's first)."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(float_onnx, options, providers=['CPUExecutionProvider'])
    for clip in clips:
        for ratio in ratios:
            states = [np.zeros([1, 1, 1, 1], np.float32)] * 4
            for src in clip:
                feed = {'src': src, **{f'r{i}i': s for i, s in enumerate(states, 1)},
                        'downsample_ratio': np.array([ratio], np.float32)}
                yield feed
                _, _, *states = session.run(None, feed)


def calibration_feeds(float_onnx: str, frames: Optional[int] = None, threads: int = 0) -> List[Feed]:
    """`chained_feeds` of the shipped clips (their first `frames`) at `RATIOS`."""
    return list(chained_feeds(float_onnx, calibration_frames(shipped_clips(frames)), RATIOS, threads))


def data_sha256(frames: Optional[int] = None) -> str:
    """A hash of what `calibration_feeds(frames=frames)` calibrates on (the clips, the ratios, the upscaling)."""
    frames = frames or FRAMES
    digest = hashlib.sha256(repr((RATIOS, UPSCALE, frames)).encode())
    for clip in shipped_clips(frames):
        digest.update(clip.tobytes())
    return digest.hexdigest()
