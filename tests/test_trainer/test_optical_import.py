"""``python -m trainer import presto|galileo``: our encoders and their ONNX files against the authors' code.

Parity (<= 1e-4) on real images: EuroSAT Sentinel-2 patches (all bands, RGB only, one band of a group
missing), a NAIP scene (R, G, B, NIR) and a Landsat scene (SWIR1, NIR, red, green: incomplete RGB and
SWIR groups), through our torch modules and the shipped ONNX files. The authors' code and weights live
in ``../shared/pretrained`` (not in a user's clone): those tests skip there; the tests of the shipped
files run everywhere.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from optical_reference import GalileoReference, PrestoReference, available
from osgeo import gdal

from qgis_csp_plugin.contract.bands import S2_OPTICAL_BANDS
from qgis_csp_plugin.contract.onnx_model import OnnxModel
from trainer.cli import main as trainer_main
from trainer.data.bands import EUROSAT_BANDS
from trainer.pretrained.galileo_encoder import GalileoEncoder, GalileoImageGraph, band_statistics
from trainer.pretrained.optical_import import DEFAULT_SOURCES, PARITY_BOUND
from trainer.pretrained.optical_inputs import PRETRAINING_MEAN, PRETRAINING_STD
from trainer.pretrained.presto_encoder import PrestoEncoder, PrestoImageGraph
from trainer.pretrained.release_folder import open_release

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"
PRESTO_ONNX, GALILEO_ONNX = MODELS / "presto_encoder.onnx", MODELS / "galileo_nano_encoder.onnx"
SHARED_DATA = REPO.parent / "shared" / "data"
NAIP = SHARED_DATA / "multitemporal" / "naip_nd_2009_2020" / "m_4709963_se_14_1_20200831.tif"
LANDSAT = SHARED_DATA / "multitemporal" / "landsat_pucallpa_1985_2020" / "2020.tif"
needs_reference = pytest.mark.skipif(not available(), reason="the authors' code and weights are in "
                                     "../shared/pretrained (not in a user's clone), or einops is missing")
needs_scenes = pytest.mark.skipif(not (NAIP.is_file() and LANDSAT.is_file()),
                                  reason="the NAIP and Landsat scenes are in ../shared/data (not in a user's clone)")
BANDS = list(S2_OPTICAL_BANDS)
NOT_RGB = [b for b in BANDS if b not in ("B02", "B03", "B04")]
#: Missing-band cases on EuroSAT: all bands, RGB only, one red-edge band (its whole group is masked), no SWIR.
EUROSAT_CASES = ([], NOT_RGB, ["B05"], ["B11", "B12", "B8A"])


def eurosat(names=("Forest/Forest_1", "River/River_1", "Industrial/Industrial_1")) -> np.ndarray:
    """Real EuroSAT L1C patches (digital numbers) in our band order, ``(N, 10, 64, 64)`` float32."""
    order = [EUROSAT_BANDS.index(b) for b in BANDS]
    return np.stack([gdal.Open(str(REPO / "data" / "eurosat_ms" / f"{n}.tif")).ReadAsArray()[order]
                     for n in names]).astype(np.float32)


def scene(path: Path, bands: dict[str, int], size: int = 32) -> tuple[np.ndarray, list[str]]:
    """Two real windows of an 8-bit scene placed at our bands (values × 40 ≈ reflectance × 10000), and the
    bands it lacks."""
    data = gdal.Open(str(path)).ReadAsArray().astype(np.float32) * 40
    image = np.zeros((2, len(BANDS), size, size), np.float32)
    for band, index in bands.items():
        image[0, BANDS.index(band)] = data[index - 1, 100:100 + size, 200:200 + size]
        image[1, BANDS.index(band)] = data[index - 1, 300:300 + size, 100:100 + size]
    return image, [b for b in BANDS if b not in bands]


def feeds(image: np.ndarray, missing: list[str], names: list[str], month=(5, 11, 7), latlon=None) -> dict:
    mask = np.array([b in missing for b in BANDS], np.float32)
    n = len(image)
    values = {"image": np.where(mask[None, :, None, None] > 0, 0, image).astype(np.float32), "band_mask": mask,
              "month": np.asarray(month[:n], np.int64),
              "latlon": np.asarray(latlon if latlon is not None else [[48.1, 11.5], [45.0, 3.2], [52.3, 4.9]][:n],
                                   np.float32)}
    return {k: v for k, v in values.items() if k in names}


def torch_run(graph: torch.nn.Module, inputs: dict, names: list[str]) -> np.ndarray:
    with torch.no_grad():
        return graph(*(torch.from_numpy(inputs[name]) for name in names)).numpy()


@pytest.fixture(scope="module")
def presto_reference():
    return PrestoReference()


@pytest.fixture(scope="module")
def galileo_reference():
    return GalileoReference()


@pytest.fixture(scope="module")
def presto_graph():
    return PrestoImageGraph(PrestoEncoder.from_release(
        open_release(DEFAULT_SOURCES["presto"], "default_model.pt", "default_config.json"))).eval()


def galileo_graph(patch_size=8, location=False, ndvi=False):
    release = open_release(DEFAULT_SOURCES["galileo"], "encoder.pt", "config.json")
    return GalileoImageGraph(GalileoEncoder.from_release(release, patch_size, location, ndvi),
                             *band_statistics(release)).eval()


PRESTO_INPUTS = ["image", "band_mask", "latlon", "month"]
GALILEO_INPUTS = ["image", "band_mask", "month"]


@needs_reference
@pytest.mark.parametrize("missing", EUROSAT_CASES, ids=["all", "rgb", "no-B05", "no-swir"])
def test_presto_matches_the_authors_encoder_on_eurosat(presto_reference, presto_graph, missing):
    image = eurosat()[:, :, 16:48, 16:48]  # 3 x 1024 real pixels: the reference embeds them one by one
    inputs = feeds(image, missing, PRESTO_INPUTS)
    expected = presto_reference(image, missing, inputs["latlon"], inputs["month"])
    assert np.abs(torch_run(presto_graph, inputs, PRESTO_INPUTS) - expected).max() <= PARITY_BOUND
    assert np.abs(OnnxModel.load(PRESTO_ONNX).run(**inputs) - expected).max() <= PARITY_BOUND


@needs_reference
@pytest.mark.parametrize("missing", EUROSAT_CASES, ids=["all", "rgb", "no-B05", "no-swir"])
def test_galileo_matches_the_authors_encoder_on_eurosat(galileo_reference, missing):
    image = eurosat()
    inputs = feeds(image, missing, GALILEO_INPUTS)
    expected = galileo_reference(image, missing, inputs["month"])
    assert np.abs(torch_run(galileo_graph(), inputs, GALILEO_INPUTS) - expected).max() <= PARITY_BOUND
    assert np.abs(OnnxModel.load(GALILEO_ONNX).run(**inputs) - expected).max() <= PARITY_BOUND


@needs_reference
@needs_scenes
@pytest.mark.parametrize("which", ["naip", "landsat"])
def test_both_match_the_authors_encoders_on_naip_and_landsat(presto_reference, presto_graph, galileo_reference, which):
    """NAIP: R, G, B, NIR (RGB, NIR and NDVI kept); Landsat: SWIR1, NIR, red, green (RGB and SWIR incomplete:
    only NIR and NDVI kept)."""
    image, missing = (scene(NAIP, {"B04": 1, "B03": 2, "B02": 3, "B08": 4}) if which == "naip"
                      else scene(LANDSAT, {"B11": 1, "B08": 2, "B04": 3, "B03": 4}))
    inputs = feeds(image, missing, PRESTO_INPUTS, latlon=[[47.2, -99.1], [-8.4, -74.5]])
    expected = presto_reference(image, missing, inputs["latlon"], inputs["month"])
    assert np.abs(torch_run(presto_graph, inputs, PRESTO_INPUTS) - expected).max() <= PARITY_BOUND
    assert np.abs(OnnxModel.load(PRESTO_ONNX).run(**inputs) - expected).max() <= PARITY_BOUND
    if which == "landsat":
        return  # Galileo without NDVI keeps only the NIR token here; NAIP covers its RGB + NIR groups
    galileo_inputs = {k: v for k, v in inputs.items() if k in GALILEO_INPUTS}
    expected = galileo_reference(image, missing, inputs["month"])
    assert np.abs(OnnxModel.load(GALILEO_ONNX).run(**galileo_inputs) - expected).max() <= PARITY_BOUND


@needs_reference
def test_galileo_options_patch_4_location_and_ndvi_match_the_authors_encoder(galileo_reference):
    """The 8 px kernels resized to 4 px (FlexiViT pseudo-inverse, as the authors' model does at run time),
    the location token and NDVI, on real patches with the red edge missing."""
    image = eurosat()
    inputs = feeds(image, ["B06"], ["image", "band_mask", "latlon", "month"])
    graph = galileo_graph(patch_size=4, location=True, ndvi=True)
    got = torch_run(graph, inputs, ["image", "band_mask", "latlon", "month"])
    expected = galileo_reference(image, ["B06"], inputs["month"], 4, inputs["latlon"], use_ndvi=True)
    assert np.abs(got - expected).max() <= PARITY_BOUND


@needs_reference
@pytest.mark.parametrize("source", ["galileo", pytest.param("presto", marks=pytest.mark.slow)])
def test_the_import_cli_reproduces_the_shipped_files(tmp_path, source):
    image = eurosat(("Pasture/Pasture_1",))
    shipped, names = (GALILEO_ONNX, GALILEO_INPUTS) if source == "galileo" else (PRESTO_ONNX, PRESTO_INPUTS)
    out = tmp_path / shipped.name
    assert trainer_main(["import", source, "--out", str(out)]) == 0
    inputs = feeds(image, ["B05"], names)
    assert np.abs(OnnxModel.load(out).run(**inputs) - OnnxModel.load(shipped).run(**inputs)).max() <= 1e-6
    assert not list(tmp_path.glob("*.part"))


@needs_reference
def test_the_presto_statistics_are_the_galileo_pretraining_statistics():
    mean, std = band_statistics(open_release(DEFAULT_SOURCES["galileo"], "encoder.pt", "config.json"))
    assert mean == PRETRAINING_MEAN and std == PRETRAINING_STD


def test_import_refuses_a_folder_without_the_release(tmp_path, capsys):
    (tmp_path / "default_model.pt").write_bytes(b"not a state dict")
    assert trainer_main(["import", "presto", "--source_dir", str(tmp_path), "--out", str(tmp_path / "p.onnx")]) == 2
    assert "lacks default_config.json, LICENSE" in capsys.readouterr().err
    assert trainer_main(["import", "galileo", "--source_dir", str(tmp_path / "nowhere")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert trainer_main(["import", "presto", "--patch_size", "4", "--out", str(tmp_path / "p.onnx")]) == 2
    assert not list(tmp_path.glob("*.onnx*"))


# The shipped files, everywhere -------------------------------------------------------------------------


@pytest.mark.parametrize("path", [PRESTO_ONNX, GALILEO_ONNX], ids=["presto", "galileo"])
def test_shipped_encoders_describe_themselves(path):
    model = OnnxModel.load(path)
    meta = model.metadata
    assert meta.kind == "image_encoder" and meta.schema_version == 3 and meta.bands == BANDS
    assert meta.normalization.radiometry == "reflectance" and meta.normalization.reflectance_scale == 10000
    assert meta.spectral.band_groups["S2_RGB"] == ["B02", "B03", "B04"] and len(meta.spectral.wavelengths_nm) == 10
    assert meta.training["licence"] == "MIT (Copyright (c) 2024 Presto Authors)"
    assert "arXiv" in meta.training["citation"] and len(meta.training["source"]["sha256"]) == 64
    assert model.export_report["parity_max_abs_diff"] <= PARITY_BOUND
    assert "self check ok" in model.self_check()
    presto = (["band_mask", "latlon", "month"], "pixels")
    expected = presto if path == PRESTO_ONNX else (["band_mask", "month"], "tiles")
    assert (meta.extra_inputs, meta.spectral.consumes) == expected


@pytest.mark.parametrize("path", [PRESTO_ONNX, GALILEO_ONNX], ids=["presto", "galileo"])
def test_masked_bands_are_ignored_and_groups_are_masked_whole(path):
    model = OnnxModel.load(path)
    names = model.metadata.input_names
    image = eurosat()[:2, :, :32, :32]
    base = feeds(image, ["B05"], names)
    noisy = dict(base, image=base["image"].copy())
    noisy["image"][:, BANDS.index("B05")] = np.nan  # whatever a masked band holds
    noisy["image"][:, BANDS.index("B06")] = 1e6  # B06 is present but its group (B05, B06, B07) is masked
    whole_group = feeds(image, ["B05", "B06", "B07"], names)
    reference = model.run(**base)
    assert np.abs(model.run(**noisy) - reference).max() <= 1e-5
    assert np.abs(model.run(**whole_group) - reference).max() <= 1e-5
    all_bands = model.run(**feeds(image, [], names))
    assert np.abs(all_bands - reference).max() > 1e-3  # the red edge counts when present
    later = model.run(**dict(base, month=np.array([1, 1], np.int64)))
    assert np.abs(later - reference).max() > 1e-4  # the month is an input


def test_presto_tile_embedding_is_the_mean_of_its_pixel_embeddings():
    """What dense maps rely on: one pass per pixel (H = W = 1), then window means."""
    model = OnnxModel.load(PRESTO_ONNX)
    image = eurosat()[:1, :, :8, :8]
    inputs = feeds(image, NOT_RGB, model.metadata.input_names)
    tile = model.run(**inputs)
    pixels = image.transpose(0, 2, 3, 1).reshape(-1, len(BANDS), 1, 1)
    per_pixel = model.run(**dict(inputs, image=pixels * (1 - inputs["band_mask"])[None, :, None, None],
                                 latlon=np.repeat(inputs["latlon"], 64, 0), month=np.repeat(inputs["month"], 64)))
    assert np.abs(per_pixel.mean(axis=0) - tile[0]).max() <= 1e-5
    moved = model.run(**dict(inputs, latlon=np.array([[-33.9, 18.4]], np.float32)))
    assert np.abs(moved - tile).max() > 1e-3  # the location is an input


def test_galileo_takes_any_multiple_of_its_patch_size():
    model = OnnxModel.load(GALILEO_ONNX)
    assert model.metadata.spectral.patch_size == 8
    for size in (8, 32, 128):
        image = np.tile(eurosat()[:1], (1, 1, 2, 2))[:, :, :size, :size]
        assert model.run(**feeds(image, [], GALILEO_INPUTS)).shape == (1, 128)
