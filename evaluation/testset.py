"""Composited test sets: what the four `generate_*.py` scripts share.

A test set is built from a foreground source (VideoMatte240K clips, or ImageMatte stills given
synthetic motion) and a background source (images, or videos). Output, one folder per sample:

    OUT/NNNN/fgr/TTTT.png   foreground, RGB 8-bit
    OUT/NNNN/pha/TTTT.png   alpha, gray 8-bit
    OUT/NNNN/bgr/TTTT.png   background, RGB 8-bit (a background image is written at frame 0000 and
                            the later frames are relative symbolic links to it, as the original did)
    OUT/NNNN/com/TTTT.png   composite round(fgr * pha + bgr * (1 - pha)), RGB 8-bit

Everything random (background order, clip start frames, motion) follows `--seed`: the background
order is shuffled once, and sample i draws from generators seeded with (seed, i), so a test set is
the same whatever the number of workers. Backgrounds are scaled to cover the frame (keeping their
aspect ratio) and center-cropped.
"""
import argparse
import os
import random
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import av
import numpy as np
import torch
from PIL import Image, ImageOps
from tqdm import tqdm

from dataset.augmentation import motion_affine
from streaming.formats import list_folders
from evaluation.common import InputError, parallel_map, require_dir
from streaming.formats import VIDEO_EXTENSIONS, list_images, natural_key
from streaming.images import Size, composite, fit_cover


def open_image(path: Path, mode: str) -> Image.Image:
    """The image at `path` converted to `mode` ('RGB' or 'L'), or an InputError naming the file."""
    try:
        with Image.open(path) as image:
            return image.convert(mode)
    except OSError as e:
        raise InputError(f'cannot read {path} as an image ({e})') from e


def fit_contain(image: Image.Image, side: int) -> Image.Image:
    """Scale `image` (bilinear) so its longer side is `side`, then pad it with zeros, centered, to side x side."""
    scale = side / max(image.size)
    image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                         Image.Resampling.BILINEAR)
    canvas = Image.new(image.mode, (side, side))
    canvas.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    return canvas


def composite_8bit(fgr: Image.Image, pha: Image.Image, bgr: Image.Image) -> Image.Image:
    """round(fgr * pha + bgr * (1 - pha)) of RGB `fgr`, `bgr` and gray `pha`, all the same size."""
    alpha = np.asarray(pha, dtype=np.float32)[..., None] / 255
    com = composite(np.asarray(fgr, dtype=np.float32), alpha, np.asarray(bgr, dtype=np.float32))
    return Image.fromarray(np.rint(com).astype(np.uint8))


