"""Export RVM to another runtime: one command per format, each writing its metadata beside it.

    python export.py --format onnx --checkpoint rvm_mobilenetv3.pth --output rvm.onnx
    python export.py --format torchscript --precision float16 --output rvm_fp16.torchscript
    python export.py --format onnx-static --downsample-ratio 0.25 --output rvm_trt.onnx   # TensorRT
    python export.py --format openvino --output rvm_openvino.xml
    python export.py --format onnx --precision int8 --output rvm_int8.onnx     # or --format openvino: .xml
    python export.py --format tflite --resolution 1280 720 --downsample-ratio 0.25 \\
        --precision float16 --output rvm_720p.tflite
    python export.py --format tfjs --resolution 640 480 --downsample-ratio 0.5 --precision uint8 --output rvm_tfjs
    python export.py --format web --checkpoint rvm_mobilenetv3.pth --output rvm_web     # the in-browser page

formats   onnx, torchscript, openvino: dynamic size, downsample_ratio read at run time;
          onnx-static: ratio baked, fixed size with --resolution, else dynamic height and width;
          onnx and onnx-static also take --opset and --device (the device to export on);
          tensorflow (SavedModel folder), tflite, tfjs (folder), coreml (.mlpackage): fixed size;
          web: a folder any static host serves, the page that mattes the visitor's camera or videos in
          the browser (ONNX Runtime Web), weights in float32, float16 and 8 bits; takes --opset, --device.
Every export writes OUTPUT.json: input and output names, layout, baked size and ratio, the
first frame's state shapes, precision and the weights' hashes. tensorflow, tflite and tfjs need
.venv-export (and .venv-tfjs), coreml .venv-coreml, web .node-web: `bash .ci/setup` installs them. Without
--checkpoint the published weights are downloaded through torch.hub's cache.
"""
import argparse

from exporters.formats import DEFAULT_OPSET, FORMATS, MIN_OPSET, check_request
from exporters.pipeline import export
from model import detect_variant
from model.factory import add_model_arguments, model_from_arguments


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], epilog=__doc__.split('\n\n', 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    result.add_argument('--format', required=True, choices=list(FORMATS))
    add_model_arguments(result)  # --device: onnx and onnx-static only (the others are exported on the CPU)
    result.add_argument('--precision', choices=['float32', 'float16', 'uint8', 'int8'], default='float32',
                        help='uint8: tfjs and coreml (8-bit weights, float32 arithmetic); int8: onnx, openvino and tflite, '
                             '8-bit weights and activations calibrated on real frames (exported on the CPU)')
    result.add_argument('--resolution', type=int, nargs=2, metavar=('W', 'H'),
                        help='the fixed input size of static formats')
    result.add_argument('--downsample-ratio', type=float, metavar='R', help='the ratio baked into static formats')
    result.add_argument('--opset', type=int, help=f'onnx, onnx-static: the ONNX opset, {MIN_OPSET} or newer '
                                                   f'(default {DEFAULT_OPSET})')
    result.add_argument('--output', required=True, help='the file or folder to write')
    return result


def main(argv=None) -> None:
    cli = parser()
    args = cli.parse_args(argv)
    resolution = tuple(args.resolution) if args.resolution else None
    error = check_request(args.format, args.precision, args.model_refiner or 'deep_guided_filter', resolution,
                          args.downsample_ratio, args.opset, args.device)
    if error:
        cli.error(error)
    model = model_from_arguments(args)
    _, refiner = detect_variant(model.state_dict())
    error = check_request(args.format, args.precision, refiner, resolution, args.downsample_ratio)
    if error:  # the checkpoint's refiner, known only once it is loaded
        cli.error(error)
    meta = export(args.format, model, args.output, args.precision, resolution, args.downsample_ratio, args.checkpoint,
                  args.opset, args.device)
    print(f'wrote {args.output} and {args.output.rstrip("/")}.json ({args.format}, {meta.precision})')


if __name__ == '__main__':
    main()
