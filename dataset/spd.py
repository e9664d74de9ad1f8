"""SuperviselyPersonDataset: person images with binary masks."""
import os
from typing import Callable, Optional

from PIL import Image
from torch.utils.data import Dataset

from .files import list_image_files


class SuperviselyPersonDataset(Dataset):
    """Images `imgdir/*` paired in natural order (frame2 before frame10) with masks `segdir/*` (L, 0 or 255).

    Returns `transform(img, seg)` of an RGB and an L image; with `CocoPanopticTrainAugmentation`
    tensors img `[3, H, W]` and seg `[1, H, W]`.
    """

    def __init__(self, imgdir: str, segdir: str, transform: Optional[Callable] = None):
        self.img_dir = imgdir
        self.img_files = list_image_files(imgdir, 'Supervisely images')
        self.seg_dir = segdir
        self.seg_files = list_image_files(segdir, 'Supervisely masks')
        if len(self.img_files) != len(self.seg_files):
            raise ValueError(f'Supervisely: {len(self.img_files)} images in {imgdir} '
                             f'but {len(self.seg_files)} masks in {segdir}')
        self.transform = transform

    def __len__(self) -> int:
        return len(self.img_files)

    def __getitem__(self, idx: int):
        with Image.open(os.path.join(self.img_dir, self.img_files[idx])) as img, \
                Image.open(os.path.join(self.seg_dir, self.seg_files[idx])) as seg:
            img = img.convert('RGB')
            seg = seg.convert('L')
        if self.transform is not None:
            return self.transform(img, seg)
        return img, seg
