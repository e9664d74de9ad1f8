"""Static ONNX to SavedModel and TFLite with onnx2tf; runs in .venv-export (no torch there).

    .venv-export/bin/python -m exporters.tf_convert STATIC.onnx OUTPUT_DIR

Writes OUTPUT_DIR/saved_model (signature `serving_default`: inputs src, r1i..r4i, outputs fgr, pha,
r1o..r4o, all NCHW as in ONNX) and OUTPUT_DIR/rvm_float32.tflite, rvm_float16.tflite (same names in
their `serving_default` signature). `exporters/tensorflow.py` calls it.
"""
import shutil
import sys
import tempfile
from pathlib import Path

import onnx2tf
import tensorflow as tf

INPUTS = ['src', 'r1i', 'r2i', 'r3i', 'r4i']
OUTPUTS = ['fgr', 'pha', 'r1o', 'r2o', 'r3o', 'r4o']


def convert(onnx_path: str, output_dir: str) -> None:
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / 'rvm.onnx'  # onnx2tf rewrites the file it is given
        shutil.copyfile(onnx_path, copy)
        converted = Path(tmp) / 'converted'
        # keep_shape_absolutely_input_names: NCHW stays NCHW (onnx2tf would otherwise make the
        # inputs NHWC); copy_onnx_input_output_names_to_tflite: TFLite keeps the ONNX names
        onnx2tf.convert(input_onnx_file_path=str(copy), output_folder_path=str(converted),
                        keep_shape_absolutely_input_names=INPUTS, output_signaturedefs=True,
                        copy_onnx_input_output_names_to_tflite=True, non_verbose=True)
        for precision in ('float32', 'float16'):
            shutil.copyfile(converted / f'rvm_{precision}.tflite', out / f'rvm_{precision}.tflite')
        rename_outputs(str(converted), str(out / 'saved_model'))


def rename_outputs(saved_model: str, output: str) -> None:
    """Re-save `saved_model` with its outputs named as in ONNX (onnx2tf calls them output_0..5)."""
    loaded = tf.saved_model.load(saved_model)
    serve = loaded.signatures['serving_default']
    specs = serve.structured_input_signature[1]

    @tf.function(input_signature=[tf.TensorSpec(specs[n].shape, specs[n].dtype, n) for n in INPUTS])
    def named(src, r1i, r2i, r3i, r4i):
        result = serve(src=src, r1i=r1i, r2i=r2i, r3i=r3i, r4i=r4i)
        return {name: result[f'output_{i}'] for i, name in enumerate(OUTPUTS)}

    tf.saved_model.save(loaded, output, signatures={'serving_default': named})


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    convert(sys.argv[1], sys.argv[2])
