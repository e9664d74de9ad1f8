"""Train Robust Video Matting with the paper's four-stage recipe.

Point train_config.py at the data (or set RVM_DATA_ROOT), then run the stages in order; each
starts from the previous stage's last checkpoint. On a GPU cluster prefix with
`torchrun --nproc-per-node=GPUS` (see documentation/training.md).

    # Stage 1: low resolution, short sequences.
    python train.py --model-variant mobilenetv3 --dataset videomatte --resolution-lr 512 --seq-length-lr 15 \
        --learning-rate-backbone 0.0001 --learning-rate-aspp 0.0002 --learning-rate-decoder 0.0002 \
        --learning-rate-refiner 0 --checkpoint-dir checkpoint/stage1 --log-dir log/stage1 \
        --epoch-start 0 --epoch-end 20
    # Stage 2: long sequences.
    python train.py --model-variant mobilenetv3 --dataset videomatte --resolution-lr 512 --seq-length-lr 50 \
        --learning-rate-backbone 0.00005 --learning-rate-aspp 0.0001 --learning-rate-decoder 0.0001 \
        --learning-rate-refiner 0 --checkpoint checkpoint/stage1/epoch-19.pth \
        --checkpoint-dir checkpoint/stage2 --log-dir log/stage2 --epoch-start 20 --epoch-end 22
    # Stage 3: adds the high-resolution pass that trains the refiner.
    python train.py --model-variant mobilenetv3 --dataset videomatte --train-hr --resolution-lr 512 \
        --resolution-hr 2048 --seq-length-lr 40 --seq-length-hr 6 --learning-rate-backbone 0.00001 \
        --learning-rate-aspp 0.00001 --learning-rate-decoder 0.00001 --learning-rate-refiner 0.0002 \
        --checkpoint checkpoint/stage2/epoch-21.pth --checkpoint-dir checkpoint/stage3 --log-dir log/stage3 \
        --epoch-start 22 --epoch-end 23
    # Stage 4: image matting data for fine detail.
    python train.py --model-variant mobilenetv3 --dataset imagematte --train-hr --resolution-lr 512 \
        --resolution-hr 2048 --seq-length-lr 40 --seq-length-hr 6 --learning-rate-backbone 0.00001 \
        --learning-rate-aspp 0.00001 --learning-rate-decoder 0.00005 --learning-rate-refiner 0.0002 \
        --checkpoint checkpoint/stage3/epoch-22.pth --checkpoint-dir checkpoint/stage4 --log-dir log/stage4 \
        --epoch-start 23 --epoch-end 28

Every step runs a low-resolution matting pass, a high-resolution pass with `--downsample-ratio`
when `--train-hr` is given, and a segmentation pass that alternates between video (YouTube-VIS) and
image (COCO, Supervisely) data. `CHECKPOINT_DIR/epoch-N.pth` is a plain MattingNetwork state_dict;
`CHECKPOINT_DIR/resume.pth` also holds the optimizer, the gradient scaler, the epoch and the step,
for `--resume`.
"""
import argparse
import math
import os
import random
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Dict, Iterator, List

import torch
from torch import Tensor, distributed as dist, nn
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.optim import Adam
from torch.utils.data import ConcatDataset, DataLoader, Dataset, DistributedSampler
from torch.utils.tensorboard import SummaryWriter
from torchvision.transforms.functional import center_crop
from torchvision.utils import make_grid
from tqdm import tqdm

from dataset.augmentation import ImageMatteAugmentation, VideoMatteTrainAugmentation, VideoMatteValidAugmentation
from dataset.coco import CocoPanopticDataset, CocoPanopticTrainAugmentation
from dataset.imagematte import ImageMatteDataset
from dataset.samplers import TrainFrameSampler, ValidFrameSampler
from dataset.spd import SuperviselyPersonDataset
from dataset.videomatte import VideoMatteDataset
from dataset.youtubevis import YouTubeVISAugmentation, YouTubeVISDataset
from model import MattingNetwork, create_model
from model.checkpoint import CheckpointError
from train_config import DataConfigError, check_data_paths, load_data_paths
from train_loss import matting_loss, segmentation_loss

