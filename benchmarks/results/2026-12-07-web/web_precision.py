"""The page's three weight files against PyTorch in ONNX Runtime (CPU): alpha and foreground errors on
8 chained frames of tile0, tile4 and tile5 of ../shared/real upscaled x2 (320x180), ratio 0.5 (or RATIO).

    .venv/bin/python benchmarks/results/2026-12-07-web/web_precision.py PAGE_FOLDER [RATIO]
"""
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
from model import create_model  # noqa: E402

REAL = ROOT.parent / 'shared' / 'real'
FRAMES, TILES = 8, ['tile0', 'tile4', 'tile5']


def clip(name):
    tile = np.load(REAL / 'clips.npz')[name][:FRAMES]
    size = (tile.shape[2] * 2, tile.shape[1] * 2)
    return np.stack([np.asarray(Image.fromarray(f).resize(size, Image.Resampling.BICUBIC)) for f in tile])


def main(folder, ratio):
    folder = Path(folder)
    entry = json.loads((folder / 'models.json').read_text())['models'][0]
    model = create_model(checkpoint=str(REAL / 'rvm_mobilenetv3_real_fgf.pth'))
    clips = {name: clip(name) for name in TILES}
    expected = {}
    with torch.no_grad():
        for name, frames in clips.items():
            rec, out = [None] * 4, []
            for frame in frames:
                src = torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255
                fgr, pha, *rec = model(src, *rec, downsample_ratio=ratio)
                out.append((fgr[0].numpy(), pha[0, 0].numpy()))
            expected[name] = out
    print(f'ratio {ratio:g}')
    print(f'{"weights":8s} {"MB":>6s} {"max alpha":>10s} {"mean alpha":>11s} {"> 0.05":>7s} {"max fgr":>8s}')
    for precision, weights in entry['weights'].items():
        session = ort.InferenceSession(str(folder / weights['file']), providers=['CPUExecutionProvider'])
        pha_err, fgr_err = [], []
        for name, frames in clips.items():
            rec = [np.zeros([1, 1, 1, 1], np.float32)] * 4
            for frame, (fgr_ref, pha_ref) in zip(frames, expected[name]):
                src = (frame.transpose(2, 0, 1)[None] / np.float32(255)).astype(np.float32)
                fgr, pha, *rec = session.run(None, {'src': src, 'downsample_ratio': np.array([ratio], np.float32),
                                                    **{f'r{i}i': r for i, r in enumerate(rec, 1)}})
                pha_err.append(np.abs(pha[0, 0] - pha_ref).ravel())
                fgr_err.append(np.abs(fgr[0] - fgr_ref).max())
        pha_err = np.concatenate(pha_err)
        print(f'{precision:8s} {weights["bytes"] / 1e6:6.2f} {pha_err.max():10.2g} {pha_err.mean():11.2g} '
              f'{(pha_err > 0.05).mean():7.2%} {max(fgr_err):8.2g}')


if __name__ == '__main__':
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 0.5)
