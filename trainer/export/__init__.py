"""ONNX export: self-describing models (shared metadata schema) with onnxruntime parity checks."""
