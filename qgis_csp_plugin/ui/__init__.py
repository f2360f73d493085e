"""Qt dialogs and the QgsTasks that run :mod:`qgis_csp_plugin.jobs` in the background."""
