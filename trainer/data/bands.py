"""Band orders of the data products and by-name band selection (orders differ between products)."""

from __future__ import annotations

from qgis_csp_plugin.contract.bands import aliases
from trainer.errors import TrainerError

#: EuroSAT MS GeoTIFF order (B8A last).
EUROSAT_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11", "B12", "B8A")
#: SSL4EO-S12 L2A order (no B10).
SSL4EO_L2A_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")
#: 2nd and 98th percentiles of Sentinel-2 L1C digital numbers per band, over all pixels of the 200
#: EuroSAT patches in ``data/eurosat_ms``: the target scale of other sensors' products
#: (:func:`trainer.data.multitemporal.coregister`), as the plugin's ``layer_percentiles`` radiometry.
S2_L1C_PERCENTILES = {"B01": (1011.0, 1910.0), "B02": (718.0, 1956.0), "B03": (514.0, 2068.0),
                      "B04": (276.0, 2467.0), "B05": (229.0, 2509.0), "B06": (205.0, 3705.0),
                      "B07": (194.0, 4681.0), "B08": (156.0, 4658.0), "B09": (61.0, 1779.0),
                      "B10": (6.0, 22.0), "B11": (29.0, 3834.0), "B12": (17.0, 2839.0), "B8A": (145.0, 5062.0)}
#: Position of a band a product lacks, in :func:`band_indices` with ``fill_missing`` (read as a constant).
MISSING = -1


def band_indices(available: tuple[str, ...] | list[str], wanted: tuple[str, ...] | list[str],
                 fill_missing: bool = False) -> list[int]:
    """Positions of ``wanted`` bands in ``available`` (aliases such as ``red`` resolved); a band that is
    not there raises, or with ``fill_missing`` gets position :data:`MISSING`."""
    lookup = {name: i for i, name in enumerate(available)}
    indices = []
    for name in wanted:
        found = [lookup[alias] for alias in aliases(name) if alias in lookup]
        if not found and fill_missing:
            found = [MISSING]
        if not found:
            raise TrainerError(f"band {name!r} is not in this product's bands {list(available)}")
        indices.append(found[0])
    if all(i == MISSING for i in indices):
        raise TrainerError(f"none of the bands {list(wanted)} is in this product's bands {list(available)}")
    return indices
