"""Output quality and size: the composition encoded at each setting, against a lossless encode of it.

    python benchmarks/benchmark_output_quality.py                 # 720p and 1080p, two kinds of content
    python benchmarks/benchmark_output_quality.py --sizes 1280x720 --frames 30

For each size and content, the reference is a lossless FFV1 composition: for 'real' content
`convert_video`'s (over the default green), for 'synthetic' content the frames themselves (a
composition that is foreground everywhere: the synthetic figure is no person to matte). It is
re-encoded by `VideoWriter` with each setting (as convert_video
would have written it) and decoded back. Printed per setting: PSNR (RGB, dB) and SSIM (luma,
11x11 Gaussian) against the reference, the bit rate, and the encoding speed (one encoder, its
default threads). Content: 'synthetic' is `benchmark_conversion.make_clip` (a drifting gradient,
a moving figure, fixed grain: hard to compress), 'real' a clip of people from ../shared/real
upscaled bicubically (smooth: easy), matted with the real weights there when present.
"""
import argparse
import os
import sys
import tempfile
import time
from fractions import Fraction
from typing import Dict, List, Optional, Tuple

import av
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmark_conversion import make_clip  # noqa: E402
from inference import convert_video  # noqa: E402
from model import create_model  # noqa: E402
from streaming.writers import VideoWriter  # noqa: E402

REAL = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared', 'real')
RATE = Fraction(30000, 1001)
# (name, VideoWriter keywords, extension); without quality or bit_rate: the codec's default.
SETTINGS = [
    ('h264 1 Mbps (the original default)', {'codec': 'h264', 'bit_rate': 1_000_000}, '.mp4'),
    ('h264 4 Mbps', {'codec': 'h264', 'bit_rate': 4_000_000}, '.mp4'),
    ('h264 CRF 23', {'codec': 'h264', 'quality': 23}, '.mp4'),
    ('h264 CRF 18 (default)', {'codec': 'h264'}, '.mp4'),
    ('h264 CRF 14', {'codec': 'h264', 'quality': 14}, '.mp4'),
    ('h265 CRF 20', {'codec': 'h265', 'quality': 20}, '.mp4'),
    ('h265 CRF 17 (default)', {'codec': 'h265'}, '.mp4'),
    ('av1 CRF 30', {'codec': 'av1', 'quality': 30}, '.mp4'),
    ('av1 CRF 24', {'codec': 'av1', 'quality': 24}, '.mp4'),
    ('av1 CRF 20 (default)', {'codec': 'av1'}, '.mp4'),
    ('vp9 CRF 31', {'codec': 'vp9', 'quality': 31}, '.webm'),
    ('vp9 CRF 25', {'codec': 'vp9', 'quality': 25}, '.webm'),
    ('vp9 CRF 20 (default)', {'codec': 'vp9'}, '.webm'),
    ('prores 422 HQ', {'codec': 'prores'}, '.mov'),
]


