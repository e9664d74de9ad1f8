"""What a user hands the app, made safe: uploads are copied into the job's folder under fixed names
(an uploaded name never becomes a path), zips of images are unpacked flat, and a --media-root
choice is resolved inside that folder or refused.
"""
import os
import shutil
import zipfile
from pathlib import Path
from typing import List, Optional

from streaming import ConversionError
from streaming.formats import INPUT_EXTENSIONS, is_image_file, list_images, natural_key


def _suffix(name: str, allowed) -> str:
    """The lower-case extension of `name` when it is one of `allowed`, else ''."""
    ext = os.path.splitext(name)[1].lower()
    return ext if ext in allowed else ''


def check_size(path: str, max_bytes: int, what: str) -> None:
    size = os.path.getsize(path)
    if size > max_bytes:
        raise ConversionError(f'{what} is {size / 2**20:.1f} MB, over the limit of {max_bytes / 2**20:.0f} MB '
                              f'(--max-upload-mb)')


def unpack_images(archive: str, folder: Path, max_bytes: int) -> Path:
    """The images of zip `archive` unpacked flat into `folder/input` (their base names kept for their
    order; folders inside the zip, hidden files and other files skipped). Returns that directory."""
    target = folder / 'input'
    target.mkdir()
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            names = {m: os.path.basename(m.filename.replace('\\', '/')) for m in members}
            images = [m for m in members if not names[m].startswith('.') and is_image_file(names[m])]
            if not images:
                raise ConversionError('the zip holds no images (an image sequence is a zip of .png or .jpg frames)')
            if sum(m.file_size for m in images) > max_bytes:
                raise ConversionError(f'the zip unpacks to over {max_bytes / 2**20:.0f} MB (--max-upload-mb)')
            if len({names[m] for m in images}) < len(images):
                raise ConversionError('the zip holds two images of one name in different folders; '
                                      'put the frames of one sequence in one folder')
            for member in images:
                with zf.open(member) as src, open(target / names[member], 'wb') as dst:
                    shutil.copyfileobj(src, dst)
    except zipfile.BadZipFile as e:
        raise ConversionError(f'the upload is not a readable zip ({e})') from e
    return target


def take_upload(upload: str, folder: Path, max_bytes: int) -> str:
    """The uploaded file `upload` (Gradio's copy) as the job's input: a video copied to
    `folder/input.EXT`, or a zip of images unpacked into `folder/input/`. Returns the input path."""
    check_size(upload, max_bytes, 'the upload')
    if zipfile.is_zipfile(upload):
        return str(unpack_images(upload, folder, max_bytes))
    target = folder / ('input' + _suffix(upload, INPUT_EXTENSIONS))
    shutil.copyfile(upload, target)
    return str(target)


def take_background(upload: str, folder: Path, max_bytes: int) -> str:
    """An uploaded background image or video copied to `folder/background.EXT` (its extension tells
    the core which it is). Returns the path."""
    check_size(upload, max_bytes, 'the background')
    ext = os.path.splitext(upload)[1].lower()
    if not (is_image_file(upload) or ext in INPUT_EXTENSIONS):
        raise ConversionError(f'the background must be an image or a video, not a {ext or "file without extension"}')
    target = folder / ('background' + ext)
    shutil.copyfile(upload, target)
    return str(target)


def media_choices(root: Optional[str], limit: int = 500) -> List[str]:
    """The videos and image folders under `root` (paths relative to it, in natural order), at most `limit`."""
    if root is None:
        return []
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted((d for d in dirnames if not d.startswith('.')), key=natural_key)
        relative = os.path.relpath(dirpath, root)
        if relative != '.' and list_images(dirpath):
            found.append(relative + os.sep)
        found += [os.path.normpath(os.path.join(relative, name)) for name in sorted(filenames, key=natural_key)
                  if not name.startswith('.') and _suffix(name, INPUT_EXTENSIONS)]
        if len(found) >= limit:
            break
    return sorted(found[:limit], key=natural_key)


def resolve_media(root: Optional[str], choice: str) -> str:
    """The path of `choice` (one of `media_choices`) inside `root`; anything outside it is refused."""
    if root is None:
        raise ConversionError('the server was started without --media-root')
    base = os.path.realpath(root)
    path = os.path.realpath(os.path.join(base, choice))
    if os.path.commonpath([base, path]) != base or not os.path.exists(path):
        raise ConversionError(f'{choice!r} is not in the media folder')
    return path
