"""How well the people chosen are kept, on real footage and the real weights (documentation/selection.md).

    python benchmarks/measure_selection_quality.py [--real ../shared/real] [--stills documentation/images]
        [--clips pair slide tile0]

Three clips built from ../shared/real, upscaled x4 (bicubic) and written as PNG frames (no codec
between the frames and the measure):

    pair   tile1 and tile4 side by side: two people apart (1264x360)
    slide  the same, tile4 sliding out to the right over frames 10-21, gone 22-35, back 36-47: a
           passer-by who leaves and returns
    tile0  two people who touch (in every frame: their mattes are one region throughout)

Each is converted by `convert_video` without a selection, then with `keep` on one person (a point at
the centre of their matte's core) on frame 0 and, separately, on frame 30; for `slide` on frame 30
the right person is out of the frame, so its right-hand row drops the left one instead. Over every
frame, inside each person's region (the tile's area; for tile0, the columns on each side of the dip
between the two heads on the matte's outline), the kept person's alpha must equal the unselected
conversion's (mean absolute difference at most 1/255) and the other's alpha must sum to at most 1%
of theirs. With `--stills`, PNGs of the composition without and with a selection.
"""
import argparse
import os
import sys
import tempfile
import warnings
from typing import Dict, List, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from model import create_model  # noqa: E402
from streaming import convert_video  # noqa: E402

TILE = 158 * 4           # px: where the right-hand tile starts in pair and slide
RATIO = 0.5              # as the clips' README advises for x4 clips
BACKGROUND = (120, 255, 155)
CLIPS = ['pair', 'slide', 'tile0']
STILLS = {'slide': (5, 44), 'tile0': (20,)}  # the frames shown in documentation/selection.md


def slide_offset(t: int) -> int:
    """How far (px, before upscaling) the right-hand tile of `slide` has moved out on frame `t`."""
    if t < 10 or t >= 48:
        return 0
    if t < 22:
        return round((t - 9) / 12 * 158)
    if t < 36:
        return 158
    return round((48 - t) / 12 * 158)


def upscale(frames: np.ndarray, scale: int = 4) -> np.ndarray:
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, scale_factor=scale, mode='bicubic', align_corners=False)
    return x.clamp(0, 255).round().byte().permute(0, 2, 3, 1).numpy()


def build(real: str) -> Dict[str, np.ndarray]:
    tiles = np.load(os.path.join(real, 'clips.npz'))
    left, right = tiles['tile1'][:, :90, :158], tiles['tile4'][:, :90, :158]
    pair = np.concatenate([left, right], axis=2)
    slide = pair.copy()
    for t, frame in enumerate(slide):
        shift = slide_offset(t)
        frame[:, 158:] = 200  # a light wall where the tile has gone
        frame[:, 158 + shift:] = right[t, :, :158 - shift]
    return {'pair': upscale(pair), 'slide': upscale(slide), 'tile0': upscale(tiles['tile0'])}


def valley(alpha: np.ndarray) -> int:
    """The column of the deepest dip of the matte's (0..1) top outline between its two highest peaks (the heads)."""
    core = alpha >= 0.5
    top = np.where(core.any(0), core.argmax(0), core.shape[0]).astype(float)
    top = np.convolve(np.pad(top, 10, mode='edge'), np.ones(21) / 21, mode='valid')
    half = len(top) // 2
    left, right = top[:half].argmin(), half + top[half:].argmin()
    return int(left + top[left:right + 1].argmax())