RESUME_FILE = 'resume.pth'
VALIDATION_SEED = 0


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train Robust Video Matting (see the stage commands at the top of train.py).')
    parser.add_argument('--model-variant', type=str, required=True, choices=['mobilenetv3', 'resnet50'])
    parser.add_argument('--dataset', type=str, required=True, choices=['videomatte', 'imagematte'])
    parser.add_argument('--learning-rate-backbone', type=float, required=True)
    parser.add_argument('--learning-rate-aspp', type=float, required=True)
    parser.add_argument('--learning-rate-decoder', type=float, required=True)
    parser.add_argument('--learning-rate-refiner', type=float, required=True)
    parser.add_argument('--train-hr', action='store_true', help='add the high-resolution pass (stages 3 and 4)')
    parser.add_argument('--resolution-lr', type=int, default=512)
    parser.add_argument('--resolution-hr', type=int, default=2048)
    parser.add_argument('--seq-length-lr', type=int, required=True)
    parser.add_argument('--seq-length-hr', type=int, default=6)
    parser.add_argument('--downsample-ratio', type=float, default=0.25, help='of the high-resolution pass')
    parser.add_argument('--batch-size-per-gpu', type=int, default=1, help='per process')
    parser.add_argument('--num-workers', type=int, default=8, help='data loading workers per data loader')
    parser.add_argument('--epoch-start', type=int, default=0)
    parser.add_argument('--epoch-end', type=int, default=16)
    parser.add_argument('--log-dir', type=str, required=True, help='TensorBoard logs')
    parser.add_argument('--log-train-loss-interval', type=int, default=20)
    parser.add_argument('--log-train-images-interval', type=int, default=500)
    parser.add_argument('--checkpoint', type=str, help='a MattingNetwork state_dict to start from (the previous stage)')
    parser.add_argument('--checkpoint-dir', type=str, required=True)
    parser.add_argument('--checkpoint-save-interval', type=int, default=500, help='steps')
    parser.add_argument('--resume', action='store_true',
                        help=f'continue from CHECKPOINT_DIR/{RESUME_FILE}: weights, optimizer, scaler, epoch and step')
    parser.add_argument('--no-pretrained-backbone', action='store_true',
                        help='start the encoder from random weights instead of ImageNet (e.g. offline)')
    parser.add_argument('--data-root', type=str, help='root of the train_config.py layout (default: $RVM_DATA_ROOT)')
    parser.add_argument('--data-config', type=str, help='JSON overriding dataset paths (default: $RVM_DATA_CONFIG)')
    parser.add_argument('--disable-progress-bar', action='store_true')
    parser.add_argument('--disable-validation', action='store_true')
    parser.add_argument('--disable-mixed-precision', action='store_true')
    args = parser.parse_args(argv)
    # The random crop keeps at least half of each side, and the Laplacian loss needs 64 px.
    for flag, value in (('--resolution-lr', args.resolution_lr), ('--resolution-hr', args.resolution_hr)):
        if value < 128:
            parser.error(f'{flag} must be at least 128 (random crops of half of it feed a 5-level Laplacian loss), got {value}')
    if args.epoch_end <= args.epoch_start:
        parser.error(f'--epoch-end ({args.epoch_end}) must be greater than --epoch-start ({args.epoch_start})')
    return args


# ----------------------------------------------------------------------------------- processes


@dataclass
class Runtime:
    """Where this process runs: rank among `world_size` processes, and its device."""
    rank: int
    world_size: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.world_size > 1 or dist.is_initialized()

    @property
    def main(self) -> bool:
        return self.rank == 0

    def log(self, msg: str) -> None:
        if self.main:
            tqdm.write(msg)


def init_runtime() -> Runtime:
    """One process on a GPU or the CPU; or, under torchrun (WORLD_SIZE and LOCAL_RANK set), one process
    per GPU joined with NCCL, or CPU processes joined with gloo."""
    if 'WORLD_SIZE' not in os.environ or 'LOCAL_RANK' not in os.environ:
        return Runtime(0, 1, torch.device('cuda' if torch.cuda.is_available() else 'cpu'))
    local_rank = int(os.environ['LOCAL_RANK'])
    if torch.cuda.is_available():
        device = torch.device('cuda', local_rank)
        torch.cuda.set_device(device)
        dist.init_process_group('nccl', device_id=device)
    else:
        device = torch.device('cpu')
        dist.init_process_group('gloo')
    return Runtime(dist.get_rank(), dist.get_world_size(), device)


