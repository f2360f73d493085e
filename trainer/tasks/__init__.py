"""LightningModules (one per method/stage); each can describe itself for ONNX export."""
