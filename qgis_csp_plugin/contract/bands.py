"""Band knowledge shared by the trainer and the plugin: Sentinel-2 band names, wavelengths and aliases,
the band groups of the released geo-SSL encoders, other sensors' bands and how a layer's band labels
name a Sentinel-2 band.

Models name their input bands (``ModelMetadata.bands``) with Sentinel-2 names (``B04``) or colour names
(``red``); the trainer selects bands of a product by these names and the plugin matches them against a
layer's band labels (description, colour interpretation), both through :func:`aliases` and
:func:`s2_band_of_label`. Other sensors' bands stand for the Sentinel-2 band of the same role
(Landsat 8 ``B5`` NIR for ``B08``); a band with no counterpart (thermal, panchromatic) maps to nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Canonical Sentinel-2 order used by the 13-band models.
S2_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")
#: RGB models use these names; for Sentinel-2 they are B04, B03, B02.
RGB_BANDS = ("red", "green", "blue")
#: Colour names → Sentinel-2 band names.
ALIASES = {"red": "B04", "green": "B03", "blue": "B02", "nir": "B08"}

#: Central wavelengths in nm of the Sentinel-2A MSI bands (ESA spectral response functions, S2A).
S2_WAVELENGTHS_NM = {"B01": 442.7, "B02": 492.7, "B03": 559.8, "B04": 664.6, "B05": 704.1, "B06": 740.5,
                     "B07": 782.8, "B08": 832.8, "B8A": 864.7, "B09": 945.1, "B10": 1373.5, "B11": 1613.7,
                     "B12": 2202.4}
#: The optical bands of the released Presto and Galileo encoders (Sentinel-2 at 10 and 20 m, in their order).
S2_OPTICAL_BANDS = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
#: Their band groups (the authors' names): a group is used only when every band in it is present,
#: else it is masked, as the released models do.
S2_BAND_GROUPS = {"S2_RGB": ["B02", "B03", "B04"], "S2_Red_Edge": ["B05", "B06", "B07"], "S2_NIR_10m": ["B08"],
                  "S2_NIR_20m": ["B8A"], "S2_SWIR": ["B11", "B12"]}
#: NDVI = (B08 - B04) / (B08 + B04), computed inside the encoders' graphs when both bands are present.
NDVI_BANDS = ("B08", "B04")

#: Words and phrases of band descriptions → Sentinel-2 band (after :func:`_normalise_label`).
WORD_BANDS = {"coastal": "B01", "aerosol": "B01", "blue": "B02", "green": "B03", "red": "B04",
              "rededge1": "B05", "rededge2": "B06", "rededge3": "B07", "nir": "B08", "nir2": "B8A",
              "narrownir": "B8A", "watervapour": "B09", "cirrus": "B10", "swir1": "B11", "swir2": "B12"}
_PHRASES = ((r"near[\s_-]*infra[\s_-]*red|near[\s_-]*ir\b|nir0?8\b", "nir"),
            (r"short[\s_-]*wave[\s_-]*infra[\s_-]*red|shortwave[\s_-]*ir\b", "swir"),
            (r"swir[\s_-]*(1|16)\b", "swir1"), (r"swir[\s_-]*(2|22)\b", "swir2"),
            (r"red[\s_-]*edge[\s_-]*([123])\b", r"rededge\1"), (r"red[\s_-]*edge", "rededge"),
            (r"nir[\s_-]*(narrow|2)\b|narrow[\s_-]*nir", "nir2"), (r"water[\s_-]*vapou?r", "watervapour"),
            (r"\bst_b\d+", "thermal"))
_S2_ID = re.compile(r"^b?0?(\d{1,2}|8a)$")
_WAVELENGTH = re.compile(r"(\d+(?:\.\d+)?)\s*(nm|um|µm|micrometers?|nanometers?)\b")
#: A wavelength written in a label names the Sentinel-2 band within this distance (nm).
WAVELENGTH_TOLERANCE_NM = 35.0


@dataclass(frozen=True)
class SensorBand:
    """One band of another sensor: its product name, central wavelength and Sentinel-2 counterpart."""

    name: str
    wavelength_nm: float
    s2: str | None  # None: no Sentinel-2 counterpart (thermal, panchromatic, yellow)


@dataclass(frozen=True)
class Sensor:
    """A sensor's bands in the order of its usual multi-band files, and how its file names start."""

    key: str
    title: str
    bands: tuple[SensorBand, ...]
    name_pattern: str = ""  # regular expression matching its product/file names
    stacks: tuple[tuple[str, ...], ...] = ()  # other usual band orders of stacked files (band names)

    def band(self, name: str) -> SensorBand | None:
        token = name.lower()
        return next((b for b in self.bands if b.name.lower() == token), None)

    def orders(self) -> list[tuple[SensorBand, ...]]:
        """Band orders of multi-band files of this sensor (all bands first)."""
        stacked = [tuple(self.band(name) for name in names) for names in self.stacks]
        return [self.bands] + [order for order in stacked if all(order)]


