"""Train Robust Video Matting with the paper's four-stage recipe.

Point train_config.py at the data (or set RVM_DATA_ROOT), then run the stages in order. `--stage N`
fills the published flags of stage N (`train_config.STAGES`: dataset, high-resolution pass,
resolutions, sequence lengths, learning rates, epochs); a flag given explicitly wins over the preset.
Each stage starts from the previous stage's last checkpoint. The flags are defined in train_config.py
(`python train.py --help`). On a GPU cluster prefix with `torchrun --nproc-per-node=GPUS` (see
documentation/training.md).

    # Stage 1: low resolution, short sequences.
    python train.py --stage 1 --model-variant mobilenetv3 --checkpoint-dir checkpoint/stage1 --log-dir log/stage1
    # Stage 2: long sequences.
    python train.py --stage 2 --model-variant mobilenetv3 --checkpoint checkpoint/stage1/epoch-19.pth \
        --checkpoint-dir checkpoint/stage2 --log-dir log/stage2
    # Stage 3: adds the high-resolution pass that trains the refiner.
    python train.py --stage 3 --model-variant mobilenetv3 --checkpoint checkpoint/stage2/epoch-21.pth \
        --checkpoint-dir checkpoint/stage3 --log-dir log/stage3
    # Stage 4: image matting data for fine detail.
    python train.py --stage 4 --model-variant mobilenetv3 --checkpoint checkpoint/stage3/epoch-22.pth \
        --checkpoint-dir checkpoint/stage4 --log-dir log/stage4

Every step runs a low-resolution matting pass, a high-resolution pass with `--downsample-ratio`
when `--train-hr` is given, and a segmentation pass that alternates between video (YouTube-VIS) and
image (COCO, Supervisely) data. `CHECKPOINT_DIR/epoch-N.pth` is a plain MattingNetwork state_dict;
`CHECKPOINT_DIR/resume.pth` also holds the optimizer, the gradient scaler, the epoch and the step,
for `--resume`.
"""
import argparse
import math
import os
import sys
from dataclasses import dataclass
from typing import Iterator, List, Optional

import torch
from torch import Tensor, distributed as dist, nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.optim import Adam
from torch.utils.data import DataLoader, Dataset
from torch.utils.tensorboard import SummaryWriter
from torchvision.utils import make_grid
from tqdm import tqdm

from dataset.training import (ResumableSampler, build_matting_datasets, build_segmentation_datasets, endless,
                              make_loader, random_crop, seeded)
from model import MattingNetwork, create_model
from model.checkpoint import CheckpointError, atomic_save, load_resume_state, save_resume_state
from streaming.images import composite
from train_config import RESUME_FILE, DataConfigError, check_data_paths, load_data_paths, parse_args
from train_loss import matting_loss, segmentation_loss

VALIDATION_SEED = 0


# ------------------------------------------------------------------------------------------ set-up


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

    @property
    def cuda(self) -> bool:
        return self.device.type == 'cuda'

    def log(self, msg: str) -> None:
        if self.main:
            tqdm.write(msg)

    def put(self, *tensors: Tensor) -> List[Tensor]:
        """`tensors` on this process's device (without waiting, from the loaders' pinned memory)."""
        return [x.to(self.device, non_blocking=True) for x in tensors]


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


@dataclass
class Data:
    """This process's share of the data. `loader_lr` yields fgr `[B, T, 3, H, W]`, pha `[B, T, 1, H, W]`,
    bgr `[B, T, 3, H, W]` batches, one epoch at a time; `hr` (None without --train-hr) and `seg_video`
    (img, seg `[B, T, C, H, W]`) and `seg_image` (img, seg `[B * T, C, H, W]`) never end."""
    sampler_lr: ResumableSampler
    loader_lr: DataLoader
    steps_per_epoch: int
    hr: Optional[Iterator]
    seg_video: Iterator
    seg_image: Iterator
    valid: Dataset

    def epoch(self, epoch: int, skip: int) -> DataLoader:
        """The low-resolution batches of `epoch` from step `skip` on (the steps before a resume are skipped)."""
        self.sampler_lr.set_epoch(epoch)
        self.sampler_lr.skip = min(skip * self.loader_lr.batch_size, self.sampler_lr.num_samples)
        return self.loader_lr


