"""Temporal positives on the real multi-date scenes (NAIP, 10 dates; Landsat, 8 dates): dates
co-registered by geotransform onto one grid, tiles paired with the same ground at other dates of the
same scene only."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from scipy.ndimage import map_coordinates

from qgis_csp_plugin.contract.bands import S2_BANDS
from trainer.cli.moco import _variant_key_view
from trainer.data import multitemporal
from trainer.data.bands import S2_L1C_PERCENTILES
from trainer.data.image_datamodule import ImageDataModule

needs_scenes = pytest.mark.skipif(not multitemporal.SCENES_ROOT.is_dir(),
                                  reason=f"needs the team's shared multi-date scenes ({multitemporal.SCENES_ROOT})")
NAIP = multitemporal.SCENES_ROOT / "naip_nd_2009_2020"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("coregistered")


@needs_scenes
def test_dates_share_one_grid_and_keep_their_ground_coordinates(cache):
    paths = multitemporal.coregister(NAIP, cache)
    assert len(paths) == 10 and [multitemporal.acquisition_date(p).year for p in paths][:2] == [2009, 2010]
    grids = set()
    for path in paths:
        with rasterio.open(path) as src:
            grids.add((tuple(src.transform), src.width, src.height))
    assert len(grids) == 1
    (transform, width, height), = grids
    with rasterio.open(sorted(NAIP.glob("*.tif"))[0]) as first:  # the first date's pixel grid, cut inward
        offset = ~first.transform * (transform[2], transform[5])
        assert np.allclose(offset, np.round(offset)) and width <= first.width and height <= first.height
    shifted = next(p for p in sorted(NAIP.glob("*.tif")) if "20160816" in p.name)  # 0.12 / 0.24 px off the grid
    with rasterio.open(shifted) as src, rasterio.open(cache / NAIP.name / shifted.name) as out:
        assert src.transform != out.transform
        original, resampled = src.read(1).astype(np.float64), out.read(1)
        rows, cols = np.mgrid[5:height - 5:37, 5:width - 5:41]
        xs, ys = rasterio.transform.xy(out.transform, rows.ravel(), cols.ravel())
        src_cols, src_rows = ~src.transform * (np.asarray(xs), np.asarray(ys))
        expected = map_coordinates(original, [src_rows - 0.5, src_cols - 0.5], order=1)
    np.testing.assert_allclose(resampled[rows.ravel(), cols.ravel()], expected, atol=0.02)


@needs_scenes
def test_temporal_pairs_are_the_same_ground_of_the_same_scene(cache, monkeypatch):
    monkeypatch.setattr(multitemporal, "CACHE_ROOT", cache)
    data = ImageDataModule(sources=["multitemporal"], bands=["red", "green", "nir"], key_view="temporal",
                           temporal_fallback=False, tile_size=64)
    data.setup("fit")
    dataset = data.datasets["train"]
    pairs, latlon = dataset.pairs, dataset.latlon.numpy()

    def image(index: int) -> np.ndarray:
        return dataset.read(int(index)).numpy()

    assert pairs.n_multi_date == len(dataset) == 35 * 10 + 50 * 8  # every tile of both scenes has other dates
    naip = {len(p) for i, p in enumerate(pairs.partners) if latlon[i][0] > 40}
    landsat = {len(p) for i, p in enumerate(pairs.partners) if latlon[i][0] < 0}
    assert naip == {9} and landsat == {7}  # all other dates, never the other scene
    for i, partners in enumerate(pairs.partners):
        assert (latlon[partners] == latlon[i]).all()

    def correlation(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

    rng = np.random.default_rng(0)
    queries = rng.choice(len(dataset), 200, replace=False)
    paired = np.mean([correlation(image(i), image(pairs.sample(int(i)))) for i in queries])
    elsewhere = np.mean([correlation(image(i), image(rng.choice(pairs.partners[(i + 1) % len(dataset)])))
                         for i in queries])
    assert paired > elsewhere + 0.2  # the other date of the same ground, not just the same scene


@needs_scenes
def test_scenes_are_put_on_the_sentinel2_grid_and_scale(cache):
    paths = multitemporal.coregister(NAIP, cache, to_s2=True)
    assert paths[0].parent.name == f"{NAIP.name}_s2"
    with rasterio.open(paths[3]) as out, rasterio.open(cache / NAIP.name / paths[3].name) as native:
        assert out.res == (10.0, 10.0) and native.res == (5.0, 5.0)  # NAIP 5 m area-averaged to 10 m
        assert (out.width, out.height) == (native.width // 2, native.height // 2)
        pixels = out.read()
    for band, name in zip(pixels, ("B04", "B03", "B02", "B08"), strict=True):  # red, green, blue, nir
        np.testing.assert_allclose(np.percentile(band, multitemporal.MATCHED_PERCENTILES), S2_L1C_PERCENTILES[name],
                                   rtol=1e-4)


@needs_scenes
def test_moco_tp_pairs_real_dates_of_one_scene_for_a_13_band_model(cache, monkeypatch):
    monkeypatch.setattr(multitemporal, "CACHE_ROOT", cache)
    data = ImageDataModule(sources=["eurosat", "multitemporal"], bands=list(S2_BANDS), missing_bands="fill",
                           key_view=_variant_key_view("moco_tp"), tile_size=64)
    data.setup("fit")
    dataset = data.datasets["train"]
    paths, offsets, pairs = dataset.paths, dataset.offsets, dataset.pairs
    scene = np.array([NAIP.name in p or "landsat" in p for p in paths])
    assert scene.sum() == 750 and (~scene).sum() == 120  # the multi-date tiles + the EuroSAT training patches
    generator = torch.Generator().manual_seed(0)
    for i in range(len(dataset)):
        key = pairs.sample(i, generator)
        if not scene[i]:
            assert key == i  # single-date EuroSAT patch: the key is a second augmentation of itself
            continue
        same_scene = Path(paths[key]).parent == Path(paths[i]).parent
        assert same_scene and paths[key] != paths[i] and (offsets[key] == offsets[i]).all()  # other date, same ground
    naip = int(np.flatnonzero([NAIP.name in p for p in paths])[0])
    item = dataset[naip]
    missing = [S2_BANDS.index(b) for b in S2_BANDS if b not in ("B02", "B03", "B04", "B08")]
    fill = torch.tensor(data.band_mean)[missing, None, None].expand(-1, 64, 64)
    assert item["key"].shape == (13, 64, 64) and torch.equal(item["key"][missing], fill)  # filled with the mean
    assert not torch.equal(item["key"], item["image"])


def _coregister_together(barrier, scene: Path, cache: Path) -> None:
    barrier.wait()  # every run reaches the writes at once
    multitemporal.coregister(scene, cache)


def test_parallel_runs_filling_one_cache_do_not_collide(tmp_path, data_dir):
    """Three processes co-register the same scene into the same cache at once: each writes its own temporary
    (a fixed ``.tif.part`` name would be shared: one run renames the others' half-written file, or finds it
    gone), every run succeeds, the cache holds exactly what one run alone writes and no temporary is left."""
    import multiprocessing

    scene = tmp_path / "landsat_scene"
    scene.mkdir()
    with rasterio.open(data_dir / "scenes" / "LC08_L1TP_224078_20200518_RGB.tif") as source:
        pixels, profile = source.read(window=rasterio.windows.Window(0, 0, 512, 512)), source.profile
    profile.update(width=512, height=512)
    for date, shift in (("20190518", 0.0), ("20200518", 0.4), ("20210518", 0.7)):  # sub-pixel shifts: resampled
        moved = profile["transform"] * rasterio.Affine.translation(shift, -shift)
        with rasterio.open(scene / f"scene_{date}.tif", "w", **{**profile, "transform": moved}) as out:
            out.write(pixels)
    cache = tmp_path / "cache"
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(3)
    runs = [context.Process(target=_coregister_together, args=(barrier, scene, cache)) for _ in range(3)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(120)
    assert [run.exitcode for run in runs] == [0, 0, 0]
    alone = multitemporal.coregister(scene, tmp_path / "alone")
    assert sorted(p.name for p in (cache / scene.name).iterdir()) == [p.name for p in alone]  # no temporary left
    for path in alone:
        with rasterio.open(path) as expected, rasterio.open(cache / scene.name / path.name) as written:
            np.testing.assert_array_equal(written.read(), expected.read())
