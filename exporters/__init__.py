"""Export RVM to other runtimes; `export.py` is the command line, `pipeline.export` the function.

    onnx         runtime downsample_ratio, dynamic size                              (onnx_dynamic.py)
                 OnnxMatting, its runner (IO binding; numpy and onnxruntime only)    (onnx_runner.py)
    onnx-static  ratio baked, no `If`, shapes folded; fixed size or dynamic H, W     (onnx_static.py)
    torchscript  the scripted MattingNetwork                                         (torchscript.py)
    openvino     OpenVINO IR from the dynamic ONNX, and its f32 runner               (openvino.py)
    tensorflow   SavedModel; tfjs TF.js: dynamic size, ratio an input               (tensorflow.py)
    tflite       TFLite: fixed size, ratio baked; all three the network written in
                 TensorFlow ops from the PyTorch weights                           (tf_network.py)
    coreml       CoreML ML program (coremltools, in .venv-coreml)                   (coreml.py)

formats.py says what each accepts, metadata.py what is written beside each export, toolchains.py
where the separate environments are. This module imports nothing: the TensorFlow-side modules
(`tf_network.py`, `tf_build.py`, `tf_run.py`) run in .venv-export, which has no torch, and
`onnx_runner` needs none.
"""
