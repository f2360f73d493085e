"""The one exception family the plugin shows to users (message bar, Processing log, CLI)."""


class GeoSslError(Exception):
    """A problem the user can act on; its message is shown as is, never as a traceback."""


class ModelLoadError(GeoSslError):
    """An ONNX model file is missing, unreadable, corrupt or not one of ours."""


class MissingDependencyError(GeoSslError):
    """A runtime dependency (onnxruntime) is not importable inside QGIS's Python."""