def regions(name: str, t: int, alpha: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The left and the right person's regions on frame `t` (masks `[H, W]`)."""
    columns = np.arange(alpha.shape[1])[None].repeat(alpha.shape[0], 0)
    if name == 'pair':
        return columns < TILE, columns >= TILE
    if name == 'slide':
        return columns < TILE, columns >= TILE + 4 * slide_offset(t)
    split = valley(alpha)
    return columns < split, columns >= split


def write_frames(folder: str, frames: np.ndarray) -> None:
    os.makedirs(folder)
    for t, frame in enumerate(frames):
        Image.fromarray(frame).save(os.path.join(folder, f'{t:04d}.png'))


def read_frames(folder: str) -> np.ndarray:
    return np.stack([np.asarray(Image.open(os.path.join(folder, name))) for name in sorted(os.listdir(folder))
                     if name.endswith('.png')])


def convert(model, source: str, out: str, **selection) -> Tuple[np.ndarray, np.ndarray, List[str]]:
    """The alpha (0..1) and composition of `source`, and the frame ranges of the selection's warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        convert_video(model, source, downsample_ratio=RATIO, output_alpha=out + '_pha',
                      output_composition=out + '_com', background=BACKGROUND, progress=False, **selection)
    notes = [str(w.message).split(': ', 2)[1] for w in caught if 'one region' in str(w.message)]  # 'frames A-B'
    return read_frames(out + '_pha').astype(np.float64) / 255, read_frames(out + '_com'), notes


def centre(alpha: np.ndarray, region: np.ndarray) -> Tuple[int, int]:
    ys, xs = np.nonzero((alpha >= 0.5) & region)
    return int(xs.mean()), int(ys.mean())


def score(name: str, plain: np.ndarray, chosen: np.ndarray, kept: str) -> List[Tuple[float, float]]:
    """Per frame: the kept person's mean |difference| (1/255 units) and the other's alpha share (%)."""
    rows = []
    for t in range(len(plain)):
        left, right = regions(name, t, plain[t])
        mine, other = (left, right) if kept == 'left' else (right, left)
        difference = np.abs(chosen[t] - plain[t])[mine].mean() * 255 if mine.any() else 0.0
        total = plain[t][other].sum()
        rows.append((difference, 100 * chosen[t][other].sum() / total if total > 0 else 0.0))
    return rows


def frames_of(rows, bad) -> str:
    """Frame ranges where `bad(row)`, as '3-7, 12'."""
    frames = [t for t, row in enumerate(rows) if bad(row)]
    ranges: List[List[int]] = []
    for t in frames:
        if ranges and t == ranges[-1][1] + 1:
            ranges[-1][1] = t
        else:
            ranges.append([t, t])
    return ', '.join(f'{a}-{b}' if a != b else f'{a}' for a, b in ranges) or 'none'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--real', default=os.path.join(os.path.dirname(__file__), '..', '..', 'shared', 'real'))
    parser.add_argument('--stills', help='a folder for the PNG stills (documentation/images)')
    parser.add_argument('--threads', type=int, default=torch.get_num_threads())
    parser.add_argument('--clips', nargs='+', choices=CLIPS, default=CLIPS, help='only these clips (rows)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = create_model(checkpoint=os.path.join(args.real, 'rvm_mobilenetv3_real_fgf.pth'))
    scratch = tempfile.TemporaryDirectory(prefix='selection-quality-')  # removed at the end
    work = scratch.name
    print('| clip | selection | kept person: worst mean diff (1/255) | other person: worst alpha share | '
          'result | frames over the bounds | warning |')
    print('| --- | --- | ---: | ---: | --- | --- | --- |')
    for name, frames in build(args.real).items():
        if name not in args.clips:
            continue
        stills = {}
        source = os.path.join(work, name)
        write_frames(source, frames)
        plain, plain_com, _ = convert(model, source, os.path.join(work, name + '_plain'))
        for at in (0, 30):
            for side in ('left', 'right'):
                left, right = regions(name, at, plain[at])
                if name == 'slide' and at == 30 and side == 'right':  # the right person is out of the frame
                    x, y = centre(plain[at], left)
                    option, label = 'drop', f'drop left {x},{y}@{at}'
                else:
                    x, y = centre(plain[at], left if side == 'left' else right)
                    option, label = 'keep', f'keep {side} {x},{y}@{at}'
                out = os.path.join(work, f'{name}_{option}_{side}_{at}')
                chosen, com, notes = convert(model, source, out, **{option: [f'{x},{y}@{at}']})
                rows = score(name, plain, chosen, side)
                worst = max(r[0] for r in rows), max(r[1] for r in rows)
                over = frames_of(rows, lambda r: r[0] > 1 or r[1] > 1)
                result = 'pass' if over == 'none' else 'touching: see frames' if name == 'tile0' else 'FAIL'
                print(f'| {name} | {label} | {worst[0]:.2f} | {worst[1]:.2f}% | {result} | {over} | '
                      f'{"; ".join(notes) or "-"} |', flush=True)
                stills[(option, side, at)] = com[list(STILLS.get(name, ()))]
        if args.stills and name in STILLS:
            stills['plain'] = plain_com[list(STILLS[name])]
            save_still(name, stills, args.stills)


def save_still(name: str, stills: Dict, folder: str) -> None:
    """`selection_{name}.png`, without and with a selection on frames `STILLS[name]`: slide (top, bottom:
    the passer-by dropped, frames 5 and 44), tile0 (each person kept in turn, frame 20); 256-colour
    PNGs small enough to check in."""
    if name == 'slide':
        rows = [np.concatenate(list(stills[key]), axis=1) for key in ('plain', ('keep', 'left', 0))]
    else:
        rows = [np.concatenate([stills[key][0] for key in ('plain', ('keep', 'left', 0), ('keep', 'right', 0))], axis=1)]
    image = Image.fromarray(np.concatenate(rows, axis=0))
    image = image.resize((image.width // 2, image.height // 2), Image.Resampling.LANCZOS)
    image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        os.path.join(folder, f'selection_{name}.png'), optimize=True)


if __name__ == '__main__':
    main()