def build_data(args: argparse.Namespace, rt: Runtime) -> Data:
    """The datasets the flags name, after checking that every path exists, sharded over the processes."""
    paths = load_data_paths(args.data_root, args.data_config)
    check_data_paths(paths, [args.dataset, 'background_images', 'background_videos', 'coco_panoptic', 'spd', 'youtubevis'])
    rt.log('Initializing datasets')
    train_lr, train_hr, valid = build_matting_datasets(args.dataset, paths, args.resolution_lr, args.seq_length_lr,
                                                       args.train_hr, args.resolution_hr, args.seq_length_hr)
    seg_image, seg_video = build_segmentation_datasets(paths, args.resolution_lr, args.seq_length_lr)
    B, T = args.batch_size_per_gpu, args.seq_length_lr
    loading = dict(num_workers=args.num_workers, pin_memory=rt.cuda)
    shard = dict(rank=rt.rank, world_size=rt.world_size)
    sampler_lr = ResumableSampler(train_lr, num_replicas=rt.world_size, rank=rt.rank, shuffle=True)
    return Data(sampler_lr, make_loader(train_lr, B, sampler_lr, **loading), math.ceil(sampler_lr.num_samples / B),
                endless(train_hr, B, **loading, **shard) if args.train_hr else None,
                endless(seg_video, B, **loading, **shard), endless(seg_image, B * T, **loading, **shard), valid)


@dataclass
class Training:
    """What the steps share: the network (`model_ddp` syncs its gradients across processes), Adam, the
    gradient scaler (enabled with mixed precision), the TensorBoard writer (rank 0 only), the step."""
    args: argparse.Namespace
    rt: Runtime
    model: MattingNetwork
    model_ddp: nn.Module
    optimizer: Adam
    scaler: torch.amp.GradScaler
    writer: Optional[SummaryWriter]
    step: int

    @property
    def resume_path(self) -> str:
        return os.path.join(self.args.checkpoint_dir, RESUME_FILE)

    def autocast(self):
        return torch.amp.autocast(self.rt.device.type, dtype=torch.float16, enabled=self.scaler.is_enabled())


def build_training(args: argparse.Namespace, rt: Runtime, step: int) -> Training:
    """The model (from --checkpoint, ImageNet or random weights), optimizer and scaler, at global step `step`."""
    # Mixed precision (float16 autocast + loss scaling) where the device supports it: CUDA.
    if not rt.cuda and not args.disable_mixed_precision:
        rt.log(f'Mixed precision needs CUDA; training in float32 on the {rt.device.type}.')
    rt.log('Initializing model')
    if args.checkpoint and not args.resume:
        rt.log(f'Starting from {args.checkpoint}')
    # On --resume the weights come from the resume file; a checkpoint replaces the ImageNet weights anyway.
    model = create_model(args.model_variant, checkpoint=None if args.resume else args.checkpoint,
                         refiner='deep_guided_filter',
                         pretrained_backbone=not (args.resume or args.checkpoint or args.no_pretrained_backbone))
    model = model.to(rt.device).train()
    if rt.distributed and rt.cuda:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model_ddp = DDP(model, device_ids=[rt.device.index] if rt.cuda else None,
                    broadcast_buffers=False, find_unused_parameters=True) if rt.distributed else model
    # One parameter group per part of the network; the projection heads learn with the decoder.
    optimizer = Adam([
        {'params': model.backbone.parameters(), 'lr': args.learning_rate_backbone},
        {'params': model.aspp.parameters(), 'lr': args.learning_rate_aspp},
        {'params': model.decoder.parameters(), 'lr': args.learning_rate_decoder},
        {'params': model.project_mat.parameters(), 'lr': args.learning_rate_decoder},
        {'params': model.project_seg.parameters(), 'lr': args.learning_rate_decoder},
        {'params': model.refiner.parameters(), 'lr': args.learning_rate_refiner},
    ])
    scaler = torch.amp.GradScaler(rt.device.type, enabled=rt.cuda and not args.disable_mixed_precision)
    writer = SummaryWriter(args.log_dir) if rt.main else None
    return Training(args, rt, model, model_ddp, optimizer, scaler, writer, step)


def resume(t: Training) -> int:
    """Restore the weights, optimizer, scaler and step from the resume file; returns the epoch to continue."""
    epoch, t.step = load_resume_state(t.resume_path, t.model, t.optimizer, t.scaler, t.rt.device)
    t.rt.log(f'Resuming from {t.resume_path} at epoch {epoch}, step {t.step}')
    return epoch