def _bands(*rows: tuple[str, float, str | None]) -> tuple[SensorBand, ...]:
    return tuple(SensorBand(*row) for row in rows)


#: Sensors whose band numbers differ from Sentinel-2's (Landsat) or whose files carry no band names.
#: Wavelengths: USGS Landsat band designations; NAIP (Leica ADS) and PlanetScope product specifications.
SENSORS = {
    "landsat_oli": Sensor("landsat_oli", "Landsat 8/9 OLI", _bands(
        ("B1", 443.0, "B01"), ("B2", 482.0, "B02"), ("B3", 561.4, "B03"), ("B4", 654.6, "B04"), ("B5", 864.7, "B08"),
        ("B6", 1608.9, "B11"), ("B7", 2200.7, "B12"), ("B8", 589.5, None), ("B9", 1373.4, "B10")),
        r"^L[CO]0[89]_", (("B1", "B2", "B3", "B4", "B5", "B6", "B7"),)),
    "landsat_etm": Sensor("landsat_etm", "Landsat 7 ETM+", _bands(
        ("B1", 478.0, "B02"), ("B2", 560.0, "B03"), ("B3", 661.0, "B04"), ("B4", 835.0, "B08"),
        ("B5", 1650.0, "B11"), ("B6", 11450.0, None), ("B7", 2208.0, "B12"), ("B8", 706.0, None)),
        r"^LE07_", (("B1", "B2", "B3", "B4", "B5", "B6", "B7"), ("B1", "B2", "B3", "B4", "B5", "B7"))),
    "landsat_tm": Sensor("landsat_tm", "Landsat 4/5 TM", _bands(
        ("B1", 485.0, "B02"), ("B2", 560.0, "B03"), ("B3", 660.0, "B04"), ("B4", 830.0, "B08"),
        ("B5", 1650.0, "B11"), ("B6", 11450.0, None), ("B7", 2215.0, "B12")),
        r"^LT0[45]_", (("B1", "B2", "B3", "B4", "B5", "B7"),)),
    "naip": Sensor("naip", "NAIP (red, green, blue, NIR)", _bands(
        ("red", 635.0, "B04"), ("green", 555.0, "B03"), ("blue", 465.0, "B02"), ("nir", 845.0, "B08")),
        r"^m_\d{7}_(ne|nw|se|sw)_\d{2}_", (("red", "green", "blue"),)),
    "planetscope_4band": Sensor("planetscope_4band", "PlanetScope 4-band (blue, green, red, NIR)", _bands(
        ("blue", 490.0, "B02"), ("green", 565.0, "B03"), ("red", 665.0, "B04"), ("nir", 865.0, "B08")),
        r"_AnalyticMS(_SR)?(_clip)?$"),
    "planetscope_8band": Sensor("planetscope_8band", "PlanetScope 8-band SuperDove", _bands(
        ("coastal_blue", 443.0, "B01"), ("blue", 490.0, "B02"), ("green_i", 531.0, None), ("green", 565.0, "B03"),
        ("yellow", 610.0, None), ("red", 665.0, "B04"), ("rededge", 705.0, "B05"), ("nir", 865.0, "B08")),
        r"_AnalyticMS_8b(_SR)?(_clip)?$"),
}


def aliases(name: str) -> tuple[str, ...]:
    """``name`` first, then the other names of the same band (``red`` ↔ ``B04``)."""
    others = [ALIASES[name]] if name in ALIASES else []
    others += [alias for alias, band in ALIASES.items() if band == name]
    return (name, *others)


def s2_name(name: str) -> str | None:
    """The Sentinel-2 band a model band name stands for (``red`` → ``B04``, ``B8A`` → ``B8A``), or None."""
    if name in S2_WAVELENGTHS_NM:
        return name
    if name.lower() in ALIASES:
        return ALIASES[name.lower()]
    return _s2_id(name.lower())


