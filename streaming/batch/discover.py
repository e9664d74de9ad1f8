"""What a batch converts: the inputs found in a folder or glob, and where each one's outputs go.

    find_inputs('in')          every video under in/ (any depth) and every folder of images
    find_inputs('in/**/*.mp4') what the glob matches (recursive), videos and image folders
    output_paths(item, 'out', {'composition': 'com.mp4'})  ->  {'composition': 'out/a/b/com.mp4'}

An input's name is its path relative to the folder (or the glob's fixed prefix) without its
extension: `in/a/b.mp4` is `a/b`, and its outputs go into `OUT/a/b/`.
"""
import glob
import os
from dataclasses import dataclass
from typing import Dict, List, Optional

from ..formats import INPUT_EXTENSIONS, ConversionError, list_images, natural_key

WORK_PREFIX = '.rvm-'  # the batch's own temporary names start with it; never inputs


@dataclass(frozen=True)
class Input:
    path: str   # a video file or a folder of images
    name: str   # its relative path without the extension: the output folder under --output-dir


def is_video(path: str) -> bool:
    return os.path.isfile(path) and os.path.splitext(path)[1].lower() in INPUT_EXTENSIONS


def is_image_folder(path: str) -> bool:
    return os.path.isdir(path) and bool(list_images(path))


def is_batch_source(source: str) -> bool:
    """Whether `source` names several inputs: a glob, or a folder that is not itself an image sequence."""
    return glob.has_magic(source) or (os.path.isdir(source) and not is_image_folder(source))


def _name(path: str, root: str) -> str:
    relative = os.path.relpath(path, root)
    return relative if os.path.isdir(path) else os.path.splitext(relative)[0]


def _walk(root: str, exclude: Optional[str]) -> List[str]:
    """Videos and image folders under `root`, in order, not under `exclude`; an image folder is one
    input (not descended)."""
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted((d for d in subfolders if not d.startswith('.') and
                                not _inside(os.path.join(folder, d), exclude)), key=natural_key)
        if folder != root and list_images(folder):
            found.append(folder)
            subfolders.clear()
            continue
        found += [os.path.join(folder, f) for f in sorted(files, key=natural_key) if not f.startswith('.') and
                  is_video(os.path.join(folder, f))]
    return found


def _inside(path: str, folder: Optional[str]) -> bool:
    if folder is None:
        return False
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder + os.sep)


def find_inputs(source: str, exclude: Optional[str] = None) -> List[Input]:
    """The inputs of `source` (a folder, a glob, a video or an image folder), in natural order of name;
    none under `exclude` (the output folder, when it lies inside the input folder).

    Raises ConversionError when there is none, naming `source`.
    """
    source = os.fspath(source)
    if glob.has_magic(source):
        root = source
        while glob.has_magic(root):
            root = os.path.dirname(root)
        paths = []
        for match in sorted(glob.glob(source, recursive=True), key=natural_key):
            if WORK_PREFIX in match or _inside(match, exclude):
                continue
            if is_video(match) or is_image_folder(match):
                paths.append(match)
            elif os.path.isdir(match):
                paths += _walk(match, exclude)
        root = root or '.'
    elif os.path.isdir(source) and not is_image_folder(source):
        root, paths = source, _walk(source, exclude)
    elif os.path.exists(source):
        root, paths = os.path.dirname(source) or '.', [source]
    else:
        raise ConversionError(f'input {source} does not exist')
    inputs = sorted({Input(p, _name(p, root)) for p in paths}, key=lambda item: natural_key(item.name))
    if not inputs:
        raise ConversionError(f'input {source}: found no video ({", ".join(INPUT_EXTENSIONS)}) '
                              f'and no folder of images')
    return inputs


def output_paths(item: Input, output_dir: str, names: Dict[str, str]) -> Dict[str, str]:
    """Each output `kind -> name` as a path inside the input's own output folder `output_dir/item.name/`."""
    for kind, name in names.items():
        if os.path.isabs(name) or os.path.dirname(name):
            raise ConversionError(f'--output-{kind} {name}: with --output-dir, give a plain name such as '
                                  f'{os.path.basename(name) or kind}, not a path')
    return {kind: os.path.join(output_dir, item.name, name) for kind, name in names.items()}
