"""What runs the network on the CPU behind a `streaming.Matter`: PyTorch (the deployment path,
`model.deploy`), ONNX Runtime or OpenVINO, in float32 or 8-bit.

    network = build_engine(model, 'openvino', 'int8')     # a module with MattingNetwork's forward
    matter = Matter(network, 'cpu', torch.float32)        # states, ratio and reset as for PyTorch

`streaming.make_matter` does this for the options record's `engine` and `precision`, so every
entry point (convert_video, the CLI, batches, live.py, the web app) has them. An engine other than
PyTorch runs the graph of `export.py --format onnx` (`exporters.onnx_dynamic`), quantized for int8
(`exporters.int8`, calibrated on real frames: `exporters.calibration`), built once per weights
and cached (`cache.py`); `runtimes.py` has the modules, `auto.py` the measured choice of `auto`.

This module imports nothing heavy: `streaming.options` takes its names from here.
"""
ENGINES = ('pytorch', 'onnxruntime', 'openvino')
PRECISIONS = ('float32', 'int8')
AUTO = 'auto'
# The requirements of each runtime, named in the error when one is missing
REQUIREMENTS = 'requirements/engines.txt'


def check_engine(engine: str, precision: str) -> None:
    """ValueError when `engine` cannot run `precision`: PyTorch's own 8-bit path is not offered
    (documentation/inference.md, "8-bit": pt2e needs torchao and an inductor compile per shape)."""
    if engine not in ENGINES + (AUTO,):
        raise ValueError(f'engine {engine!r} is not one of {", ".join(ENGINES + (AUTO,))}')
    if precision not in PRECISIONS:
        raise ValueError(f'precision {precision!r} is not one of {", ".join(PRECISIONS)}')
    if engine == 'pytorch' and precision == 'int8':
        raise ValueError('int8 runs on the onnxruntime and openvino engines (or auto), not pytorch')


def build_engine(model, engine: str, precision: str = 'float32', threads: int = 0):
    """`model` (a MattingNetwork on the CPU) run by `engine` in `precision`: a module with
    MattingNetwork's forward signature and outputs, torch tensors on the CPU. 'pytorch' returns the
    model itself (Placement prepares it); 'auto' the choice of `auto.choose`. `threads`: the
    runtime's threads (0: torch's). An engine module (the web app keeps one per model) is returned as it is."""
    from .runtimes import RuntimeNetwork, runtime_network
    check_engine(engine, precision)
    if isinstance(model, RuntimeNetwork):
        if engine not in (AUTO, model.engine) or (engine != AUTO and precision != model.precision):
            raise ValueError(f'this network runs in {model.engine} {model.precision}; build {engine} {precision} from '
                             f'the MattingNetwork')
        return model
    if engine == AUTO:
        from .auto import choose
        engine, precision = choose(model, threads)
    if engine == 'pytorch':
        return model
    return runtime_network(model, engine, precision, threads)
