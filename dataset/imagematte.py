"""ImageMatteDataset: still foregrounds (e.g. AIM, Distinctions-646) as static clips over random backgrounds."""
import os
from typing import Callable, List, Optional

from torch.utils.data import Dataset

from .background import RandomBackground
from .files import list_image_files, open_gray, open_rgb


class ImageMatteDataset(Dataset):
    """One foreground image repeated `seq_length` times, over a random background sequence.

    Layout: `imagematte_dir/fgr/NAME` and `imagematte_dir/pha/NAME` with the same names. Motion comes
    from the augmentation (`ImageMatteAugmentation` moves 95% of the foregrounds). The length is the
    larger of the foreground count and the background count, so every background is seen per epoch.

    Returns `transform(fgrs, phas, bgrs)`, e.g. tensors fgr `[T, 3, H, W]`, pha `[T, 1, H, W]`, bgr `[T, 3, H, W]`.
    """

    def __init__(self, imagematte_dir: str, background_image_dir: str, background_video_dir: str,
                 size: int, seq_length: int, seq_sampler: Callable[[int], List[int]],
                 transform: Optional[Callable] = None):
        self.background = RandomBackground(background_image_dir, background_video_dir, size, seq_length, seq_sampler)
        self.imagematte_dir = imagematte_dir
        self.files = list_image_files(os.path.join(imagematte_dir, 'fgr'), 'ImageMatte foregrounds')
        missing = sorted(set(self.files) - set(list_image_files(os.path.join(imagematte_dir, 'pha'), 'ImageMatte alphas')))
        if missing:
            raise FileNotFoundError(f'{imagematte_dir}: pha/ lacks the alphas of {missing[:3]}')
        self.size = size
        self.seq_length = seq_length
        self.transform = transform

    def __len__(self) -> int:
        return max(len(self.files), len(self.background.image_files) + len(self.background.video_clips))

    def __getitem__(self, idx: int):
        bgrs = self.background()
        name = self.files[idx % len(self.files)]
        fgr = open_rgb(os.path.join(self.imagematte_dir, 'fgr', name), self.size)
        pha = open_gray(os.path.join(self.imagematte_dir, 'pha', name), self.size)
        fgrs, phas = [fgr] * self.seq_length, [pha] * self.seq_length
        if self.transform is not None:
            return self.transform(fgrs, phas, bgrs)
        return fgrs, phas, bgrs
