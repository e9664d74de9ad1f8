"""Random backgrounds for compositing: still images and frames of background videos."""
import os
import random
from typing import Callable, List

from PIL import Image

from .files import list_folders, list_image_files, open_rgb


class RandomBackground:
    """Draws a background sequence of `seq_length` RGB frames, short side capped at `size`.

    Half the time a random still image repeated; otherwise consecutive frames of a random background
    video (a folder of frames) read at the offsets `seq_sampler(seq_length)`, wrapped around its length.

    Layout: `image_dir/NAME.jpg` and `video_dir/CLIP/FRAME.jpg`.
    """

    def __init__(self, image_dir: str, video_dir: str, size: int, seq_length: int,
                 seq_sampler: Callable[[int], List[int]]):
        self.image_dir = image_dir
        self.image_files = list_image_files(image_dir, 'background images')
        self.video_dir = video_dir
        self.video_clips = list_folders(video_dir, 'background videos')
        self.video_frames = [list_image_files(os.path.join(video_dir, clip), 'background video frames')
                             for clip in self.video_clips]
        self.size = size
        self.seq_length = seq_length
        self.seq_sampler = seq_sampler

    def __call__(self) -> List[Image.Image]:
        if random.random() < 0.5:
            return self.random_image()
        return self.random_video()

    def random_image(self) -> List[Image.Image]:
        bgr = open_rgb(os.path.join(self.image_dir, random.choice(self.image_files)), self.size)
        return [bgr] * self.seq_length

    def random_video(self) -> List[Image.Image]:
        clip_idx = random.randrange(len(self.video_clips))
        frames = self.video_frames[clip_idx]
        start = random.randrange(max(1, len(frames) - self.seq_length))
        return [open_rgb(os.path.join(self.video_dir, self.video_clips[clip_idx], frames[(start + i) % len(frames)]),
                         self.size)
                for i in self.seq_sampler(self.seq_length)]