def mirror_pass(index: int, count: int) -> bool:
    """Sample `index` of sources used in turn: every second pass over the `count` sources is mirrored."""
    return (index // count) % 2 == 1


class VideoMatteSource:
    """VideoMatte240K layout: ROOT/fgr/CLIP/FRAME.jpg and ROOT/pha/CLIP/FRAME.jpg (same names).

    Sample i takes `num_frames` consecutive frames from a random start of clip i % clips, resized to
    `resize` (width, height) if given, mirrored on every second pass over the clips.
    """

    def __init__(self, root: Path, num_frames: int, resize: Optional[Sequence[int]] = None):
        self.root, self.num_frames = root, num_frames
        self.resize = tuple(resize) if resize else None
        self.clips = []
        for clip in list_folders(require_dir(root / 'fgr', 'VideoMatte foregrounds')):
            frames = list_images(root / 'fgr' / clip)
            if len(frames) < num_frames:
                raise InputError(f'VideoMatte clip {clip} has {len(frames)} frames; --num-frames is {num_frames}')
            missing = sorted(set(frames) - set(list_images(require_dir(root / 'pha' / clip, f'alpha of clip {clip}'))))
            if missing:
                raise InputError(f'VideoMatte clip {clip} frame {missing[0]}: '
                                 f'{root / "pha" / clip / missing[0]} is missing')
            self.clips.append((clip, frames))
        if not self.clips:
            raise InputError(f'no clips in {root / "fgr"} (layout ROOT/fgr/CLIP/FRAME.jpg)')

    def frames(self, index: int) -> Iterator[Tuple[Image.Image, Image.Image]]:
        """`(fgr RGB, pha L)` for each frame of sample `index`, drawing from the global `random`."""
        clip, names = self.clips[index % len(self.clips)]
        start = random.randrange(len(names) - self.num_frames + 1)
        for name in names[start:start + self.num_frames]:
            fgr = open_image(self.root / 'fgr' / clip / name, 'RGB')
            pha = open_image(self.root / 'pha' / clip / name, 'L')
            if fgr.size != pha.size:
                raise InputError(f'VideoMatte clip {clip} frame {name}: fgr is {fgr.size} but pha is {pha.size}')
            if self.resize:
                fgr, pha = (image.resize(self.resize, Image.Resampling.BILINEAR) for image in (fgr, pha))
            if mirror_pass(index, len(self.clips)):
                fgr, pha = ImageOps.mirror(fgr), ImageOps.mirror(pha)
            yield fgr, pha


class ImageMatteSource:
    """ImageMatte layout: ROOT/fgr/NAME and ROOT/pha/NAME (same names).

    Sample i repeats still i % stills for `num_frames` frames and moves it with training's random
    eased affine motion (`dataset.augmentation.motion_affine`), then fits it into a `resolution`
    square (longer side scaled to it, zero padding), mirrored on every second pass over the stills.
    """

    def __init__(self, root: Path, num_frames: int, resolution: int):
        self.root, self.num_frames, self.resolution = root, num_frames, resolution
        self.names = list_images(require_dir(root / 'fgr', 'ImageMatte foregrounds'))
        if not self.names:
            raise InputError(f'no images in {root / "fgr"} (layout ROOT/fgr/NAME and ROOT/pha/NAME)')
        missing = sorted(set(self.names) - set(list_images(require_dir(root / 'pha', 'ImageMatte alphas'))))
        if missing:
            raise InputError(f'ImageMatte {missing[0]}: {root / "pha" / missing[0]} is missing')

    def __len__(self) -> int:
        return len(self.names)

    def frames(self, index: int) -> Iterator[Tuple[Image.Image, Image.Image]]:
        """`(fgr RGB, pha L)` for each frame of sample `index`, drawing from the global `random` and torch."""
        name = self.names[index % len(self.names)]
        fgr, pha = open_image(self.root / 'fgr' / name, 'RGB'), open_image(self.root / 'pha' / name, 'L')
        if fgr.size != pha.size:
            raise InputError(f'ImageMatte {name}: fgr is {fgr.size} but pha is {pha.size}')
        fgrs, phas = motion_affine([fgr] * self.num_frames, [pha] * self.num_frames)
        for fgr, pha in zip(fgrs, phas):
            fgr, pha = fit_contain(fgr, self.resolution), fit_contain(pha, self.resolution)
            if mirror_pass(index, len(self.names)):
                fgr, pha = ImageOps.mirror(fgr), ImageOps.mirror(pha)
            yield fgr, pha


class BackgroundImages:
    """Background images: the image files in `root`, each held still for a whole sample."""
    static = True

    def __init__(self, root: Path):
        self.paths = [root / name for name in list_images(require_dir(root, 'backgrounds'))]
        if not self.paths:
            raise InputError(f'no background images in {root}')

    def __len__(self) -> int:
        return len(self.paths)

    def frames(self, index: int, size: Size) -> Iterator[Image.Image]:
        image = fit_cover(open_image(self.paths[index], 'RGB'), size)
        while True:
            yield image


class BackgroundVideos:
    """Background videos: the entries of `root` that are folders of frames or video files (decoded with
    PyAV). A video shorter than a sample starts again from its first frame."""
    static = False

    def __init__(self, root: Path):
        require_dir(root, 'background videos')
        self.paths = sorted((path for path in root.iterdir()
                             if (path.is_dir() and list_images(path)) or path.suffix.lower() in VIDEO_EXTENSIONS),
                            key=lambda path: natural_key(path.name))
        if not self.paths:
            raise InputError(f'no background videos in {root} '
                             f'(folders of frames or {", ".join(VIDEO_EXTENSIONS)} files)')

    def __len__(self) -> int:
        return len(self.paths)

    def _decode(self, path: Path) -> Iterator[Image.Image]:
        if path.is_dir():
            yield from (open_image(path / name, 'RGB') for name in list_images(path))
            return
        try:
            with av.open(str(path)) as container:
                yield from (frame.to_image() for frame in container.decode(video=0))
        except (av.FFmpegError, ValueError) as e:
            raise InputError(f'cannot decode background video {path} ({e})') from e

    def frames(self, index: int, size: Size) -> Iterator[Image.Image]:
        path = self.paths[index]
        while True:
            count = 0
            for count, frame in enumerate(self._decode(path), 1):
                yield fit_cover(frame, size)
            if count == 0:
                raise InputError(f'background video {path} has no frames')


Source = Union[VideoMatteSource, ImageMatteSource]
Backgrounds = Union[BackgroundImages, BackgroundVideos]


@dataclass(frozen=True)
class SampleWriter:
    """Writes sample i: the frames of `source` over background `order[i % len(order)]`."""
    source: Source
    backgrounds: Backgrounds
    order: Tuple[int, ...]
    out_dir: Path
    seed: int
    extension: str

    def __call__(self, index: int) -> None:
        sample_seed = self.seed * 1_000_003 + index
        random.seed(sample_seed)
        torch.manual_seed(sample_seed)
        out = self.out_dir / f'{index:04d}'
        for kind in ('fgr', 'pha', 'bgr', 'com'):
            (out / kind).mkdir(parents=True)
        frames = self.source.frames(index)
        first = next(frames)
        size = first[0].size
        with closing(self.backgrounds.frames(self.order[index % len(self.order)], size)) as backgrounds:
            for t, ((fgr, pha), bgr) in enumerate(zip(chain([first], frames), backgrounds)):
                name = f'{t:04d}{self.extension}'
                fgr.save(out / 'fgr' / name)
                pha.save(out / 'pha' / name)
                if self.backgrounds.static and t > 0:
                    os.symlink(f'{0:04d}{self.extension}', out / 'bgr' / name)
                else:
                    bgr.save(out / 'bgr' / name)
                composite_8bit(fgr, pha, bgr).save(out / 'com' / name)


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'{text} is not a positive integer')
    return value


