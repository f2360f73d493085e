"""The ``qgis_process`` command that repeats a run, for the log of every run of our algorithms."""

from __future__ import annotations

from qgis.core import QgsProcessingAlgorithm, QgsProcessingContext, QgsProcessingFeedback


def log_command(algorithm: QgsProcessingAlgorithm, parameters: dict, context: QgsProcessingContext,
                feedback: QgsProcessingFeedback) -> None:
    """Push the equivalent ``qgis_process run csp:… -- …`` command line (QGIS writes it:
    :meth:`QgsProcessingAlgorithm.asQgisProcessCommand`), or say why there is none."""
    command, ok = algorithm.asQgisProcessCommand(parameters, context)
    if ok:
        feedback.pushCommandInfo(f"qgis_process command: {command}")
    else:
        feedback.pushInfo("this run's parameters cannot be written as a qgis_process command")
