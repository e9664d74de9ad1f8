"""Where the training data lives.

The defaults are the published layout under one data root, `../matting-data`:

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
import copy
import json
import os
from typing import Dict, Iterable, Optional

DEFAULT_DATA_ROOT = '../matting-data'

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
