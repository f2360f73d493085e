"""The PRIOR_EXPONENT parameter shared by csp:classify and csp:prediction_heatmap."""

from __future__ import annotations

from qgis.core import Qgis, QgsProcessingAlgorithm, QgsProcessingParameterNumber

NAME = "PRIOR_EXPONENT"
STORED = -1.0  # the parameter's value for "the α stored in the prior"


def add_prior_exponent_parameter(algorithm: QgsProcessingAlgorithm) -> None:
    """Add the optional α override (-1 = the α stored in the prior, 1 for priors without one)."""
    algorithm.addParameter(QgsProcessingParameterNumber(
        NAME, "Prior exponent α in P(y|image)·P(y|location)^α (-1 = the α stored in the prior)",
        Qgis.ProcessingNumberParameterType.Double, STORED, minValue=STORED))


def prior_exponent_value(algorithm: QgsProcessingAlgorithm, parameters, context) -> float | None:
    """The user's α, or None for the prior's stored α."""
    value = algorithm.parameterAsDouble(parameters, NAME, context)
    return None if value < 0 else value
