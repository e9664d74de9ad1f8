"""YouTubeVISDataset: person video segmentation from YouTube-VIS, with COCO run-length mask decoding."""
import json
import os
import random
from typing import Callable, Dict, List, Optional, Tuple, Union

import numpy as np
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import transforms
from torchvision.transforms import functional as F

from .augmentation import to_tensor_clip
from .files import downsample_if_needed, open_rgb

PERSON_CATEGORY = 26

RLE = Dict[str, Union[List[int], str]]  # {'size': [H, W], 'counts': [...] or '...'}


def decode_rle(rle: RLE) -> np.ndarray:
    """A COCO run-length mask `{'size': [H, W], 'counts': ...}` as uint8 `[H, W]` with 0 or 255.

    `counts` alternate background and foreground run lengths over the mask in column-major order,
    starting with background; either a list of ints (uncompressed RLE) or COCO's compressed string.
    """
    H, W = rle['size']
    counts = rle['counts']
    if isinstance(counts, (str, bytes)):
        counts = _counts_from_string(counts.decode('ascii') if isinstance(counts, bytes) else counts)
    if sum(counts) != H * W:
        raise ValueError(f'RLE counts sum to {sum(counts)}, but the mask size {H}x{W} needs {H * W}')
    values = np.zeros(len(counts), np.uint8)
    values[1::2] = 255
    return np.repeat(values, counts).reshape(W, H).T


def encode_rle(mask: np.ndarray, compressed: bool) -> RLE:
    """The inverse of `decode_rle` for a boolean `[H, W]` mask: uncompressed counts or COCO's string."""
    flat = np.asarray(mask, bool).T.reshape(-1)
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    return {'size': list(mask.shape), 'counts': _counts_to_string(counts) if compressed else counts}


def _counts_from_string(s: str) -> List[int]:
    """COCO's compressed counts (maskApi.c rleFrString): 5-bit groups + 48, 0x20 = more follows, 0x10 = sign,
    and from the fourth count on, each is stored as the difference to the count two before it."""
    counts: List[int] = []
    p = 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1f) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def _counts_to_string(counts: List[int]) -> str:
    """The inverse of `_counts_from_string` (maskApi.c rleToString)."""
    chars = []
    for i, x in enumerate(counts):
        if i > 2:
            x -= counts[i - 2]
        more = True
        while more:
            c = x & 0x1f
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            chars.append(chr(c + 48))
    return ''.join(chars)


class YouTubeVISDataset(Dataset):
    """Sequences of `seq_length` frames of YouTube-VIS videos that show a person, with person masks.

    Layout: `videodir/VIDEO/FRAME.jpg` and `annfile`, the instances json: `videos` (`id`, `height`,
    `width`, `file_names` relative to `videodir`) and `annotations` (`video_id`, `category_id`,
    `segmentations`: one RLE or null per frame). A frame's mask is the union of its person instances.
    One item per frame; the frames read are `seq_sampler(seq_length)` offsets, wrapped around the video.

    Returns `transform(imgs, segs)` of T RGB and T L images (short side capped at `size`), e.g. with
    `YouTubeVISAugmentation` tensors imgs `[T, 3, H, W]` and segs `[T, 1, H, W]`.
    """

    def __init__(self, videodir: str, annfile: str, size: int, seq_length: int,
                 seq_sampler: Callable[[int], List[int]], transform: Optional[Callable] = None):
        self.videodir = videodir
        self.size = size
        self.seq_length = seq_length
        self.seq_sampler = seq_sampler
        self.transform = transform

        with open(annfile) as f:
            data = json.load(f)
        self.masks: Dict[int, List[List[RLE]]] = {}
        for ann in data['annotations']:
            if ann['category_id'] == PERSON_CATEGORY:
                frames = self.masks.setdefault(ann['video_id'], [[] for _ in ann['segmentations']])
                for frame, mask in zip(frames, ann['segmentations']):
                    if mask is not None:
                        frame.append(mask)
        self.videos = {video['id']: video for video in data['videos'] if video['id'] in self.masks}
        if not self.videos:
            raise ValueError(f'{annfile} has no video with a person (category {PERSON_CATEGORY})')
        self.index = [(video_id, frame) for video_id, video in self.videos.items()
                      for frame in range(len(video['file_names']))]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, idx: int):
        video_id, frame_id = self.index[idx]
        video = self.videos[video_id]
        frame_count = len(video['file_names'])
        imgs, segs = [], []
        for t in self.seq_sampler(self.seq_length):
            frame = (frame_id + t) % frame_count
            imgs.append(open_rgb(os.path.join(self.videodir, video['file_names'][frame]), self.size,
                                 Image.Resampling.BILINEAR))
            seg = np.zeros((video['height'], video['width']), np.uint8)
            for mask in self.masks[video_id][frame]:
                seg |= decode_rle(mask)
            segs.append(downsample_if_needed(Image.fromarray(seg), self.size, Image.Resampling.NEAREST))
        if self.transform is not None:
            return self.transform(imgs, segs)
        return imgs, segs


class YouTubeVISAugmentation:
    """Resized crop to `size` `(H, W)`, colour jitter, grayscale and flip, the same for every frame.

    Returns imgs `[T, 3, H, W]` and segs `[T, 1, H, W]` in 0..1.
    """

    def __init__(self, size: Tuple[int, int]):
        self.size = size
        self.jitter = transforms.ColorJitter(0.3, 0.3, 0.3, 0.15)

    def __call__(self, imgs: List[Image.Image], segs: List[Image.Image]) -> Tuple[Tensor, Tensor]:
        imgs, segs = to_tensor_clip(imgs), to_tensor_clip(segs)

        params = transforms.RandomResizedCrop.get_params(imgs, scale=(0.8, 1), ratio=(0.9, 1.1))
        imgs = F.resized_crop(imgs, *params, self.size, interpolation=F.InterpolationMode.BILINEAR)
        segs = F.resized_crop(segs, *params, self.size, interpolation=F.InterpolationMode.BILINEAR)

        imgs = self.jitter(imgs)
        if random.random() < 0.05:
            imgs = F.rgb_to_grayscale(imgs, num_output_channels=3)
        if random.random() < 0.5:
            imgs = F.hflip(imgs)
            segs = F.hflip(segs)
        return imgs, segs