def wavelength_nm(name: str) -> float | None:
    """Central wavelength of a model band (a Sentinel-2 name or alias)."""
    band = s2_name(name)
    return S2_WAVELENGTHS_NM.get(band) if band else None


def _s2_id(token: str) -> str | None:
    match = _S2_ID.match(token)
    if not match:
        return None
    number = match.group(1)
    band = "B8A" if number == "8a" else f"B{int(number):02d}"
    return band if band in S2_WAVELENGTHS_NM else None


def _normalise_label(label: str) -> str:
    text = label.lower().replace("µ", "u")
    for pattern, replacement in _PHRASES:
        text = re.sub(pattern, replacement, text)
    return text


def nearest_s2_band(wavelength: float, tolerance: float = WAVELENGTH_TOLERANCE_NM) -> str | None:
    """The Sentinel-2 band whose central wavelength lies within ``tolerance`` nm of ``wavelength``."""
    band, centre = min(S2_WAVELENGTHS_NM.items(), key=lambda item: abs(item[1] - wavelength))
    return band if abs(centre - wavelength) <= tolerance else None


def s2_band_of_label(label: str, sensor: Sensor | None = None) -> str | None:
    """The Sentinel-2 band a layer band's label names, or None when it names none or several.

    In order: a band id (``B4``, ``B04``, ``SR_B4``, ``B8A``; with a ``sensor``, its own numbering, e.g.
    Landsat 5 ``B4`` = NIR = ``B08``), a wavelength written in the label (``665 nm``, ``0.865 um``),
    then words (``red``, ``nir``, ``swir1``, ``red edge 2``, ``near infrared``; a colour interpretation
    ``Red`` counts as a word). Surface-temperature bands (``ST_B10``) name nothing.
    """
    text = _normalise_label(label)
    if "thermal" in text.split():
        return None
    tokens = re.findall(r"[a-z0-9]+", text)
    ids = set()
    for token in tokens:
        sensor_band = sensor.band(token) if sensor is not None else None
        if sensor_band is not None:
            ids.add(sensor_band.s2)
        elif re.match(r"^b\d{1,2}$|^b?0?8a$", token):
            ids.add(_s2_id(token))
    ids.discard(None)
    if ids:
        return ids.pop() if len(ids) == 1 else None
    wavelengths = {nearest_s2_band(float(v) * (1000.0 if unit.startswith(("u", "mi")) else 1.0))
                   for v, unit in _WAVELENGTH.findall(text)} - {None}
    if wavelengths:
        return wavelengths.pop() if len(wavelengths) == 1 else None
    words = {WORD_BANDS[t] for t in tokens if t in WORD_BANDS}
    return words.pop() if len(words) == 1 else None


def detect_sensor(name: str) -> Sensor | None:
    """The sensor whose product naming ``name`` (a file or layer name without folder) follows, or None."""
    stem = re.sub(r"\.(tif|tiff|vrt|jp2|img)$", "", name.strip(), flags=re.IGNORECASE)
    for sensor in SENSORS.values():
        if sensor.name_pattern and re.search(sensor.name_pattern, stem, flags=re.IGNORECASE):
            return sensor
    return None


def sensor_order(sensor: Sensor, n_bands: int) -> tuple[SensorBand, ...] | None:
    """The sensor's usual band order of a file with ``n_bands`` bands, or None."""
    return next((order for order in sensor.orders() if len(order) == n_bands), None)


def group_masked(bands: list[str], groups: dict[str, list[str]], present: list[bool],
                 derived: dict[str, list[str]] | None = None) -> tuple[list[bool], list[str]]:
    """Which of ``bands`` the encoder cannot use and which groups it uses.

    A band is unusable when it is absent or when another band of its group is absent (the group is
    masked whole); derived inputs (NDVI) are used when all their source bands are present.
    Returns (per band: masked?, names of the groups and derived inputs in use).
    """
    have = {band for band, ok in zip(bands, present) if ok}
    used_groups = [name for name, members in groups.items() if set(members) <= have]
    usable = {band for name in used_groups for band in groups[name]}
    grouped = {band for members in groups.values() for band in members}
    usable |= have - grouped  # a band outside every group is its own unit
    used_derived = [name for name, sources in (derived or {}).items() if set(sources) <= have]
    return [band not in usable for band in bands], used_groups + used_derived
