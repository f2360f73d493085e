"""Pure-Python core of the plugin: no Qt, no QGIS, no torch (numpy + onnxruntime only)."""
