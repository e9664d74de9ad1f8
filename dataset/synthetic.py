"""A small synthetic training set in every layout `train_config.py` expects, made in seconds.

    python -m dataset.synthetic --out data/synthetic
    RVM_DATA_ROOT=data/synthetic python train.py ...   # see documentation/training.md

Foregrounds are textured figures (a head and a body) that move, turn and breathe over the clip,
with soft edges and thin, wavy, semi-transparent strands around the head, the hair-like detail
that matting is about. Backgrounds are textured scenes with clutter; background videos pan over
them. The segmentation sets hold the same figures as "persons" among other objects, in the COCO
panoptic, Supervisely and YouTube-VIS formats (with both uncompressed and compressed RLE masks).
The layout under `--out` mirrors the default paths of `train_config.py` relative to the data root.
"""
import argparse
import json
import math
import os
from typing import List, Tuple

import numpy as np
from PIL import Image
from tqdm import tqdm

from streaming.images import composite

from .youtubevis import PERSON_CATEGORY, encode_rle

COCO_PERSON, COCO_CAR, COCO_BACKPACK, COCO_WALL = 1, 3, 27, 199
YTVIS_OTHER = 5

LAYOUT = {
    'videomatte': 'VideoMatte240K_JPEG_SD',
    'imagematte': 'ImageMatte',
    'background_images': 'Backgrounds',
    'background_videos': 'BackgroundVideos',
    'coco': 'coco',
    'spd': 'SuperviselyPersonDataset',
    'youtubevis': 'YouTubeVIS',
}


