"""The BANDS, SENSOR and DATE parameters shared by csp:classify and csp:train_classifier: how the
layer's bands map onto the model's, and the acquisition date for encoders that take the month."""

from __future__ import annotations

from datetime import date

from qgis.core import (
    Qgis,
    QgsProcessingAlgorithm,
    QgsProcessingParameterDateTime,
    QgsProcessingParameterEnum,
    QgsProcessingParameterString,
)

from ..contract.bands import SENSORS
from ..contract.errors import GeoSslError
from ..contract.schema import DEFAULT_MONTH
from ..core.band_mapping import BandChoice, parse_bands

AUTO = "auto (bands by name, else the sensor from the file name)"
SENSOR_KEYS = [None, *SENSORS]
HELP = ("BANDS maps model bands to layer bands: layer band numbers in model band order (0 = missing), e.g. 4,3,2, or "
        "pairs such as B04=1,B03=2,B02=3,B08=4; empty = by band name, alias or wavelength (descriptions such as Red, "
        "SR_B4, nir, swir1, colour interpretation), as the model was trained, or the SENSOR's usual band order. "
        "Encoders with band groups (Presto, Galileo) mask the bands the layer lacks, and a group missing one band, "
        f"instead of inventing them; the log lists the pairs and the masked bands. DATE: the acquisition date of "
        f"the layer (its month is an input of these encoders); empty = a date in the file name or metadata, else "
        f"July (month {DEFAULT_MONTH}).")


def add_band_parameters(algorithm: QgsProcessingAlgorithm) -> None:
    algorithm.addParameter(QgsProcessingParameterString(
        "BANDS", "Band mapping, e.g. 4,3,2 or B04=1,B03=2,B02=3 (empty = by name)", optional=True))
    algorithm.addParameter(QgsProcessingParameterEnum(
        "SENSOR", "Sensor of unnamed bands", [AUTO, *(sensor.title for sensor in SENSORS.values())], defaultValue=0))
    algorithm.addParameter(QgsProcessingParameterDateTime(
        "DATE", "Acquisition date (empty = from the file name or metadata, else July)",
        Qgis.ProcessingDateTimeParameterDataType.Date, optional=True))


def band_parameter_values(algorithm: QgsProcessingAlgorithm, parameters,
                          context) -> tuple[BandChoice | None, str | None, date | None]:
    """(band mapping or None, sensor key or None, acquisition date or None)."""
    bands = parse_bands(algorithm.parameterAsString(parameters, "BANDS", context)) or None
    sensor = SENSOR_KEYS[algorithm.parameterAsEnum(parameters, "SENSOR", context)]
    stamp = algorithm.parameterAsDateTime(parameters, "DATE", context) if parameters.get("DATE") else None
    if stamp is not None and not stamp.isValid():
        raise GeoSslError(f"DATE {parameters.get('DATE')!r} is not a date: give YYYY-MM-DD")
    return bands, sensor, (stamp.date().toPyDate() if stamp is not None else None)
