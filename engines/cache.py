"""Where the engines' files are kept: the exported and quantized graphs, and `auto`'s measurements.

One folder per key, under `$RVM_CACHE_DIR`, else `$XDG_CACHE_HOME/rvm`, else `~/.cache/rvm`:

    engines/<key>/float32.onnx, float32.xml (+ .bin), int8-<key>.onnx, int8-<key>.xml (+ .bin)
    auto/<key>.json

A folder's key hashes the weights (`exporters.metadata.weights_sha256`) and the versions of torch,
onnx, ONNX Runtime and OpenVINO; an int8 file's, the quantization recipe and the calibration data.
So new weights, another version or another recipe make new files, never stale ones. Files
are written under a temporary name and renamed, so an interrupted build leaves nothing half-made.
"""
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Dict


def cache_root() -> Path:
    base = os.environ.get('RVM_CACHE_DIR') or Path(os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache') / 'rvm'
    return Path(base)


def versions() -> Dict[str, str]:
    """The versions of the packages the cached files depend on ('missing' for those not installed)."""
    import importlib.metadata
    found = {}
    for package in ('torch', 'onnx', 'onnxruntime', 'openvino'):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = 'missing'
    return found


def digest(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:24]


def build_once(path: Path, build: Callable[[str], None]) -> Path:
    """`path`, made by `build(temporary path)` when it does not exist yet; OpenVINO's .bin beside an .xml moves too."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        made = Path(tmp) / path.name
        build(str(made))
        if made.suffix == '.xml':
            os.replace(made.with_suffix('.bin'), path.with_suffix('.bin'))
        os.replace(made, path)
    return path