def _grid(h: int, w: int) -> Tuple[np.ndarray, np.ndarray]:
    """Pixel centre coordinates `(x, y)`, each `[h, w]` float32."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return x + 0.5, y + 0.5


def ellipse_alpha(u: np.ndarray, v: np.ndarray, a: float, b: float, softness: float) -> np.ndarray:
    """Soft ellipse with radii `a`, `b` at the origin of coordinates `(u, v)`: 1 inside, a ramp `softness` px wide."""
    distance = (1 - np.sqrt((u / a) ** 2 + (v / b) ** 2)) * min(a, b)
    return np.clip(distance / softness + 0.5, 0, 1)


class Texture:
    """Two colours mixed by crossing stripes, plus fresh grain on every call; evaluated at any coordinates."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.colors = rng.uniform(0, 1, (2, 3)).astype(np.float32)
        self.freq = rng.uniform(0.02, 0.2, 2)
        self.angle = rng.uniform(0, math.pi)
        self.phase = rng.uniform(0, 2 * math.pi, 2)
        self.grain = rng.uniform(0.005, 0.04)

    def __call__(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """RGB `[h, w, 3]` in 0..1 at coordinates `u`, `v` `[h, w]`."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        stripes1 = 0.5 + 0.5 * np.sin(2 * math.pi * self.freq[0] * (c * u + s * v) + self.phase[0])
        stripes2 = 0.5 + 0.5 * np.sin(2 * math.pi * self.freq[1] * (c * v - s * u) + self.phase[1])
        mix = (0.7 * stripes1 + 0.3 * stripes2)[..., None]
        img = self.colors[0] * (1 - mix) + self.colors[1] * mix
        img += self.rng.normal(0, self.grain, img.shape).astype(np.float32)
        return np.clip(img, 0, 1)


class Scene:
    """A background: a texture with a few textured soft blobs of clutter, viewable with a camera offset."""

    def __init__(self, rng: np.random.Generator, h: int, w: int):
        self.base = Texture(rng)
        self.blobs = [(Texture(rng), rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.05, 0.3) * w,
                       rng.uniform(0.05, 0.3) * h) for _ in range(rng.integers(2, 6))]
        self.h, self.w = h, w

    def render(self, dx: float = 0., dy: float = 0.) -> np.ndarray:
        """RGB `[h, w, 3]` of the scene seen through a camera moved by `(dx, dy)` px."""
        x, y = _grid(self.h, self.w)
        x, y = x + dx, y + dy
        img = self.base(x, y)
        for texture, cx, cy, a, b in self.blobs:
            m = ellipse_alpha(x - cx, y - cy, a, b, 1.0)[..., None]
            img = composite(texture(x, y), m, img)
        return img


class HairyFigure:
    """A textured head-and-body figure with hair-like strands, moving smoothly over time.

    `render(t)` returns the figure's foreground RGB `[h, w, 3]` and alpha `[h, w]` at time `t` (frames).
    """

    def __init__(self, rng: np.random.Generator, h: int, w: int):
        scale = min(h, w)
        self.h, self.w = h, w
        self.head = rng.uniform(0.13, 0.19, 2) * scale                        # radii (a, b)
        self.body = np.array([rng.uniform(0.28, 0.4), rng.uniform(0.45, 0.65)]) * scale
        self.body_offset = self.head[1] + 0.8 * self.body[1]                   # below the head
        self.softness = rng.uniform(0.7, 2.0)
        # Strands, mostly on the upper half of the head (angles measured from +x, y pointing down).
        k = int(rng.integers(30, 70))
        self.strand_angle = np.where(rng.random(k) < 0.8, rng.uniform(-math.pi, 0, k), rng.uniform(-math.pi, math.pi, k))
        self.strand_length = rng.uniform(0.04, 0.16, k) * scale
        self.strand_width = rng.uniform(0.35, 1.0, k)
        self.strand_opacity = rng.uniform(0.35, 1.0, k)
        self.strand_wave = np.stack([rng.uniform(0, 2.5, k), rng.uniform(0.1, 0.5, k), rng.uniform(0, 6.3, k)])
        self.texture = Texture(rng)
        self.hair = Texture(rng)
        # Motion: a start pose, a drift and a sway, a slow turn and a breathing scale.
        self.center = np.array([rng.uniform(0.35, 0.65) * w, rng.uniform(0.2, 0.35) * h])
        self.drift = rng.uniform(-1.5, 1.5, 2) * scale / 100
        self.sway = rng.uniform(0, 4, 2) * scale / 100, rng.uniform(0.1, 0.4), rng.uniform(0, 6.3)
        self.angle, self.turn = rng.uniform(-0.3, 0.3), rng.uniform(-0.02, 0.02)
        self.breath = rng.uniform(0, 0.08), rng.uniform(0.05, 0.3)

    def render(self, t: float) -> Tuple[np.ndarray, np.ndarray]:
        amplitude, frequency, phase = self.sway
        center = self.center + self.drift * t + amplitude * math.sin(frequency * t + phase)
        angle = self.angle + self.turn * t
        scale = 1 + self.breath[0] * math.sin(self.breath[1] * t)

        x, y = _grid(self.h, self.w)
        c, s = math.cos(angle), math.sin(angle)
        u = (c * (x - center[0]) + s * (y - center[1])) / scale   # figure coordinates, head at the origin
        v = (-s * (x - center[0]) + c * (y - center[1])) / scale

        core = np.maximum(ellipse_alpha(u, v, *self.head, self.softness),
                          ellipse_alpha(u, v - self.body_offset, *self.body, self.softness))
        strands = self._strands(u, v)
        pha = np.maximum(core, strands)
        hair_wins = (strands > core)[..., None]
        fgr = np.where(hair_wins, self.hair(u, v), self.texture(u, v))
        return fgr, pha

    def _strands(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Alpha `[h, w]` of thin wavy strands growing out of the head's outline, fading towards their tips."""
        a, b = self.head
        r = np.sqrt(u ** 2 + v ** 2)
        theta = np.arctan2(v, u)
        out = r - a * b / np.sqrt((b * np.cos(theta)) ** 2 + (a * np.sin(theta)) ** 2)   # px beyond the outline
        near = np.nonzero((out > -1) & (out < self.strand_length.max()))                 # pixels strands can reach
        r, theta, out = r[near][None], theta[near][None], out[near][None]
        amp, freq, phase = (p[:, None] for p in self.strand_wave)
        dtheta = (theta - self.strand_angle[:, None] + math.pi) % (2 * math.pi) - math.pi
        lateral = r * dtheta - amp * np.sin(freq * out + phase)                           # px across the strand
        along = np.clip(1 - out / self.strand_length[:, None], 0, 1)
        alpha = np.zeros(u.shape, np.float32)
        alpha[near] = (self.strand_opacity[:, None] * np.exp(-(lateral / self.strand_width[:, None]) ** 2) * along).max(0)
        return alpha


def _save(path: str, img: np.ndarray) -> None:
    """Write a float image in 0..1 (`[h, w]` or `[h, w, 3]`) as 8-bit JPEG or PNG by extension."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)).save(path, quality=95)


def write_videomatte(root: str, rng: np.random.Generator, clips: int, frames: int, h: int, w: int) -> None:
    """`root/{fgr,pha}/CLIP/FRAME.jpg`."""
    for clip in range(clips):
        figure = HairyFigure(rng, h, w)
        for t in range(frames):
            fgr, pha = figure.render(t)
            _save(os.path.join(root, 'fgr', f'{clip:04d}', f'{t:05d}.jpg'), fgr)
            _save(os.path.join(root, 'pha', f'{clip:04d}', f'{t:05d}.jpg'), pha)


def write_imagematte(root: str, rng: np.random.Generator, count: int, h: int, w: int) -> None:
    """`root/{fgr,pha}/NAME.jpg`."""
    for i in range(count):
        fgr, pha = HairyFigure(rng, h, w).render(0)
        _save(os.path.join(root, 'fgr', f'{i:05d}.jpg'), fgr)
        _save(os.path.join(root, 'pha', f'{i:05d}.jpg'), pha)


def write_background_images(root: str, rng: np.random.Generator, count: int, h: int, w: int) -> None:
    """`root/NAME.jpg`."""
    for i in range(count):
        _save(os.path.join(root, f'{i:05d}.jpg'), Scene(rng, h, w).render())


def write_background_videos(root: str, rng: np.random.Generator, clips: int, frames: int, h: int, w: int) -> None:
    """`root/CLIP/FRAME.jpg`: a camera panning over a scene."""
    for clip in range(clips):
        scene, velocity = Scene(rng, h, w), rng.uniform(-2, 2, 2)
        for t in range(frames):
            _save(os.path.join(root, f'{clip:04d}', f'{t:05d}.jpg'), scene.render(*(velocity * t)))


def _person_scene(scene: Scene, figures: List[HairyFigure], t: float = 0) -> Tuple[np.ndarray, List[np.ndarray]]:
    """`figures` at time `t` over `scene`; returns the image and each figure's mask (alpha > 0.5), in z order."""
    img = scene.render()
    masks = []
    for figure in figures:
        fgr, pha = figure.render(t)
        img = composite(fgr, pha[..., None], img)
        masks.append(pha > 0.5)
    return img, masks


def write_coco_panoptic(root: str, rng: np.random.Generator, count: int, h: int, w: int) -> None:
    """`root/train2017/NAME.jpg`, `root/panoptic_train2017/NAME.png` and `root/annotations/panoptic_train2017.json`.

    Each image has a wall (stuff), a car, one or two persons and, on some, a backpack; every tenth has
    no person. Segment ids are large random numbers, so all three PNG channels carry them.
    """
    annotations, images = [], []
    for i in range(count):
        persons = 0 if i % 10 == 9 else int(rng.integers(1, 3))
        img, person_masks = _person_scene(Scene(rng, h, w), [HairyFigure(rng, h, w) for _ in range(persons)])
        x, y = _grid(h, w)
        segments = [(COCO_WALL, y < h * 0.3),
                    (COCO_CAR, (abs(x - rng.uniform(0, w)) < w * 0.15) & (abs(y - h * 0.8) < h * 0.1))]
        segments += [(COCO_PERSON, mask) for mask in person_masks]
        if person_masks and rng.random() < 0.5:
            ys, xs = np.nonzero(person_masks[0])
            segments.append((COCO_BACKPACK, (abs(x - xs.mean()) < w * 0.06) & (abs(y - ys.mean()) < h * 0.06)))
        ids = rng.choice(np.arange(1, 2 ** 24), len(segments), replace=False)
        panoptic = np.zeros((h, w), np.int64)
        for segment_id, (_, mask) in zip(ids, segments):
            panoptic[mask] = segment_id
        name = f'{i:012d}'
        _save(os.path.join(root, 'train2017', f'{name}.jpg'), img)
        rgb = np.stack([panoptic % 256, panoptic // 256 % 256, panoptic // 65536], -1).astype(np.uint8)
        os.makedirs(os.path.join(root, 'panoptic_train2017'), exist_ok=True)
        Image.fromarray(rgb).save(os.path.join(root, 'panoptic_train2017', f'{name}.png'))
        images.append({'id': i, 'file_name': f'{name}.jpg', 'height': h, 'width': w})
        annotations.append({'image_id': i, 'file_name': f'{name}.png', 'segments_info': [
            {'id': int(segment_id), 'category_id': category, 'iscrowd': 0, 'area': int((panoptic == segment_id).sum())}
            for segment_id, (category, _) in zip(ids, segments) if (panoptic == segment_id).any()]})
    categories = [{'id': COCO_PERSON, 'name': 'person', 'isthing': 1}, {'id': COCO_CAR, 'name': 'car', 'isthing': 1},
                  {'id': COCO_BACKPACK, 'name': 'backpack', 'isthing': 1},
                  {'id': COCO_WALL, 'name': 'wall-other-merged', 'isthing': 0}]
    os.makedirs(os.path.join(root, 'annotations'), exist_ok=True)
    with open(os.path.join(root, 'annotations', 'panoptic_train2017.json'), 'w') as f:
        json.dump({'images': images, 'annotations': annotations, 'categories': categories}, f)


def write_supervisely(root: str, rng: np.random.Generator, count: int, h: int, w: int) -> None:
    """`root/img/NAME.jpg` and `root/seg/NAME.png` (0 or 255)."""
    for i in range(count):
        img, masks = _person_scene(Scene(rng, h, w), [HairyFigure(rng, h, w) for _ in range(rng.integers(1, 3))])
        _save(os.path.join(root, 'img', f'{i:05d}.jpg'), img)
        _save(os.path.join(root, 'seg', f'{i:05d}.png'), np.logical_or.reduce(masks).astype(np.float32))


def write_youtubevis(root: str, rng: np.random.Generator, videos: int, frames: int, h: int, w: int) -> None:
    """`root/JPEGImages/VIDEO/FRAME.jpg` and `root/instances.json`.

    Every video has a person (some two); the second person of a video is absent for its first
    frames (null segmentations). One more video shows no person, only another category. Masks
    alternate between uncompressed and compressed RLE.
    """
    video_entries, annotations = [], []
    for v in range(videos + 1):
        has_person = v < videos
        scene, figures = Scene(rng, h, w), [HairyFigure(rng, h, w) for _ in range(rng.integers(1, 3))]
        name = f'{v:05d}abc'
        masks_per_frame = []
        for t in range(frames):
            img, masks = _person_scene(scene, figures, t)
            _save(os.path.join(root, 'JPEGImages', name, f'{t:05d}.jpg'), img)
            masks_per_frame.append(masks)
        video_entries.append({'id': v + 1, 'width': w, 'height': h, 'length': frames,
                              'file_names': [f'{name}/{t:05d}.jpg' for t in range(frames)]})
        for k in range(len(figures)):
            absent = frames // 3 if k == 1 else 0
            annotations.append({
                'id': len(annotations) + 1, 'video_id': v + 1, 'iscrowd': 0,
                'category_id': PERSON_CATEGORY if has_person else YTVIS_OTHER,
                'segmentations': [None if t < absent else encode_rle(masks_per_frame[t][k], compressed=len(annotations) % 2 == 1)
                                  for t in range(frames)],
                'areas': [None if t < absent else int(masks_per_frame[t][k].sum()) for t in range(frames)]})
    categories = [{'id': PERSON_CATEGORY, 'name': 'person'}, {'id': YTVIS_OTHER, 'name': 'cat'}]
    with open(os.path.join(root, 'instances.json'), 'w') as f:
        json.dump({'videos': video_entries, 'annotations': annotations, 'categories': categories}, f)


def generate(out: str, clips: int = 12, frames: int = 24, size: int = 128, seed: int = 0,
             progress: bool = True) -> None:
    """Write every dataset under `out` (which must not hold them already).

    Args:
        clips: VideoMatte training clips; the other sets are sized from it (images: 2 x clips).
        frames: frames per video clip.
        size: frame height; the width is 4/3 of it (rounded to even).
    """
    existing = [name for name in LAYOUT.values() if os.path.exists(os.path.join(out, name))]
    if existing:
        raise FileExistsError(f'{out} already holds {existing}; choose another --out (nothing was overwritten)')
    h, w = size, round(size * 4 / 3 / 2) * 2
    rng = np.random.default_rng(seed)
    valid = max(2, clips // 4)
    jobs = [
        (write_videomatte, (os.path.join(out, LAYOUT['videomatte'], 'train'), rng, clips, frames, h, w)),
        (write_videomatte, (os.path.join(out, LAYOUT['videomatte'], 'valid'), rng, valid, frames, h, w)),
        (write_imagematte, (os.path.join(out, LAYOUT['imagematte'], 'train'), rng, 2 * clips, h, w)),
        (write_imagematte, (os.path.join(out, LAYOUT['imagematte'], 'valid'), rng, valid, h, w)),
        (write_background_images, (os.path.join(out, LAYOUT['background_images'], 'train'), rng, 2 * clips, h, w)),
        (write_background_images, (os.path.join(out, LAYOUT['background_images'], 'valid'), rng, valid, h, w)),
        (write_background_videos, (os.path.join(out, LAYOUT['background_videos'], 'train'), rng, max(2, clips // 2), frames, h, w)),
        (write_background_videos, (os.path.join(out, LAYOUT['background_videos'], 'valid'), rng, valid, frames, h, w)),
        (write_coco_panoptic, (os.path.join(out, LAYOUT['coco']), rng, 2 * clips, h, w)),
        (write_supervisely, (os.path.join(out, LAYOUT['spd']), rng, 2 * clips, h, w)),
        (write_youtubevis, (os.path.join(out, LAYOUT['youtubevis'], 'train'), rng, max(2, clips // 2), frames, h, w)),
    ]
    for write, args in tqdm(jobs, desc='synthetic data', disable=not progress):
        write(*args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', required=True, help='data root to create (the train_config.py layout goes under it)')
    parser.add_argument('--clips', type=int, default=12, help='VideoMatte training clips; other sets scale with it')
    parser.add_argument('--frames', type=int, default=24, help='frames per clip')
    parser.add_argument('--size', type=int, default=128, help='frame height in pixels (width = 4/3 height)')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    try:
        generate(args.out, args.clips, args.frames, args.size, args.seed)
    except FileExistsError as e:
        parser.exit(1, f'error: {e}\n')
    print(f'Wrote synthetic training data to {args.out}. Train on it with RVM_DATA_ROOT={args.out} '
          f'(see documentation/training.md).')


if __name__ == '__main__':
    main()