def all_finite(value: Tensor, rt: Runtime) -> bool:
    """Whether `value` is finite on every process (so all of them stop together)."""
    finite = torch.isfinite(value.detach()).all().to(torch.float32)
    if rt.distributed:
        dist.all_reduce(finite, op=dist.ReduceOp.MIN)
    return bool(finite.item())


# --------------------------------------------------------------------------------------- data


class ResumableSampler(DistributedSampler):
    """A DistributedSampler whose epoch can start `skip` samples in, to continue an interrupted epoch."""

    skip = 0

    def __iter__(self) -> Iterator[int]:
        return iter(list(super().__iter__())[self.skip:])

    def __len__(self) -> int:
        return self.num_samples - self.skip


def make_loader(dataset: Dataset, batch_size: int, sampler, args, rt: Runtime, **kwargs) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=args.num_workers,
                      pin_memory=rt.device.type == 'cuda', persistent_workers=args.num_workers > 0, **kwargs)


def endless(dataset: Dataset, batch_size: int, args, rt: Runtime) -> Iterator:
    """Batches of `dataset`, shuffled anew each pass, forever (the high-resolution and segmentation streams)."""
    sampler = DistributedSampler(dataset, num_replicas=rt.world_size, rank=rt.rank, shuffle=True)
    loader = make_loader(dataset, batch_size, sampler, args, rt)
    epoch = 0
    while True:
        sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


def build_matting_datasets(args, paths: Dict[str, Dict[str, str]]):
    """The low-resolution training set, the high-resolution one (or None) and the validation set."""
    if args.dataset == 'videomatte':
        dataset_cls, train_aug, valid_aug = VideoMatteDataset, VideoMatteTrainAugmentation, VideoMatteValidAugmentation
    else:
        dataset_cls, train_aug, valid_aug = ImageMatteDataset, ImageMatteAugmentation, ImageMatteAugmentation

    def make(split, resolution, seq_length, seq_sampler, augmentation):
        return dataset_cls(paths[args.dataset][split], paths['background_images'][split],
                           paths['background_videos'][split], size=resolution, seq_length=seq_length,
                           seq_sampler=seq_sampler, transform=augmentation((resolution, resolution)))

    train_lr = make('train', args.resolution_lr, args.seq_length_lr, TrainFrameSampler(), train_aug)
    train_hr = make('train', args.resolution_hr, args.seq_length_hr, TrainFrameSampler(), train_aug) if args.train_hr else None
    if args.train_hr:
        valid = make('valid', args.resolution_hr, args.seq_length_hr, ValidFrameSampler(), valid_aug)
    else:
        valid = make('valid', args.resolution_lr, args.seq_length_lr, ValidFrameSampler(), valid_aug)
    return train_lr, train_hr, valid


def build_segmentation_datasets(args, paths: Dict[str, Dict[str, str]]):
    """Image segmentation (COCO panoptic + Supervisely) and video segmentation (YouTube-VIS) sets."""
    size = (args.resolution_lr, args.resolution_lr)
    coco, spd, ytvis = paths['coco_panoptic'], paths['spd'], paths['youtubevis']
    image = ConcatDataset([
        CocoPanopticDataset(coco['imgdir'], coco['anndir'], coco['annfile'], CocoPanopticTrainAugmentation(size)),
        SuperviselyPersonDataset(spd['imgdir'], spd['segdir'], CocoPanopticTrainAugmentation(size)),
    ])
    video = YouTubeVISDataset(ytvis['videodir'], ytvis['annfile'], size=args.resolution_lr,
                              seq_length=args.seq_length_lr, seq_sampler=TrainFrameSampler(speed=[1]),
                              transform=YouTubeVISAugmentation(size))
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
    """Run a block with Python's and torch's CPU random generators seeded, then restore them."""
    state = random.getstate()
    with torch.random.fork_rng(devices=[]):
        random.seed(seed)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(state)


# ------------------------------------------------------------------------------------- checkpoints