def real_clip(path: str, size: Tuple[int, int], frames: int) -> None:
    """Clip `tile0` of ../shared/real, looped to `frames` and upscaled (bicubic) to `size`, as lossless H.264."""
    tile = torch.from_numpy(np.load(os.path.join(REAL, 'clips.npz'))['tile0']).permute(0, 3, 1, 2).float()
    with av.open(path, 'w') as container:
        stream = container.add_stream('libx264rgb', rate=RATE)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], 'rgb24'
        stream.options = {'crf': '0', 'preset': 'ultrafast'}
        for i in range(frames):
            image = F.interpolate(tile[i % len(tile)][None], size=(size[1], size[0]), mode='bicubic', align_corners=False)
            frame = av.VideoFrame.from_ndarray(image[0].clamp(0, 255).round().byte().permute(1, 2, 0).numpy(), 'rgb24')
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def decode(path: str) -> List[np.ndarray]:
    with av.open(path) as container:
        return [frame.to_ndarray(format='rgb24') for frame in container.decode(video=0)]


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean SSIM of the BT.709 luma of `[T, H, W, 3]` uint8 frames (Wang et al. 2004: 11x11 Gaussian, sigma 1.5)."""
    weights = torch.tensor([0.2126, 0.7152, 0.0722])
    x, y = ((frames.float() @ weights)[:, None] for frames in (a, b))
    g = torch.exp(-(torch.arange(11) - 5.0) ** 2 / (2 * 1.5 ** 2))
    window = (g[:, None] * g[None]) / g.sum() ** 2
    blur = lambda z: F.conv2d(z, window[None, None])  # noqa: E731
    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    return float(((2 * mx * my + c1) * (2 * cov + c2) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))).mean())


def measure(reference: List[np.ndarray], path: str, keywords: Dict) -> Tuple[float, float, float, float]:
    """Encode `reference` with `keywords`: `(PSNR dB, SSIM, Mbps, encoded fps)`."""
    frames = torch.from_numpy(np.stack(reference)).permute(0, 3, 1, 2).float().div(255)
    start = time.perf_counter()
    writer = VideoWriter(path, RATE, **keywords)
    for i in range(0, len(frames), 8):
        writer.write(frames[i:i + 8])
    writer.close()
    fps = len(frames) / (time.perf_counter() - start)
    decoded = torch.from_numpy(np.stack(decode(path)))
    truth = torch.from_numpy(np.stack(reference))
    mse = (decoded.float() - truth.float()).pow(2).mean()
    mbps = os.path.getsize(path) * 8 / (len(frames) / RATE) / 1e6
    similarity = float(np.mean([ssim(decoded[i:i + 1], truth[i:i + 1]) for i in range(len(truth))]))  # memory: a frame at a time
    return float(10 * torch.log10(255 ** 2 / mse)), similarity, float(mbps), fps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', nargs='+', default=['1280x720', '1920x1080'])
    parser.add_argument('--frames', type=int, default=60)
    parser.add_argument('--settings', nargs='+', help='only the settings whose names start with one of these')
    parser.add_argument('--contents', nargs='+', default=['synthetic', 'real'], choices=('synthetic', 'real'))
    parser.add_argument('--checkpoint', default=os.path.join(REAL, 'rvm_mobilenetv3_real_fgf.pth'),
                        help='weights that matte the composition (default: the real ones in ../shared/real)')
    args = parser.parse_args()
    checkpoint: Optional[str] = args.checkpoint if os.path.isfile(args.checkpoint) else None
    model = create_model('mobilenetv3', checkpoint=checkpoint, refiner='fast_guided_filter')
    print(f'weights: {checkpoint or "random"}; load average before: {os.getloadavg()}')
    with tempfile.TemporaryDirectory() as tmp:
        for size in [tuple(int(v) for v in s.split('x')) for s in args.sizes]:
            for content in args.contents:
                source = os.path.join(tmp, f'{content}.mkv')
                make_clip(source, args.frames, size) if content == 'synthetic' else real_clip(source, size, args.frames)
                lossless = os.path.join(tmp, 'lossless.mkv')
                if content == 'real':
                    convert_video(model, source, output_composition=lossless, video_codec='ffv1', progress=False)
                else:
                    measure(decode(source), lossless, {'codec': 'ffv1'})
                reference = decode(lossless)
                print(f'\n{size[0]}x{size[1]} {content}, {len(reference)} frames; lossless FFV1 '
                      f'{os.path.getsize(lossless) * 8 / (len(reference) / RATE) / 1e6:.1f} Mbps')
                for name, keywords, ext in SETTINGS:
                    if args.settings and not any(name.startswith(prefix) for prefix in args.settings):
                        continue
                    psnr, similarity, mbps, fps = measure(reference, os.path.join(tmp, 'out' + ext), keywords)
                    print(f'| {name} | {psnr:.1f} dB | {similarity:.4f} | {mbps:.2f} Mbps | {fps:.0f} fps |', flush=True)
    print(f'load average after: {os.getloadavg()}')


if __name__ == '__main__':
    main()
