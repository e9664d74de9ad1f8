"""The data plumbing of train.py: the datasets of a stage, the loaders over a process's shard, and the
random crop applied to every batch on the device."""
import random
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch.nn import functional as F
from torch.utils.data import ConcatDataset, DataLoader, Dataset, DistributedSampler, Sampler
from torchvision.transforms.functional import center_crop

from .augmentation import ImageMatteAugmentation, VideoMatteTrainAugmentation, VideoMatteValidAugmentation
from .coco import CocoPanopticDataset, CocoPanopticTrainAugmentation
from .imagematte import ImageMatteDataset
from .samplers import TrainFrameSampler, ValidFrameSampler
from .spd import SuperviselyPersonDataset
from .videomatte import VideoMatteDataset
from .youtubevis import YouTubeVISAugmentation, YouTubeVISDataset

Paths = Dict[str, Dict[str, str]]   # train_config.load_data_paths()


class ResumableSampler(DistributedSampler):
    """A DistributedSampler whose epoch can start `skip` samples in, to continue an interrupted epoch."""

    skip = 0

    def __iter__(self) -> Iterator[int]:
        return iter(list(super().__iter__())[self.skip:])

    def __len__(self) -> int:
        return self.num_samples - self.skip


def make_loader(dataset: Dataset, batch_size: int, sampler: Union[Sampler, Sequence[int]], num_workers: int,
                pin_memory: bool, **kwargs) -> DataLoader:
    """A DataLoader whose workers live as long as it does (a new epoch does not restart them)."""
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                      pin_memory=pin_memory, persistent_workers=num_workers > 0, **kwargs)


def endless(dataset: Dataset, batch_size: int, num_workers: int, pin_memory: bool,
            rank: int, world_size: int) -> Iterator:
    """Batches of process `rank`'s shard of `dataset`, shuffled anew each pass, forever (the
    high-resolution and segmentation streams)."""
    sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True)
    loader = make_loader(dataset, batch_size, sampler, num_workers, pin_memory)
    epoch = 0
    while True:
        sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


def build_matting_datasets(dataset: str, paths: Paths, resolution_lr: int, seq_length_lr: int, train_hr: bool,
                           resolution_hr: int, seq_length_hr: int) -> Tuple[Dataset, Optional[Dataset], Dataset]:
    """The low-resolution training set, the high-resolution one (None without `train_hr`) and the
    validation set (at the high resolution with `train_hr`) of `dataset` ('videomatte' or 'imagematte').

    Items are fgr `[T, 3, S, S]`, pha `[T, 1, S, S]`, bgr `[T, 3, S, S]` at resolution S, sequence length T.
    """
    if dataset == 'videomatte':
        dataset_cls, train_aug, valid_aug = VideoMatteDataset, VideoMatteTrainAugmentation, VideoMatteValidAugmentation
    else:
        dataset_cls, train_aug, valid_aug = ImageMatteDataset, ImageMatteAugmentation, ImageMatteAugmentation

    def make(split, resolution, seq_length, seq_sampler, augmentation):
        return dataset_cls(paths[dataset][split], paths['background_images'][split],
                           paths['background_videos'][split], size=resolution, seq_length=seq_length,
                           seq_sampler=seq_sampler, transform=augmentation((resolution, resolution)))

    train_lr = make('train', resolution_lr, seq_length_lr, TrainFrameSampler(), train_aug)
    if not train_hr:
        return train_lr, None, make('valid', resolution_lr, seq_length_lr, ValidFrameSampler(), valid_aug)
    hr = make('train', resolution_hr, seq_length_hr, TrainFrameSampler(), train_aug)
    return train_lr, hr, make('valid', resolution_hr, seq_length_hr, ValidFrameSampler(), valid_aug)


def build_segmentation_datasets(paths: Paths, resolution: int, seq_length: int) -> Tuple[Dataset, Dataset]:
    """Image segmentation (COCO panoptic + Supervisely; img `[3, S, S]`, seg `[1, S, S]`) and video
    segmentation (YouTube-VIS; img `[T, 3, S, S]`, seg `[T, 1, S, S]`) sets."""
    size = (resolution, resolution)
    coco, spd, ytvis = paths['coco_panoptic'], paths['spd'], paths['youtubevis']
    image = ConcatDataset([
        CocoPanopticDataset(coco['imgdir'], coco['anndir'], coco['annfile'], CocoPanopticTrainAugmentation(size)),
        SuperviselyPersonDataset(spd['imgdir'], spd['segdir'], CocoPanopticTrainAugmentation(size)),
    ])
    video = YouTubeVISDataset(ytvis['videodir'], ytvis['annfile'], size=resolution, seq_length=seq_length,
                              seq_sampler=TrainFrameSampler(speed=[1]), transform=YouTubeVISAugmentation(size))
    return image, video


def random_crop(*clips: Tensor) -> List[Tensor]:
    """The same random crop of every clip `[B, T, C, H, W]`: scale to a square of the crop's longer side,
    then cut a centred `h x w` with `h` in `[H/2, H)` and `w` in `[W/2, W)`."""
    h, w = clips[0].shape[-2:]
    w = random.choice(range(w // 2, w))
    h = random.choice(range(h // 2, h))
    results = []
    for clip in clips:
        B, T = clip.shape[:2]
        clip = F.interpolate(clip.flatten(0, 1), (max(h, w), max(h, w)), mode='bilinear', align_corners=False)
        results.append(center_crop(clip, [h, w]).reshape(B, T, *clip.shape[1:2], h, w))
    return results


@contextmanager
def seeded(seed: int):
    """Run a block with Python's and torch's CPU random generators seeded, then restore them (the
    augmentation of a validation draws from both)."""
    state = random.getstate()
    with torch.random.fork_rng(devices=[]):
        random.seed(seed)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(state)
