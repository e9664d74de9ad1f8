"""What each export format accepts: precisions, whether it needs a baked size and ratio, which
write ONNX (--opset, --device), and the reduced-precision combinations that are refused (with the
error measured on real frames)."""
from dataclasses import dataclass
from typing import Optional, Tuple

# The opsets of the ONNX formats: torch.onnx.export (the torch.export-based exporter) writes 18 or newer
DEFAULT_OPSET = 18
MIN_OPSET = 18


@dataclass(frozen=True)
class Format:
    precisions: Tuple[str, ...]
    static: bool           # needs --resolution and --downsample-ratio
    ratio: bool            # takes --downsample-ratio (baked in)
    suffix: str            # what --output must end with ('' for a folder)
    onnx: bool = False     # writes ONNX: takes --opset and --device


FORMATS = {
    'onnx': Format(('float32', 'float16', 'int8'), static=False, ratio=False, suffix='.onnx', onnx=True),
    'onnx-static': Format(('float32', 'float16'), static=False, ratio=True, suffix='.onnx', onnx=True),
    'torchscript': Format(('float32', 'float16'), static=False, ratio=False, suffix='.torchscript'),
    'openvino': Format(('float32', 'float16', 'int8'), static=False, ratio=False, suffix='.xml'),
    'tensorflow': Format(('float32',), static=False, ratio=False, suffix=''),
    'tflite': Format(('float32', 'float16', 'int8'), static=True, ratio=True, suffix='.tflite'),
    'tfjs': Format(('float32', 'float16', 'uint8'), static=False, ratio=False, suffix=''),
    'coreml': Format(('float32', 'float16', 'uint8'), static=True, ratio=True, suffix='.mlpackage'),
    # the page's folder; it holds the weights in float32, float16 and 8 bits for the visitor to choose
    'web': Format(('float32',), static=False, ratio=False, suffix='', onnx=True),
}

# Measured with the real MobileNetV3 weights on the real clips (exporters/precision_report.py):
# the fast guided filter's `cov / (var + eps)` with eps 1e-5 does not survive float16 arithmetic.
FAST_GUIDED_FILTER_FLOAT16_ERROR = 0.24
# Formats whose float16 is the weights' storage only, computed in float32: the fast guided filter
# keeps within 0.01 there (documentation/inference.md), so they are not refused.
FLOAT16_WEIGHTS_ONLY = ('tflite', 'tfjs')


def check_request(fmt: str, precision: str, refiner: str, resolution: Optional[Tuple[int, int]],
                  ratio: Optional[float], opset: Optional[int] = None, device: Optional[str] = None) -> Optional[str]:
    """A one-line error for a request `fmt` cannot serve, or None. `opset` and `device`: None when not given."""
    spec = FORMATS[fmt]
    onnx_formats = ', '.join(name for name, f in FORMATS.items() if f.onnx)
    if opset is not None and not spec.onnx:
        return f'--opset: --format {fmt} writes no ONNX file; {onnx_formats} take it'
    if opset is not None and opset < MIN_OPSET:
        return f'--opset {opset}: the exporter writes opset {MIN_OPSET} or newer'
    if device is not None and not spec.onnx:
        return f'--device: --format {fmt} is exported on the CPU; {onnx_formats} take it'
    if fmt == 'web' and precision != 'float32':
        return (f'--precision {precision}: --format web writes the weights in float32, float16 and 8 bits, '
                f'for the visitor to choose in the page')
    if precision not in spec.precisions:
        return f'--precision {precision}: --format {fmt} exports {", ".join(spec.precisions)}'
    if spec.static and (resolution is None or ratio is None):
        return f'--format {fmt} needs a fixed graph: give --resolution W H and --downsample-ratio R'
    if not spec.ratio and ratio is not None:
        return f'--downsample-ratio: --format {fmt} reads the ratio at run time; use onnx-static to bake one in'
    if not spec.static and fmt != 'onnx-static' and resolution is not None:
        return f'--resolution: --format {fmt} has dynamic height and width'
    if fmt == 'onnx-static' and ratio is None:
        return '--format onnx-static needs --downsample-ratio R (and --resolution W H for a fixed size)'
    if ratio is not None and not 0 < ratio <= 1:
        return f'--downsample-ratio {ratio}: expected 0 < R <= 1'
    if resolution is not None and min(resolution) < 16:
        return f'--resolution {resolution[0]} {resolution[1]}: expected at least 16 x 16'
    if refiner == 'fast_guided_filter' and precision == 'float16' and fmt not in FLOAT16_WEIGHTS_ONLY:
        return (f'--precision {precision} with the fast guided filter: its alpha is off by up to '
                f'{FAST_GUIDED_FILTER_FLOAT16_ERROR} in float16 on real frames; export float32, or use '
                f'--model-refiner deep_guided_filter, or --format tflite or tfjs (float16 weights, float32 arithmetic)')
    return None
