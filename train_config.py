"""The configuration of a training run: train.py's flags, the paper's four stages as presets of them,
and where the training data lives.

`STAGES[n]` holds the flags of stage n of the paper (`train.py --stage n`); flags given on the
command line win over them.

The data paths default to the published layout under one data root, `../matting-data`:

    VideoMatte240K_JPEG_SD/{train,valid}/fgr/CLIP/FRAME.jpg     foreground clips
    VideoMatte240K_JPEG_SD/{train,valid}/pha/CLIP/FRAME.jpg     their alpha mattes
    ImageMatte/{train,valid}/{fgr,pha}/NAME.jpg                  still foregrounds and alphas
    Backgrounds/{train,valid}/NAME.jpg                           background images
    BackgroundVideos/{train,valid}/CLIP/FRAME.jpg                background videos as frames
    coco/train2017/NAME.jpg, coco/panoptic_train2017/NAME.png,
    coco/annotations/panoptic_train2017.json                     COCO panoptic
    SuperviselyPersonDataset/{img,seg}/NAME                      Supervisely Person
    YouTubeVIS/train/JPEGImages/VIDEO/FRAME.jpg,
    YouTubeVIS/train/instances.json                              YouTube-VIS

Change them without editing code, in increasing precedence:

- `RVM_DATA_ROOT=/data/matting` (or `train.py --data-root`) moves the whole tree;
- `RVM_DATA_CONFIG=paths.json` (or `train.py --data-config`) overrides single entries, e.g.
  `{"videomatte": {"train": "/fast/VideoMatte240K/train"}}`; relative paths in the file are
  relative to the file's directory.
"""
import argparse
import copy
import json
import os
from typing import Dict, Iterable, List, Optional

DEFAULT_DATA_ROOT = '../matting-data'
RESUME_FILE = 'resume.pth'     # in --checkpoint-dir

# Keyed by train.py's argument names. Each stage starts from the last checkpoint of the one before
# (`--checkpoint`), and its epochs continue the previous stage's count.
STAGES: Dict[int, Dict[str, object]] = {
    1: {  # low resolution, short sequences
        'dataset': 'videomatte', 'train_hr': False, 'resolution_lr': 512, 'seq_length_lr': 15,
        'learning_rate_backbone': 0.0001, 'learning_rate_aspp': 0.0002, 'learning_rate_decoder': 0.0002,
        'learning_rate_refiner': 0, 'epoch_start': 0, 'epoch_end': 20,
    },
    2: {  # long sequences teach the recurrent decoder long-term memory
        'dataset': 'videomatte', 'train_hr': False, 'resolution_lr': 512, 'seq_length_lr': 50,
        'learning_rate_backbone': 0.00005, 'learning_rate_aspp': 0.0001, 'learning_rate_decoder': 0.0001,
        'learning_rate_refiner': 0, 'epoch_start': 20, 'epoch_end': 22,
    },
    3: {  # adds the high-resolution pass, which trains the deep guided filter refiner
        'dataset': 'videomatte', 'train_hr': True, 'resolution_lr': 512, 'resolution_hr': 2048,
        'seq_length_lr': 40, 'seq_length_hr': 6,
        'learning_rate_backbone': 0.00001, 'learning_rate_aspp': 0.00001, 'learning_rate_decoder': 0.00001,
        'learning_rate_refiner': 0.0002, 'epoch_start': 22, 'epoch_end': 23,
    },
    4: {  # image matting data for fine detail
        'dataset': 'imagematte', 'train_hr': True, 'resolution_lr': 512, 'resolution_hr': 2048,
        'seq_length_lr': 40, 'seq_length_hr': 6,
        'learning_rate_backbone': 0.00001, 'learning_rate_aspp': 0.00001, 'learning_rate_decoder': 0.00005,
        'learning_rate_refiner': 0.0002, 'epoch_start': 23, 'epoch_end': 28,
    },
}

DATA_LAYOUT: Dict[str, Dict[str, str]] = {
    'videomatte': {
        'train': 'VideoMatte240K_JPEG_SD/train',
        'valid': 'VideoMatte240K_JPEG_SD/valid',
    },
    'imagematte': {
        'train': 'ImageMatte/train',
        'valid': 'ImageMatte/valid',
    },
    'background_images': {
        'train': 'Backgrounds/train',
        'valid': 'Backgrounds/valid',
    },
    'background_videos': {
        'train': 'BackgroundVideos/train',
        'valid': 'BackgroundVideos/valid',
    },
    'coco_panoptic': {
        'imgdir': 'coco/train2017',
        'anndir': 'coco/panoptic_train2017',
        'annfile': 'coco/annotations/panoptic_train2017.json',
    },
    'spd': {
        'imgdir': 'SuperviselyPersonDataset/img',
        'segdir': 'SuperviselyPersonDataset/seg',
    },
    'youtubevis': {
        'videodir': 'YouTubeVIS/train/JPEGImages',
        'annfile': 'YouTubeVIS/train/instances.json',
    },
}


