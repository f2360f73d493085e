"""geo-SSL for QGIS: classify rasters and draw heatmaps with CSP / geography-aware SSL ONNX models."""


def classFactory(iface):  # noqa: N802 (QGIS API name)
    """QGIS entry point: build the plugin for ``iface`` (imports Qt code only now)."""
    from .plugin import GeoSslPlugin

    return GeoSslPlugin(iface)
