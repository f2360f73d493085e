"""Processing provider ``csp`` and its algorithms (the toolbar actions' jobs, :mod:`qgis_csp_plugin.jobs`)."""
