"""csp:class_prior_heatmap in a real headless QGIS with a kNN prior that carries real points (GeoNames cities,
continent labels): the right continent on land, a flat prior far from every city, continuous across the
dateline, one value at the pole."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from osgeo import gdal

from qgis_csp_plugin.contract.knn_prior import ENCODER_NAME, KnnPrior, knn_prior_model
from qgis_csp_plugin.contract.schema import ModelMetadata

pytestmark = pytest.mark.qgis
REPO = Path(__file__).resolve().parents[2]
CONTINENTS = ["AF", "AS", "EU", "NA", "OC", "SA"]


@pytest.fixture(scope="module")
def prior(tmp_path_factory) -> Path:
    """A kNN continent prior of 3,000 GeoNames cities (10 neighbours, bandwidth 1°, flat count 0.5)."""
    cities = pd.read_csv(REPO / "data" / "points" / "cities15000.csv.gz", keep_default_na=False, na_values=[""])
    cities = cities[cities["continent"].isin(CONTINENTS)].sample(3000, random_state=0)
    knn = KnnPrior(cities[["lat", "lon"]].to_numpy(), cities["continent"].map(CONTINENTS.index).to_numpy(),
                   len(CONTINENTS), k=10, sharpness=3.0, bandwidth_deg=1.0, flat_count=0.5)
    meta = ModelMetadata.from_dict({"kind": "location_prior", "name": "kNN continent prior",
                                    "class_names": CONTINENTS,
                                    "location_encoder": {"name": ENCODER_NAME, "params": knn.params()}})
    path = tmp_path_factory.mktemp("knn") / "knn_continents.onnx"
    path.write_bytes(knn_prior_model(knn, meta.to_props(), meta.describe()))
    return path


def cell(path: str, lat: float, lon: float) -> float:
    """Value of the EPSG:4326 raster ``path`` at (lat, lon)."""
    dataset = gdal.Open(path)
    x0, dx, _, y0, _, dy = dataset.GetGeoTransform()
    return float(dataset.ReadAsArray()[int((lat - y0) / dy), int((lon - x0) / dx)])


def test_most_likely_continent_and_a_flat_prior_over_the_ocean(run, prior, tmp_path):
    world = {"MODEL": str(prior), "CRS": "EPSG:4326", "EXTENT": "-180,180,-90,90 [EPSG:4326]", "CELL_SIZE": 1.0}
    likely = run("class_prior_heatmap", {**world, "CLASS": "most likely class",
                                         "OUTPUT": str(tmp_path / "likely.tif")})["OUTPUT"]
    assert CONTINENTS[int(cell(likely, 48.5, 2.5))] == "EU" and CONTINENTS[int(cell(likely, -23.5, -46.5))] == "SA"
    assert CONTINENTS[int(cell(likely, 35.5, 139.5))] == "AS" and CONTINENTS[int(cell(likely, 40.5, -74.5))] == "NA"
    europe = run("class_prior_heatmap", {**world, "CLASS": "EU", "OUTPUT": str(tmp_path / "eu.tif")})["OUTPUT"]
    assert cell(europe, 48.5, 2.5) > 0.8
    assert cell(europe, -30.5, -130.5) == pytest.approx(1 / len(CONTINENTS), abs=1e-6)  # South Pacific: flat
    entropy = run("class_prior_heatmap", {**world, "CLASS": "entropy", "OUTPUT": str(tmp_path / "h.tif")})["OUTPUT"]
    assert cell(entropy, -30.5, -130.5) == pytest.approx(math.log(len(CONTINENTS)), abs=1e-4)
    assert cell(entropy, 48.5, 2.5) < 1.0


def test_continuous_across_the_dateline_and_single_valued_at_the_pole(run, prior, tmp_path):
    # EPSG:3832 (PDC Mercator) has its central meridian at 150°E: the dateline runs through the extent
    out = run("class_prior_heatmap", {"MODEL": str(prior), "CLASS": "OC", "CRS": "EPSG:3832",
                                      "EXTENT": "2500000,4200000,-2500000,-1500000 [EPSG:3832]", "WIDTH": 34,
                                      "OUTPUT": str(tmp_path / "fiji.tif")})["OUTPUT"]
    array = gdal.Open(out).ReadAsArray()
    assert np.isfinite(array).all() and array.max() > 0.3  # Fiji's cities near 180°: Oceania above flat (1/6)
    columns = np.abs(np.diff(array, axis=1)).max(axis=0)
    assert columns.max() < 0.9  # no seam
    polar = run("class_prior_heatmap", {"MODEL": str(prior), "CLASS": "AS", "CRS": "EPSG:3031", "WIDTH": 41,
                                        "EXTENT": "-500000,500000,-500000,500000 [EPSG:3031]",
                                        "OUTPUT": str(tmp_path / "pole.tif")})["OUTPUT"]
    values = gdal.Open(polar).ReadAsArray()
    np.testing.assert_allclose(values, 1 / len(CONTINENTS), atol=1e-6)  # no city within 4.5° of the South Pole