# ------------------------------------------------------------------------------------------- steps


class NonFiniteLoss(RuntimeError):
    pass


def optimize(t: Training, loss: Tensor, what: str) -> None:
    """One Adam update; a loss that is not finite on some process stops every process before the update."""
    finite = torch.isfinite(loss.detach()).all().to(torch.float32)
    if t.rt.distributed:
        dist.all_reduce(finite, op=dist.ReduceOp.MIN)
    if not finite.item():
        raise NonFiniteLoss(f'the {what} loss became {loss.item()} at step {t.step}')
    t.scaler.scale(loss).backward()
    t.scaler.step(t.optimizer)
    t.scaler.update()
    t.optimizer.zero_grad(set_to_none=True)


def log_images(t: Training, prefix: str, nrow: int, **images: Tensor) -> None:
    """Each of `images` `[B, T, C, H, W]` as one grid, `nrow` frames a row."""
    for name, img in images.items():
        t.writer.add_image(f'{prefix}_{name}', make_grid(img.detach().float().flatten(0, 1), nrow=nrow), t.step)


def train_matting_step(t: Training, true_fgr: Tensor, true_pha: Tensor, true_bgr: Tensor,
                       downsample_ratio: float, tag: str) -> None:
    """One matting pass on fgr `[B, T, 3, H, W]`, pha `[B, T, 1, H, W]`, bgr `[B, T, 3, H, W]`, randomly cropped."""
    true_fgr, true_pha, true_bgr = random_crop(*t.rt.put(true_fgr, true_pha, true_bgr))
    true_src = composite(true_fgr, true_pha, true_bgr)
    with t.autocast():
        pred_fgr, pred_pha = t.model_ddp(true_src, downsample_ratio=downsample_ratio)[:2]
        loss = matting_loss(pred_fgr, pred_pha, true_fgr, true_pha)
    optimize(t, loss['total'], f'{tag} matting')
    if t.writer and t.step % t.args.log_train_loss_interval == 0:
        for name, value in loss.items():
            t.writer.add_scalar(f'train_{tag}_{name}', value, t.step)
    if t.writer and t.step % t.args.log_train_images_interval == 0:
        log_images(t, f'train_{tag}', true_src.size(1), pred_fgr=pred_fgr, pred_pha=pred_pha,
                   true_fgr=true_fgr, true_pha=true_pha, true_src=true_src)


def train_segmentation_step(t: Training, true_img: Tensor, true_seg: Tensor, tag: str) -> None:
    """One segmentation pass on img `[B, T, 3, H, W]` and seg `[B, T, 1, H, W]`, randomly cropped."""
    true_img, true_seg = random_crop(*t.rt.put(true_img, true_seg))
    with t.autocast():
        pred_seg = t.model_ddp(true_img, segmentation_pass=True)[0]
        loss = segmentation_loss(pred_seg, true_seg)
    optimize(t, loss, tag)
    # Video and image passes alternate; log both at the interval.
    if t.writer and (t.step - t.step % 2) % t.args.log_train_loss_interval == 0:
        t.writer.add_scalar(f'{tag}_loss', loss, t.step)
    if t.writer and (t.step - t.step % 2) % t.args.log_train_images_interval == 0:
        log_images(t, tag, t.args.seq_length_lr, pred_seg=pred_seg.float().sigmoid(), true_seg=true_seg, true_img=true_img)


@torch.no_grad()
def validate(t: Training, dataset: Dataset) -> None:
    """Average matting loss and alpha MAD over the validation set, split over the processes.

    The augmentation of the validation set is seeded, so every validation sees the same data.
    """
    rt, model = t.rt, t.model
    model.eval()
    totals = torch.zeros(3, dtype=torch.float64, device=rt.device)   # loss, MAD, samples
    indices = list(range(rt.rank, len(dataset), rt.world_size))
    loader = make_loader(dataset, t.args.batch_size_per_gpu, indices, t.args.num_workers, rt.cuda,
                         generator=torch.Generator().manual_seed(VALIDATION_SEED))
    with seeded(VALIDATION_SEED + rt.rank), t.autocast():
        for true_fgr, true_pha, true_bgr in tqdm(loader, desc='validation', dynamic_ncols=True, leave=False,
                                                 disable=t.args.disable_progress_bar or not rt.main):
            true_fgr, true_pha, true_bgr = rt.put(true_fgr, true_pha, true_bgr)
            pred_fgr, pred_pha = model(composite(true_fgr, true_pha, true_bgr))[:2]
            n = true_fgr.size(0)
            totals[0] += matting_loss(pred_fgr, pred_pha, true_fgr, true_pha)['total'].item() * n
            totals[1] += (pred_pha.float() - true_pha).abs().mean().item() * n
            totals[2] += n
    if rt.distributed:
        dist.all_reduce(totals)
    valid_loss, valid_mad = (totals[:2] / totals[2]).tolist()
    rt.log(f'Validation at step {t.step}: loss {valid_loss:.4f}, alpha MAD {valid_mad * 1e3:.2f}e-3')
    if t.writer:
        t.writer.add_scalar('valid_loss', valid_loss, t.step)
        t.writer.add_scalar('valid_pha_mad', valid_mad, t.step)
    model.train()