def _parser(doc: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def _parse(parser: argparse.ArgumentParser, argv) -> argparse.Namespace:
    """Add the flags every generator has to `parser` and parse `argv`."""
    parser.add_argument('--background-dir', type=Path, required=True, help='background images or videos')
    parser.add_argument('--out-dir', type=Path, required=True, help='output folder (must not exist or be empty)')
    parser.add_argument('--num-frames', type=positive_int, default=100, help='frames per sample')
    parser.add_argument('--seed', type=int, default=10, help='random seed (the original VideoMatte generators used 10)')
    parser.add_argument('--extension', default='.png', help='file extension of the written frames')
    parser.add_argument('--num-workers', type=int, default=os.cpu_count() or 1,
                        help='samples written in parallel processes (0: none); the output does not depend on it')
    return parser.parse_args(argv)


def generate(source: Source, backgrounds: Backgrounds, args: argparse.Namespace, num_samples: int) -> List[Path]:
    """Write `num_samples` samples of `source` over `backgrounds` into `args.out_dir`; returns their folders."""
    if args.out_dir.exists() and any(args.out_dir.iterdir()):
        raise InputError(f'{args.out_dir} is not empty; choose a new --out-dir')
    args.out_dir.mkdir(parents=True, exist_ok=True)
    order = list(range(len(backgrounds)))
    random.Random(args.seed).shuffle(order)
    writer = SampleWriter(source, backgrounds, tuple(order), args.out_dir, args.seed, args.extension)
    for _ in tqdm(parallel_map(writer, range(num_samples), args.num_workers, ProcessPoolExecutor),
                  total=num_samples, unit='sample', desc=f'writing {args.out_dir}'):
        pass
    return [args.out_dir / f'{i:04d}' for i in range(num_samples)]


def videomatte_main(argv, backgrounds: type, doc: str) -> List[Path]:
    """The command line of the generate_videomatte_* scripts, with `backgrounds` BackgroundImages or -Videos."""
    parser = _parser(doc)
    parser.add_argument('--videomatte-dir', type=Path, required=True,
                        help='VideoMatte240K split, ROOT/{fgr,pha}/CLIP/FRAME.jpg')
    parser.add_argument('--num-samples', type=positive_int, default=20, help='clips to write (clips are used in turn, '
                        'mirrored on every second pass)')
    parser.add_argument('--resize', type=positive_int, nargs=2, metavar=('WIDTH', 'HEIGHT'), help='output size')
    args = _parse(parser, argv)
    source = VideoMatteSource(args.videomatte_dir, args.num_frames, args.resize)
    return generate(source, backgrounds(args.background_dir), args, args.num_samples)


def imagematte_main(argv, backgrounds: type, doc: str) -> List[Path]:
    """The command line of the generate_imagematte_* scripts, with `backgrounds` BackgroundImages or -Videos.

    Writes two samples per still, the second mirrored, as the original did."""
    parser = _parser(doc)
    parser.add_argument('--imagematte-dir', type=Path, required=True, help='ImageMatte split, ROOT/{fgr,pha}/NAME')
    parser.add_argument('--resolution', type=positive_int, required=True, help='side of the square output frames')
    args = _parse(parser, argv)
    source = ImageMatteSource(args.imagematte_dir, args.num_frames, args.resolution)
    return generate(source, backgrounds(args.background_dir), args, 2 * len(source))
