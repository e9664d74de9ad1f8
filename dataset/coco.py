"""CocoPanopticDataset: person segmentation from COCO panoptic annotations, and the image segmentation augmentations."""
import json
import os
import random
from typing import Callable, Dict, Optional, Tuple

import numpy as np
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import transforms
from torchvision.transforms import functional as F

# COCO categories counted as the person: person, backpack, tie.
PERSON_CATEGORIES = (1, 27, 32)


class CocoPanopticDataset(Dataset):
    """COCO images that contain a person, with a binary mask of person, backpack and tie segments.

    Layout: `imgdir/NAME.jpg`, `anndir/NAME.png` (panoptic PNG: segment id = R + 256 G + 256^2 B) and
    `annfile`, the panoptic json whose `annotations` list `file_name` and `segments_info` (`id`,
    `category_id`). Returns `transform(img, seg)` of an RGB image and an L mask (0 or 255), e.g.
    with `CocoPanopticTrainAugmentation` tensors img `[3, H, W]` and seg `[1, H, W]` in 0..1.
    """

    def __init__(self, imgdir: str, anndir: str, annfile: str, transform: Optional[Callable] = None):
        with open(annfile) as f:
            annotations = json.load(f)['annotations']
        self.data = [data for data in annotations if any(info['category_id'] == 1 for info in data['segments_info'])]
        if not self.data:
            raise ValueError(f'{annfile} has no annotation with a person (category 1)')
        self.imgdir = imgdir
        self.anndir = anndir
        self.transform = transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, idx: int):
        data = self.data[idx]
        with Image.open(os.path.join(self.imgdir, data['file_name'].replace('.png', '.jpg'))) as img:
            img = img.convert('RGB')
        seg = self._load_seg(data)
        if self.transform is not None:
            return self.transform(img, seg)
        return img, seg

    def _load_seg(self, data: Dict) -> Image.Image:
        with Image.open(os.path.join(self.anndir, data['file_name'])) as ann:
            ann = np.asarray(ann.convert('RGB'), dtype=np.int32)
        ids = ann[:, :, 0] + 256 * ann[:, :, 1] + 256 * 256 * ann[:, :, 2]
        person_ids = [info['id'] for info in data['segments_info'] if info['category_id'] in PERSON_CATEGORIES]
        return Image.fromarray(np.isin(ids, person_ids).astype(np.uint8) * 255)


class CocoPanopticTrainAugmentation:
    """Affine, resized crop to `size` `(H, W)`, flip and colour jitter for an (image, mask) pair.

    Returns img `[3, H, W]` and seg `[1, H, W]`, floats in 0..1 (the mask stays binary: nearest sampling).
    """

    def __init__(self, size: Tuple[int, int]):
        self.size = size
        self.jitter = transforms.ColorJitter(0.1, 0.1, 0.1, 0.1)

    def __call__(self, img: Image.Image, seg: Image.Image) -> Tuple[Tensor, Tensor]:
        params = transforms.RandomAffine.get_params(degrees=[-20, 20], translate=[0.1, 0.1], scale_ranges=[1, 1],
                                                    shears=[-10, 10], img_size=list(img.size))
        img = F.affine(img, *params, interpolation=F.InterpolationMode.BILINEAR)
        seg = F.affine(seg, *params, interpolation=F.InterpolationMode.NEAREST)

        params = transforms.RandomResizedCrop.get_params(img, scale=(0.5, 1), ratio=(0.7, 1.3))
        img = F.resized_crop(img, *params, self.size, interpolation=F.InterpolationMode.BILINEAR)
        seg = F.resized_crop(seg, *params, self.size, interpolation=F.InterpolationMode.NEAREST)

        if random.random() < 0.5:
            img = F.hflip(img)
            seg = F.hflip(seg)

        img = self.jitter(img)
        return F.to_tensor(img), F.to_tensor(seg)
