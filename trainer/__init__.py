"""geo-SSL trainer: CSP and geography-aware MoCo pre-training, fine-tuning, ONNX export."""

__version__ = "0.1.0"