def build_parser(preset: Dict[str, object]) -> argparse.ArgumentParser:
    """The flags, with `preset` (a `train_config.STAGES` entry) as defaults; the flags it fills are optional."""
    def required(dest: str) -> bool:
        return dest not in preset

    parser = argparse.ArgumentParser(description='Train Robust Video Matting (see the stage commands at the top of train.py).')
    parser.add_argument('--stage', type=int, choices=sorted(STAGES),
                        help='preset the dataset, resolution, sequence length, learning rate and epoch flags of this '
                             'stage of the paper (STAGES in train_config.py); flags given explicitly win')
    parser.add_argument('--model-variant', type=str, required=True, choices=['mobilenetv3', 'resnet50'])
    parser.add_argument('--dataset', type=str, required=required('dataset'), choices=['videomatte', 'imagematte'])
    parser.add_argument('--learning-rate-backbone', type=float, required=required('learning_rate_backbone'))
    parser.add_argument('--learning-rate-aspp', type=float, required=required('learning_rate_aspp'))
    parser.add_argument('--learning-rate-decoder', type=float, required=required('learning_rate_decoder'))
    parser.add_argument('--learning-rate-refiner', type=float, required=required('learning_rate_refiner'))
    parser.add_argument('--train-hr', action=argparse.BooleanOptionalAction, default=False,
                        help='add the high-resolution pass (stages 3 and 4)')
    parser.add_argument('--resolution-lr', type=int, default=512)
    parser.add_argument('--resolution-hr', type=int, default=2048)
    parser.add_argument('--seq-length-lr', type=int, required=required('seq_length_lr'))
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
    parser.set_defaults(**preset)
    return parser


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    # --stage decides the defaults and which flags are required, so it is read first.
    stage_parser = argparse.ArgumentParser(add_help=False)
    stage_parser.add_argument('--stage', type=int, choices=sorted(STAGES))
    stage = stage_parser.parse_known_args(argv)[0].stage
    parser = build_parser(STAGES[stage] if stage else {})
    args = parser.parse_args(argv)
    # The random crop keeps at least half of each side, and the Laplacian loss needs 64 px.
    for flag, value in (('--resolution-lr', args.resolution_lr), ('--resolution-hr', args.resolution_hr)):
        if value < 128:
            parser.error(f'{flag} must be at least 128 (random crops of half of it feed a 5-level Laplacian loss), got {value}')
    if args.epoch_end <= args.epoch_start:
        parser.error(f'--epoch-end ({args.epoch_end}) must be greater than --epoch-start ({args.epoch_start})')
    return args


class DataConfigError(ValueError):
    """A data config file that cannot be read or names unknown entries."""


def load_data_paths(data_root: Optional[str] = None, data_config: Optional[str] = None) -> Dict[str, Dict[str, str]]:
    """The dataset paths: `DATA_LAYOUT` under the data root, then the config file's entries.

    Args:
        data_root: the root; None takes `$RVM_DATA_ROOT`, else `DEFAULT_DATA_ROOT`.
        data_config: a JSON file with a subset of `DATA_LAYOUT`'s keys; None takes `$RVM_DATA_CONFIG` if set.
    """
    data_root = data_root or os.environ.get('RVM_DATA_ROOT') or DEFAULT_DATA_ROOT
    paths = {name: {key: os.path.join(data_root, rel) for key, rel in entries.items()}
             for name, entries in DATA_LAYOUT.items()}
    data_config = data_config or os.environ.get('RVM_DATA_CONFIG')
    if data_config:
        paths = _apply_config(paths, data_config)
    return paths


def _apply_config(paths: Dict[str, Dict[str, str]], config_file: str) -> Dict[str, Dict[str, str]]:
    try:
        with open(config_file) as f:
            config = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise DataConfigError(f'cannot read the data config {config_file}: {e}') from e
    if not isinstance(config, dict):
        raise DataConfigError(f'data config {config_file}: expected a JSON object like {{"videomatte": {{"train": "..."}}}}')
    paths = copy.deepcopy(paths)
    base = os.path.dirname(os.path.abspath(config_file))
    for name, entries in config.items():
        if name not in paths or not isinstance(entries, dict) or not set(entries) <= set(paths[name]):
            raise DataConfigError(f'data config {config_file}: unknown entry {name!r}: {entries!r}; '
                             f'the entries are {json.dumps({n: sorted(e) for n, e in DATA_LAYOUT.items()})}')
        for key, path in entries.items():
            paths[name][key] = os.path.join(base, os.path.expanduser(path))
    return paths


def check_data_paths(paths: Dict[str, Dict[str, str]], names: Iterable[str]) -> None:
    """Raise FileNotFoundError listing every path of the datasets `names` that does not exist."""
    missing = [f'{name}.{key} = {path}' for name in names for key, path in paths[name].items()
               if not os.path.exists(path)]
    if missing:
        raise FileNotFoundError('training data not found:\n  ' + '\n  '.join(missing) +
                                '\nSet RVM_DATA_ROOT or RVM_DATA_CONFIG (see train_config.py), '
                                'or make a synthetic set with: python -m dataset.synthetic --out DIR')