def atomic_save(obj, path: str) -> None:
    """torch.save to a temporary file in the same directory, fsync, then rename over `path`.

    A crash at any moment leaves either the old file or the new one, never a partial file.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f'.{os.path.basename(path)}.', suffix='.tmp')
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)     # mkstemp creates 0600; give the file the usual permissions
        with os.fdopen(fd, 'wb') as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_resume_state(path: str, model: nn.Module, optimizer, scaler, epoch: int, step: int) -> None:
    """Everything `--resume` needs to continue with step `step` of epoch `epoch`."""
    atomic_save({'model': model.state_dict(), 'optimizer': optimizer.state_dict(), 'scaler': scaler.state_dict(),
                 'epoch': epoch, 'step': step}, path)


def load_resume_state(path: str, model: nn.Module, optimizer, scaler, device: torch.device):
    """Restore what `save_resume_state` wrote; returns `(epoch, step)`."""
    if not os.path.isfile(path):
        raise CheckpointError(f'--resume: {path} does not exist (it is written every --checkpoint-save-interval steps)')
    state = torch.load(path, map_location=device, weights_only=True)
    model.load_state_dict(state['model'])
    optimizer.load_state_dict(state['optimizer'])
    scaler.load_state_dict(state['scaler'])
    return state['epoch'], state['step']


# ----------------------------------------------------------------------------------------- model


def build_model(args, rt: Runtime) -> MattingNetwork:
    if args.checkpoint and not args.resume:  # the previous stage replaces the ImageNet weights anyway
        rt.log(f'Starting from {args.checkpoint}')
    # On --resume the weights come from the resume file.
    model = create_model(args.model_variant, checkpoint=None if args.resume else args.checkpoint,
                         refiner='deep_guided_filter',
                         pretrained_backbone=not (args.resume or args.checkpoint or args.no_pretrained_backbone))
    return model.to(rt.device).train()


def build_optimizer(args, model: MattingNetwork) -> Adam:
    """Adam with one parameter group per part of the network (the projection heads learn with the decoder)."""
    return Adam([
        {'params': model.backbone.parameters(), 'lr': args.learning_rate_backbone},
        {'params': model.aspp.parameters(), 'lr': args.learning_rate_aspp},
        {'params': model.decoder.parameters(), 'lr': args.learning_rate_decoder},
        {'params': model.project_mat.parameters(), 'lr': args.learning_rate_decoder},
        {'params': model.project_seg.parameters(), 'lr': args.learning_rate_decoder},
        {'params': model.refiner.parameters(), 'lr': args.learning_rate_refiner},
    ])


class NonFiniteLoss(RuntimeError):
    pass


# -------------------------------------------------------------------------------------- training


def main(argv=None) -> None:
    args = parse_args(argv)
    rt = init_runtime()
    paths = load_data_paths(args.data_root, args.data_config)
    check_data_paths(paths, [args.dataset, 'background_images', 'background_videos', 'coco_panoptic', 'spd', 'youtubevis'])

    # Mixed precision (float16 autocast + loss scaling) where the device supports it: CUDA.
    use_amp = rt.device.type == 'cuda' and not args.disable_mixed_precision
    if rt.device.type != 'cuda' and not args.disable_mixed_precision:
        rt.log(f'Mixed precision needs CUDA; training in float32 on the {rt.device.type}.')

    def autocast():
        return torch.amp.autocast(rt.device.type, dtype=torch.float16, enabled=use_amp)

    rt.log(f'Processes: {rt.world_size}, device: {rt.device}')
    rt.log('Initializing datasets')
    dataset_lr_train, dataset_hr_train, dataset_valid = build_matting_datasets(args, paths)
    dataset_seg_image, dataset_seg_video = build_segmentation_datasets(args, paths)
    B, T = args.batch_size_per_gpu, args.seq_length_lr
    sampler_lr = ResumableSampler(dataset_lr_train, num_replicas=rt.world_size, rank=rt.rank, shuffle=True)
    loader_lr = make_loader(dataset_lr_train, B, sampler_lr, args, rt)
    steps_per_epoch = math.ceil(sampler_lr.num_samples / B)
    stream_hr = endless(dataset_hr_train, B, args, rt) if args.train_hr else None
    stream_seg_video = endless(dataset_seg_video, B, args, rt)
    stream_seg_image = endless(dataset_seg_image, B * T, args, rt)

    rt.log('Initializing model')
    model = build_model(args, rt)
    if rt.distributed and rt.device.type == 'cuda':
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model_ddp = DDP(model, device_ids=[rt.device.index] if rt.device.type == 'cuda' else None,
                    broadcast_buffers=False, find_unused_parameters=True) if rt.distributed else model
    optimizer = build_optimizer(args, model)
    scaler = torch.amp.GradScaler(rt.device.type, enabled=use_amp)

    resume_path = os.path.join(args.checkpoint_dir, RESUME_FILE)
    epoch_start, step = args.epoch_start, args.epoch_start * steps_per_epoch
    if args.resume:
        epoch_start, step = load_resume_state(resume_path, model, optimizer, scaler, rt.device)
        rt.log(f'Resuming from {resume_path} at epoch {epoch_start}, step {step}')

    writer = SummaryWriter(args.log_dir) if rt.main else None

    def optimize(loss: Tensor, what: str) -> None:
        if not all_finite(loss, rt):
            raise NonFiniteLoss(f'the {what} loss became {loss.item()} at step {step}')
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)

    def log_images(prefix: str, nrow: int, **images: Tensor) -> None:
        for name, img in images.items():
            writer.add_image(f'{prefix}_{name}', make_grid(img.detach().float().flatten(0, 1), nrow=nrow), step)

    def train_mat(true_fgr, true_pha, true_bgr, downsample_ratio: float, tag: str) -> None:
        """One matting pass on fgr `[B, T, 3, H, W]`, pha `[B, T, 1, H, W]`, bgr `[B, T, 3, H, W]`."""
        true_fgr, true_pha, true_bgr = (x.to(rt.device, non_blocking=True) for x in (true_fgr, true_pha, true_bgr))
        true_fgr, true_pha, true_bgr = random_crop(true_fgr, true_pha, true_bgr)
        true_src = true_fgr * true_pha + true_bgr * (1 - true_pha)
        with autocast():
            pred_fgr, pred_pha = model_ddp(true_src, downsample_ratio=downsample_ratio)[:2]
            loss = matting_loss(pred_fgr, pred_pha, true_fgr, true_pha)
        optimize(loss['total'], f'{tag} matting')
        if writer and step % args.log_train_loss_interval == 0:
            for name, value in loss.items():
                writer.add_scalar(f'train_{tag}_{name}', value, step)
        if writer and step % args.log_train_images_interval == 0:
            log_images(f'train_{tag}', true_src.size(1), pred_fgr=pred_fgr, pred_pha=pred_pha,
                       true_fgr=true_fgr, true_pha=true_pha, true_src=true_src)

    def train_seg(true_img, true_seg, tag: str) -> None:
        """One segmentation pass on img `[B, T, 3, H, W]` and seg `[B, T, 1, H, W]`."""
        true_img, true_seg = random_crop(true_img.to(rt.device, non_blocking=True), true_seg.to(rt.device, non_blocking=True))
        with autocast():
            pred_seg = model_ddp(true_img, segmentation_pass=True)[0]
            loss = segmentation_loss(pred_seg, true_seg)
        optimize(loss, tag)
        # Video and image passes alternate; log both at the interval.
        if writer and (step - step % 2) % args.log_train_loss_interval == 0:
            writer.add_scalar(f'{tag}_loss', loss, step)
        if writer and (step - step % 2) % args.log_train_images_interval == 0:
            log_images(tag, T, pred_seg=pred_seg.float().sigmoid(), true_seg=true_seg, true_img=true_img)

    @torch.no_grad()
    def validate() -> None:
        """Average matting loss and alpha MAD over the validation set, split over the processes.

        The augmentation of the validation set is seeded, so every validation sees the same data.
        """
        model.eval()
        totals = torch.zeros(3, dtype=torch.float64, device=rt.device)   # loss, MAD, samples
        indices = list(range(rt.rank, len(dataset_valid), rt.world_size))
        loader = make_loader(dataset_valid, B, indices, args, rt, generator=torch.Generator().manual_seed(VALIDATION_SEED))
        with seeded(VALIDATION_SEED + rt.rank), autocast():
            for true_fgr, true_pha, true_bgr in tqdm(loader, desc='validation', disable=args.disable_progress_bar or not rt.main,
                                                     dynamic_ncols=True, leave=False):
                true_fgr, true_pha, true_bgr = (x.to(rt.device, non_blocking=True) for x in (true_fgr, true_pha, true_bgr))
                true_src = true_fgr * true_pha + true_bgr * (1 - true_pha)
                pred_fgr, pred_pha = model(true_src)[:2]
                n = true_src.size(0)
                totals[0] += matting_loss(pred_fgr, pred_pha, true_fgr, true_pha)['total'].item() * n
                totals[1] += (pred_pha.float() - true_pha).abs().mean().item() * n
                totals[2] += n
        if rt.distributed:
            dist.all_reduce(totals)
        valid_loss, valid_mad = (totals[:2] / totals[2]).tolist()
        rt.log(f'Validation at step {step}: loss {valid_loss:.4f}, alpha MAD {valid_mad * 1e3:.2f}e-3')
        if writer:
            writer.add_scalar('valid_loss', valid_loss, step)
            writer.add_scalar('valid_pha_mad', valid_mad, step)
        model.train()

    def save(epoch: int, resume_epoch: int, resume_step: int) -> None:
        """`epoch-N.pth` (the weights), and the resume state for continuing with step `resume_step`."""
        if rt.main:
            atomic_save(model.state_dict(), os.path.join(args.checkpoint_dir, f'epoch-{epoch}.pth'))
            save_resume_state(resume_path, model, optimizer, scaler, resume_epoch, resume_step)
        if rt.distributed:
            dist.barrier()

    epoch = epoch_start
    try:
        for epoch in range(epoch_start, args.epoch_end):
            # Steps of this epoch already done: > 0 only when resuming in the middle of it.
            skip = min(max(step - epoch * steps_per_epoch, 0), steps_per_epoch)
            if skip == 0 and not args.disable_validation:
                validate()
            rt.log(f'Training epoch {epoch}')
            sampler_lr.set_epoch(epoch)
            sampler_lr.skip = min(skip * B, sampler_lr.num_samples)
            for true_fgr, true_pha, true_bgr in tqdm(loader_lr, initial=skip, total=steps_per_epoch,
                                                     disable=args.disable_progress_bar or not rt.main, dynamic_ncols=True):
                train_mat(true_fgr, true_pha, true_bgr, downsample_ratio=1, tag='lr')
                if args.train_hr:
                    train_mat(*next(stream_hr), downsample_ratio=args.downsample_ratio, tag='hr')
                if step % 2 == 0:
                    train_seg(*next(stream_seg_video), tag='seg_video')
                else:
                    true_img, true_seg = next(stream_seg_image)    # [B * T, C, H, W]: one frame per clip
                    train_seg(true_img.unsqueeze(1), true_seg.unsqueeze(1), tag='seg_image')
                if step % args.checkpoint_save_interval == 0:
                    save(epoch, epoch, step + 1)
                step += 1
            save(epoch, epoch + 1, step)
        if not args.disable_validation:
            validate()
    except NonFiniteLoss as e:
        weights_finite = all(torch.isfinite(p).all() for p in model.parameters())
        if weights_finite and rt.main:
            save_resume_state(resume_path, model, optimizer, scaler, epoch, step)
        where = (f'saved the last good state to {resume_path}' if weights_finite else
                 f'the weights are no longer finite; the last good state is the last one saved in {resume_path}')
        if rt.main:
            print(f'error: {e}; {where}. Lower the learning rates or inspect the data, then continue with --resume.',
                  file=sys.stderr)
        sys.exit(1)
    finally:
        if writer:
            writer.close()
        if dist.is_initialized():
            dist.destroy_process_group()
    rt.log(f'Done: {args.checkpoint_dir}/epoch-{args.epoch_end - 1}.pth')


if __name__ == '__main__':
    try:
        main()
    except (CheckpointError, DataConfigError, FileNotFoundError) as e:
        sys.exit(f'error: {e}')
