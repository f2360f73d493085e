"""Qt dialogs and QgsTasks: thin wrappers over :mod:`qgis_csp_plugin.core`."""