def save(t: Training, epoch: int, resume_epoch: int, resume_step: int) -> None:
    """`epoch-N.pth` (the weights), and the resume state for continuing with step `resume_step`."""
    if t.rt.main:
        atomic_save(t.model.state_dict(), os.path.join(t.args.checkpoint_dir, f'epoch-{epoch}.pth'))
        save_resume_state(t.resume_path, t.model, t.optimizer, t.scaler, resume_epoch, resume_step)
    if t.rt.distributed:
        dist.barrier()


def save_last_good_state(t: Training, epoch: int, error: NonFiniteLoss) -> None:
    """After a non-finite loss: keep the weights for --resume if they are still finite, and say where they are."""
    weights_finite = all(torch.isfinite(p).all() for p in t.model.parameters())
    if weights_finite and t.rt.main:
        save_resume_state(t.resume_path, t.model, t.optimizer, t.scaler, epoch, t.step)
    where = (f'saved the last good state to {t.resume_path}' if weights_finite else
             f'the weights are no longer finite; the last good state is the last one saved in {t.resume_path}')
    if t.rt.main:
        print(f'error: {error}; {where}. Lower the learning rates or inspect the data, then continue with --resume.',
              file=sys.stderr)


# ------------------------------------------------------------------------------------------ the loop


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    rt = init_runtime()
    rt.log(f'Processes: {rt.world_size}, device: {rt.device}')
    data = build_data(args, rt)
    t = build_training(args, rt, step=args.epoch_start * data.steps_per_epoch)
    epoch = args.epoch_start
    try:
        if args.resume:
            epoch = resume(t)
        for epoch in range(epoch, args.epoch_end):
            # Steps of this epoch already done: > 0 only when resuming in the middle of it.
            skip = min(max(t.step - epoch * data.steps_per_epoch, 0), data.steps_per_epoch)
            if skip == 0 and not args.disable_validation:
                validate(t, data.valid)
            rt.log(f'Training epoch {epoch}')
            for true_fgr, true_pha, true_bgr in tqdm(data.epoch(epoch, skip), initial=skip, total=data.steps_per_epoch,
                                                     disable=args.disable_progress_bar or not rt.main, dynamic_ncols=True):
                train_matting_step(t, true_fgr, true_pha, true_bgr, downsample_ratio=1, tag='lr')
                if args.train_hr:
                    train_matting_step(t, *next(data.hr), downsample_ratio=args.downsample_ratio, tag='hr')
                if t.step % 2 == 0:
                    train_segmentation_step(t, *next(data.seg_video), tag='seg_video')
                else:
                    true_img, true_seg = next(data.seg_image)    # [B * T, C, H, W]: one frame per clip
                    train_segmentation_step(t, true_img.unsqueeze(1), true_seg.unsqueeze(1), tag='seg_image')
                if t.step % args.checkpoint_save_interval == 0:
                    save(t, epoch, epoch, t.step + 1)
                t.step += 1
            save(t, epoch, epoch + 1, t.step)
        if not args.disable_validation:
            validate(t, data.valid)
    except NonFiniteLoss as e:
        save_last_good_state(t, epoch, e)
        sys.exit(1)
    finally:
        if t.writer:
            t.writer.close()
        if dist.is_initialized():
            dist.destroy_process_group()
    rt.log(f'Done: {args.checkpoint_dir}/epoch-{args.epoch_end - 1}.pth')


if __name__ == '__main__':
    try:
        main()
    except (CheckpointError, DataConfigError, FileNotFoundError) as e:
        sys.exit(f'error: {e}')
