"""Errors the CLI reports as one clear line (exit code 2) instead of a traceback."""

from qgis_csp_plugin.contract.errors import GeoSslError


class TrainerError(GeoSslError):
    """Bad configuration, data or checkpoint; the message says what to fix."""
