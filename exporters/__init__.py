"""Export RVM to other runtimes, one module per format; `export.py` is the command line.

    onnx         export_onnx.py's graph: runtime downsample_ratio, dynamic size      (onnx_dynamic.py)
    onnx-static  ratio baked, no `If`, shapes folded; fixed size or dynamic H, W     (onnx_static.py)
    torchscript  export_torchscript.py's scripted MattingNetwork                     (export.py)
    openvino     OpenVINO IR from the dynamic ONNX, plus its runner                  (openvino.py)
    tensorflow   SavedModel, tflite  TFLite (onnx2tf, in .venv-export)             (tensorflow.py)
    tfjs         TensorFlow.js graph model (tensorflowjs, in .venv-tfjs)             (tfjs.py)
    coreml       CoreML ML program (coremltools, in .venv-coreml)                   (coreml.py)

This module imports nothing heavy: the TensorFlow-side scripts (`tf_run.py`) run in the export
environments, which have no torch.
"""
