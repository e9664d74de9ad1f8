"""The in-browser page: `export.py --format web` writes a folder that any static host serves as it is.

    DIR/index.html, style.css, src/*.js   the page (web/ in this repository)
    DIR/ort/                              ONNX Runtime Web: its WebGPU and WebAssembly builds
    DIR/models/NAME.PRECISION.onnx        the network (export.py --format onnx's graph: dynamic size,
                                          downsample_ratio read at run time), weights stored in float32,
                                          float16 and 8 bits (`weights.py`)
    DIR/models.json                       the models the page offers

Exporting another checkpoint into the same folder adds it to the page's Model menu (same name:
replaced). ONNX Runtime Web comes from .node-web (web/package.json, pinned by its lock; `bash
.ci/setup` installs it).
"""
import json
import shutil
import tempfile
from pathlib import Path
from typing import Optional

import onnx
import torch

from model import MattingNetwork, detect_variant

from .onnx_dynamic import export_onnx
from .toolchains import ROOT, toolchain
from .weights import WEIGHT_PRECISIONS, store_weights

PAGE = ROOT / 'web'
PAGE_FILES = ['index.html', 'style.css', 'src']
# The two builds the page loads (runtime.js: WebGPU, WebAssembly) and the WebAssembly each fetches
RUNTIME_FILES = ['ort.min.mjs', 'ort-wasm-simd-threaded.jsep.mjs', 'ort-wasm-simd-threaded.jsep.wasm',
                 'ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm']


def runtime_folder() -> Path:
    """onnxruntime-web's dist/ in .node-web (or RVM_WEB_MODULES); a one-line error when missing."""
    return toolchain('web_modules') / 'onnxruntime-web' / 'dist'


def model_name(model: MattingNetwork, checkpoint: Optional[str]) -> str:
    variant, refiner = detect_variant(model.state_dict())
    return f'{variant} ({Path(checkpoint).name})' if checkpoint else f'{variant} (published)'


def file_stem(name: str) -> str:
    return ''.join(c if c.isalnum() or c in '-_' else '_' for c in name).strip('_')


def write_page(output: Path) -> None:
    """The page's sources and the runtime, replacing those of an earlier export."""
    output.mkdir(parents=True, exist_ok=True)
    for name in PAGE_FILES:
        source, target = PAGE / name, output / name
        if source.is_dir():
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)
    runtime = runtime_folder()
    (output / 'ort').mkdir(exist_ok=True)
    for name in RUNTIME_FILES:
        shutil.copyfile(runtime / name, output / 'ort' / name)


def write_models(model: MattingNetwork, output: Path, name: str, opset: int, device: str) -> dict:
    """The network in each weight precision under `output/models`; returns its models.json entry."""
    (output / 'models').mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        export_onnx(model, str(Path(tmp) / 'rvm.onnx'), opset, device, torch.float32)
        float32 = onnx.load(str(Path(tmp) / 'rvm.onnx'))
    for node in float32.graph.node:
        del node.metadata_props[:]  # the exporter's stack traces: 4% of the file, of no use to the page
    variant, refiner = detect_variant(model.state_dict())
    entry = {'name': name, 'variant': variant, 'refiner': refiner, 'weights': {}}
    for precision in WEIGHT_PRECISIONS:
        proto = onnx.ModelProto()
        proto.CopyFrom(float32)
        path = output / 'models' / f'{file_stem(name)}.{precision}.onnx'
        onnx.save(store_weights(proto, precision), str(path))
        entry['weights'][precision] = {'file': f'models/{path.name}', 'bytes': path.stat().st_size}
    return entry


def add_to_manifest(output: Path, entry: dict) -> None:
    """models.json with `entry` added, or in place of the entry of the same name."""
    path = output / 'models.json'
    models = json.loads(path.read_text())['models'] if path.exists() else []
    models = [m for m in models if m['name'] != entry['name']] + [entry]
    path.write_text(json.dumps({'models': models}, indent=2) + '\n')


def export_web(model: MattingNetwork, output: str, checkpoint: Optional[str] = None, opset: int = 18,
               device: str = 'cpu') -> dict:
    """Write (or add `model` to) the page's folder `output`; returns the model's models.json entry."""
    folder = Path(output)
    write_page(folder)
    entry = write_models(model, folder, model_name(model, checkpoint), opset, device)
    add_to_manifest(folder, entry)
    return entry
