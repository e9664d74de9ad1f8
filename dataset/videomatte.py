"""VideoMatteDataset: VideoMatte240K foreground clips composited over random backgrounds."""
import os
from typing import Callable, List, Optional, Tuple

from PIL import Image
from torch.utils.data import Dataset

from .background import RandomBackground
from .files import list_folders, list_image_files, open_gray, open_rgb


class VideoMatteDataset(Dataset):
    """Sequences of `seq_length` frames from foreground clips, each with a random background sequence.

    Layout (VideoMatte240K): `videomatte_dir/fgr/CLIP/FRAME.jpg` and `videomatte_dir/pha/CLIP/FRAME.jpg`
    with the same clip and frame names. One item per `seq_length` frames of every clip; the frames
    read are `seq_sampler(seq_length)` offsets from the item's first frame, wrapped around the clip.

    Returns `transform(fgrs, phas, bgrs)` of the three lists of T PIL images (fgr and bgr RGB, pha L),
    e.g. with `VideoMatteTrainAugmentation` tensors fgr `[T, 3, H, W]`, pha `[T, 1, H, W]`, bgr `[T, 3, H, W]`.
    """

    def __init__(self, videomatte_dir: str, background_image_dir: str, background_video_dir: str,
                 size: int, seq_length: int, seq_sampler: Callable[[int], List[int]],
                 transform: Optional[Callable] = None):
        self.background = RandomBackground(background_image_dir, background_video_dir, size, seq_length, seq_sampler)
        self.videomatte_dir = videomatte_dir
        self.clips = list_folders(os.path.join(videomatte_dir, 'fgr'), 'VideoMatte foregrounds')
        pha_clips = list_folders(os.path.join(videomatte_dir, 'pha'), 'VideoMatte alphas')
        if pha_clips != self.clips:
            missing = sorted(set(self.clips) ^ set(pha_clips))
            raise FileNotFoundError(f'{videomatte_dir}: fgr/ and pha/ hold different clips (e.g. {missing[:3]})')
        self.frames = [list_image_files(os.path.join(videomatte_dir, 'fgr', clip), 'VideoMatte frames') for clip in self.clips]
        self.index = [(clip_idx, frame_idx)
                      for clip_idx in range(len(self.clips))
                      for frame_idx in range(0, len(self.frames[clip_idx]), seq_length)]
        self.size = size
        self.seq_length = seq_length
        self.seq_sampler = seq_sampler
        self.transform = transform

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, idx: int):
        bgrs = self.background()
        fgrs, phas = self._get_videomatte(idx)
        if self.transform is not None:
            return self.transform(fgrs, phas, bgrs)
        return fgrs, phas, bgrs

    def _get_videomatte(self, idx: int) -> Tuple[List[Image.Image], List[Image.Image]]:
        clip_idx, frame_idx = self.index[idx]
        clip, frames = self.clips[clip_idx], self.frames[clip_idx]
        fgrs, phas = [], []
        for i in self.seq_sampler(self.seq_length):
            frame = frames[(frame_idx + i) % len(frames)]
            fgrs.append(open_rgb(os.path.join(self.videomatte_dir, 'fgr', clip, frame), self.size))
            phas.append(open_gray(os.path.join(self.videomatte_dir, 'pha', clip, frame), self.size))
        return fgrs, phas
