"""A headless QGIS application with Processing and the plugin's provider, for the scripts that run the plugin's
own algorithms (``processing.run("csp:…")``). Import it after ``sys.path`` holds the repository and
``/usr/share/qgis/python/plugins``; call ``app.exitQgis()`` when done."""

from __future__ import annotations

from qgis.core import QgsApplication


def start_qgis() -> QgsApplication:
    """Start QGIS without a GUI, initialise Processing and register the plugin's provider."""
    app = QgsApplication([], False)
    app.initQgis()
    from processing.core.Processing import Processing

    from qgis_csp_plugin.processing.provider import GeoSslProvider

    Processing.initialize()
    provider = GeoSslProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    # QGIS holds only the C++ object: the Python one must live as long as the application, or exitQgis()
    # and the provider's destructor free it twice (a segmentation fault at exit)
    app._csp_provider = provider
    return app


def stop_qgis(app: QgsApplication) -> None:
    """Close the project and free every layer a script or algorithm left before QGIS exits (a layer
    freed after ``exitQgis()`` crashes the interpreter at exit)."""
    import gc

    from qgis.core import QgsProject

    QgsProject.instance().clear()
    gc.collect()
    app.exitQgis()
