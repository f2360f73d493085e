"""Maps of every pixel (core.pixel_map) against the full classifier graph run on the tile centred on each pixel.

Real pixels: EuroSAT patches side by side (the last row has one patch and three empty, nodata cells), the
released Presto encoder, heads fitted on real tiles and appended as csp:train_classifier does. The
reference is the tile path itself (:class:`Classifier` on a stride-1 grid whose tile (r, c) is centred on
pixel (r, c)), so nodata fill, radiometry and fusion are exactly what Classify does with tiles.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from model_factory import export_location_model
from osgeo import gdal
from raster_factory import GdalArrayReader

from qgis_csp_plugin.contract.errors import GeoSslError
from qgis_csp_plugin.contract.onnx_model import OnnxModel
from qgis_csp_plugin.contract.schema import MetadataError, ModelMetadata
from qgis_csp_plugin.core import pixel_map
from qgis_csp_plugin.core.cell_latlon import latlon_transform
from qgis_csp_plugin.core.classify import Classifier
from qgis_csp_plugin.core.head_selection import fit_head
from qgis_csp_plugin.core.onnx_head import append_head
from qgis_csp_plugin.core.pixel_head import encoder_graph, read_pixel_head
from qgis_csp_plugin.core.pixel_map import PixelMapper
from qgis_csp_plugin.core.progress import Canceled
from qgis_csp_plugin.core.tile_features import tile_statistics
from qgis_csp_plugin.core.tiling import Extent, TileGrid
from trainer.data.eurosat_mosaic import build_mosaic

REPO = Path(__file__).resolve().parents[2]
PRESTO = REPO / "models" / "presto_encoder.onnx"
CLASSES = ("Forest", "Industrial", "SeaLake")
PRESTO_BANDS = [1, 2, 3, 4, 5, 6, 7, 12, 10, 11]  # B02..B08, B8A, B11, B12 in EuroSAT's file order
NAIP_MASKED = [3, 4, 5, 7, 8, 9]  # an RGB + NIR sensor: red edge, NIR 20 m and SWIR are masked
HEADS = {"statistics": ("mean", "std", "centre"), "embedding": ("embedding",),
         "embedding+statistics": ("embedding", "mean", "std", "centre")}
MONTH = 7
GSD = 10.0
ONE_PLACE = np.array([[45.0, 9.0]], np.float32)


@pytest.fixture(scope="module")
def scene(tmp_path_factory, data_dir) -> Path:
    """256 x 192 px: 9 patches on 4 columns, so the bottom row holds one patch and 192 x 64 px of nodata."""
    folder = tmp_path_factory.mktemp("pixel_map")
    patches = [data_dir / "eurosat_ms" / c / f"{c}_{i}.tif" for c in CLASSES for i in range(1, 4)]
    build_mosaic(patches, [p.parent.name for p in patches], folder / "scene.tif", folder / "labels.gpkg", columns=4)
    return folder / "scene.tif"


@pytest.fixture(scope="module")
def encoder() -> OnnxModel:
    return OnnxModel.load(PRESTO)


class MaskedReader(GdalArrayReader):
    """The Presto bands of a EuroSAT raster; masked bands read as 0, as the plugin feeds them."""

    def __init__(self, path: Path, masked: list[int] = ()) -> None:
        super().__init__(path, PRESTO_BANDS)
        self.masked = list(masked)

    def read(self, extent, width, height):
        block, valid = super().read(extent, width, height)
        block[self.masked] = 0.0
        return block, valid


def band_mask(masked=()) -> np.ndarray:
    mask = np.zeros(len(PRESTO_BANDS), np.float32)
    mask[list(masked)] = 1.0
    return mask


def train(encoder: OnnxModel, data_dir: Path, path: Path, blocks: tuple[str, ...], size: int,
          masked=()) -> OnnxModel:
    """A classifier as csp:train_classifier writes it: a head fitted on real tiles of other EuroSAT patches."""
    tiles, labels = [], []
    for label, name in enumerate(CLASSES):
        for i in range(4, 10):
            with rasterio.open(data_dir / "eurosat_ms" / name / f"{name}_{i}.tif") as src:
                pixels = src.read().astype(np.float32)[PRESTO_BANDS]
            pixels[list(masked)] = 0.0
            starts = sorted({0, 64 - size})  # two corners of the patch, one tile when it fills the patch
            tiles += [pixels[:, at:at + size, at:at + size] for at in starts]
            labels += [label] * len(starts)
    tiles = np.stack(tiles)
    features = tile_statistics(tiles)
    features["embedding"] = encoder.run(image=tiles, latlon=np.repeat(ONE_PLACE, len(tiles), 0),
                                        band_mask=band_mask(masked), month=np.full(len(tiles), MONTH))
    head = fit_head(features, blocks, np.array(labels), len(CLASSES), 1.0)
    meta = encoder.metadata.to_dict()
    meta["spectral"]["masked_bands"] = [encoder.metadata.bands[i] for i in masked]
    meta.update(kind="image_classifier", name=path.stem, class_names=list(CLASSES), tile_size=size,
                embedding_dim=None, dense_pixels=True)
    path.write_bytes(append_head(PRESTO.read_bytes(), blocks, head, ModelMetadata.from_dict(meta).to_props()))
    return OnnxModel.load(path)


@pytest.fixture(scope="module")
def classifiers(tmp_path_factory, encoder, data_dir):
    folder = tmp_path_factory.mktemp("classifiers")
    cache = {}

    def get(head: str, size: int = 8, masked=()) -> OnnxModel:
        key = (head, size, tuple(masked))
        if key not in cache:
            cache[key] = train(encoder, data_dir, folder / f"{head}_{size}_{len(masked)}.onnx", HEADS[head], size,
                               masked)
        return cache[key]

    return get


def one_place(xs, ys):
    return np.repeat(ONE_PLACE, len(np.atleast_1d(xs)), 0)


def own_place(scene: Path):
    transform = latlon_transform(gdal.Open(str(scene)).GetProjection(), 0.1)
    return lambda xs, ys: transform(xs, ys)[0]


def pixel_extent(reader, c0: int, c1: int, r0: int, r1: int) -> Extent:
    """Columns c0:c1 and rows r0:r1 of the scene as an extent."""
    e = reader.extent
    return Extent(e.xmin + c0 * GSD, e.ymax - r1 * GSD, e.xmin + c1 * GSD, e.ymax - r0 * GSD)


def every_pixel(classifier: Classifier, reader, extent: Extent, size: int, keep=None) -> tuple[TileGrid, np.ndarray]:
    """The pixel grid and the map's probabilities ``(pixels, K)`` (NaN: nodata)."""
    grid = TileGrid.cover(extent, GSD, GSD, 1, 0.0)
    strips = []
    PixelMapper(classifier, size).run(grid, reader, lambda row0, ids, p: strips.append((row0, ids, p)), keep)
    assert [s[0] for s in strips] == sorted(s[0] for s in strips) and strips[0][0] == 0
    probabilities = np.concatenate([s[2] for s in strips])
    ids = np.concatenate([s[1] for s in strips])
    assert probabilities.shape[:2] == ids.shape == (grid.n_rows, grid.n_cols)
    np.testing.assert_array_equal(ids < 0, np.isnan(probabilities[..., 0]))
    return grid, probabilities.reshape(grid.n_tiles, -1)


def centred_tiles(classifier: Classifier, reader, grid: TileGrid, size: int, pick: np.ndarray):
    """The tile path on the tiles centred on the pixels ``pick`` (row-major pixel indices)."""
    half = size // 2
    tiles = TileGrid(grid.xmin - half * GSD, grid.ymax + half * GSD, GSD, GSD, size, 1, grid.n_cols, grid.n_rows)
    keep = np.zeros(grid.n_tiles, bool)
    keep[pick] = True
    return classifier.run(tiles, reader, keep)


def reference_pixels(reader, grid: TileGrid, extent: Extent, size: int, n: int, seed: int = 0) -> np.ndarray:
    """Pixels to check: valid ones whose tile holds nodata or reaches out of the layer (the fill rule), ones on
    the rows where strips meet, and others; ``n`` of each kind at most."""
    validity = valid_pixels(reader, grid, size)
    half = size // 2
    centre = validity[half:half + grid.n_rows, half:half + grid.n_cols]
    full = _windows(validity, size) == size * size
    rng = np.random.default_rng(seed)
    rows = np.arange(grid.n_tiles) // grid.n_cols
    strip_rows = pixel_map.STRIP_PIXELS // (grid.n_cols + size - 1)
    kinds = [(centre & ~full).ravel(), centre.ravel() & (rows % strip_rows < 2), (centre & full).ravel()]
    picks = [rng.choice(np.flatnonzero(k), min(n, k.sum()), replace=False) for k in kinds]
    assert all(len(p) for p in picks)
    return np.unique(np.concatenate(picks))


def valid_pixels(reader, grid: TileGrid, size: int) -> np.ndarray:
    """Validity of the input pixels of the map: rows and columns -T//2 .. n + T - T//2 - 1 of the grid."""
    half = size // 2
    rows = np.arange(-half, grid.n_rows + size - half - 1)
    cols = np.arange(-half, grid.n_cols + size - half - 1)
    y = grid.ymax - (rows + 0.5) * GSD
    x = grid.xmin + (cols + 0.5) * GSD
    r = np.floor((reader.extent.ymax - y) / GSD).astype(int)
    c = np.floor((x - reader.extent.xmin) / GSD).astype(int)
    height, width = reader.pixels.shape[1:]
    values = reader.pixels[:, np.clip(r, 0, height - 1)][:, :, np.clip(c, 0, width - 1)]
    inside = ((r >= 0) & (r < height))[:, None] & ((c >= 0) & (c < width))[None]
    return inside & (values != reader.nodata).all(axis=0)


def _windows(valid: np.ndarray, size: int) -> np.ndarray:
    total = np.pad(valid.astype(np.int64), ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    return total[size:, size:] - total[:-size, size:] - total[size:, :-size] + total[:-size, :-size]


@pytest.fixture
def small_strips(monkeypatch):
    """Strips of 10 rows and window sums over 30 columns at a time, so that every seam is crossed."""
    monkeypatch.setattr(pixel_map, "STRIP_PIXELS", 10 * 67)
    monkeypatch.setattr(pixel_map, "BLOCK_PIXELS", 17 * 37)


# cols 40..100, rows 112..192: patches, the patch seam at row 128, nodata from column 64 down from row 128, and
# the bottom edge of the layer
AREA = (40, 100, 112, 192)


@pytest.mark.parametrize("head, size", [("statistics", 8), ("embedding", 8), ("embedding+statistics", 8),
                                        ("embedding+statistics", 7)])
def test_every_pixel_is_the_tile_centred_on_it(scene, classifiers, small_strips, head, size):
    """With one location for every pixel the map is the tile path to float precision, at strip seams, next to
    nodata and at the layer's edge, for each head; pixels that are nodata themselves stay nodata."""
    reader = MaskedReader(scene)
    classifier = Classifier(classifiers(head, size), to_latlon=one_place, band_mask=band_mask(), month=MONTH)
    extent = pixel_extent(reader, *AREA)
    grid, probabilities = every_pixel(classifier, reader, extent, size)
    pick = reference_pixels(reader, grid, extent, size, 60)
    reference = centred_tiles(classifier, reader, grid, size, pick)
    np.testing.assert_allclose(probabilities[pick], reference.probabilities, atol=1e-5, rtol=0)
    centre = valid_pixels(reader, grid, size)[size // 2:size // 2 + grid.n_rows, size // 2:size // 2 + grid.n_cols]
    np.testing.assert_array_equal(np.isfinite(probabilities[:, 0]), centre.ravel())
    assert 0 < centre.sum() < grid.n_tiles


@pytest.mark.parametrize("head", ["statistics", "embedding+statistics"])
def test_with_each_pixels_own_location_the_map_stays_within_1e_4(scene, classifiers, head):
    """The encoder sees each pixel's own (lat, lon), the graph the tile centre's (40 m away here): the
    difference stays below 1e-4; heads without the embedding do not depend on it."""
    reader = MaskedReader(scene)
    classifier = Classifier(classifiers(head), to_latlon=own_place(scene), band_mask=band_mask(), month=MONTH)
    extent = pixel_extent(reader, *AREA)
    grid, probabilities = every_pixel(classifier, reader, extent, 8)
    pick = reference_pixels(reader, grid, extent, 8, 40, seed=1)
    reference = centred_tiles(classifier, reader, grid, 8, pick)
    error = np.abs(probabilities[pick] - reference.probabilities).max()
    assert error <= (1e-5 if head == "statistics" else 1e-4)


def test_masked_bands_and_a_location_prior(scene, classifiers, tmp_path):
    """An RGB + NIR sensor (red edge, NIR 20 m and SWIR masked, read as 0), fused with a location prior at
    the tile centres."""
    reader = MaskedReader(scene, NAIP_MASKED)
    prior = OnnxModel.load(export_location_model(tmp_path / "prior.onnx", classes=list(CLASSES)))
    classifier = Classifier(classifiers("embedding+statistics", masked=NAIP_MASKED), prior, own_place(scene),
                            band_mask=band_mask(NAIP_MASKED), month=MONTH, prior_exponent=0.5)
    plain = Classifier(classifier.model, to_latlon=one_place, band_mask=band_mask(NAIP_MASKED), month=MONTH)
    extent = pixel_extent(reader, 0, 40, 150, 192)  # the left and bottom edges of the layer
    grid, probabilities = every_pixel(classifier, reader, extent, 8)
    pick = reference_pixels(reader, grid, extent, 8, 30, seed=2)
    reference = centred_tiles(classifier, reader, grid, 8, pick)
    assert np.abs(probabilities[pick] - reference.probabilities).max() <= 1e-4
    _, unfused = every_pixel(plain, reader, extent, 8)
    assert np.abs(unfused - probabilities).max() > 1e-3  # the prior did change the map


def test_the_encoder_embeds_each_pixel_once_plus_one_fill_per_tile_with_nodata(scene, classifiers, small_strips):
    """No tile is recomputed: the encoder sees every valid input pixel once (strips share their last rows) and
    one filled spectrum per tile with nodata or outside the layer; the strip size does not change the map."""
    reader = MaskedReader(scene)
    classifier = Classifier(classifiers("embedding"), to_latlon=one_place, band_mask=band_mask(), month=MONTH)
    extent = pixel_extent(reader, *AREA)
    mapper = PixelMapper(classifier, 8)
    seen = []
    run = mapper.encoder.run
    mapper.encoder.run = lambda image, **kw: seen.append(image.shape) or run(image=image, **kw)
    grid = TileGrid.cover(extent, GSD, GSD, 1, 0.0)
    strips = []
    mapper.run(grid, reader, lambda row0, ids, p: strips.append(p))
    validity = valid_pixels(reader, grid, 8)
    centre = validity[4:4 + grid.n_rows, 4:4 + grid.n_cols]
    partial = centre & (_windows(validity, 8) < 64)
    assert all(shape[1:] == (10, 1, 1) for shape in seen)
    assert sum(shape[0] for shape in seen) == validity.sum() + partial.sum()
    assert len(strips) == 8  # 80 rows in strips of 10
    pixel_map.STRIP_PIXELS, pixel_map.BLOCK_PIXELS = 1 << 20, 1 << 20
    _, whole = every_pixel(classifier, reader, extent, 8)
    np.testing.assert_allclose(np.concatenate(strips).reshape(whole.shape), whole, atol=1e-6)


def test_polygon_mask_cancel_and_refusals(scene, classifiers, encoder):
    reader = MaskedReader(scene)
    classifier = Classifier(classifiers("statistics"), to_latlon=one_place, band_mask=band_mask(), month=MONTH)
    extent = pixel_extent(reader, 0, 20, 0, 10)
    keep = np.zeros((10, 20), bool)
    keep[2:5, 3:9] = True
    _, probabilities = every_pixel(classifier, reader, extent, 8, keep.ravel())
    np.testing.assert_array_equal(np.isfinite(probabilities[:, 0]), keep.ravel())
    with pytest.raises(Canceled):
        PixelMapper(classifier, 8).run(TileGrid.cover(extent, GSD, GSD, 1, 0.0), reader, lambda *a: None,
                                       canceled=lambda: True)
    with pytest.raises(GeoSslError, match="does not say it can map every pixel"):
        PixelMapper(Classifier(OnnxModel.load(REPO / "models" / "eurosat_rgb.onnx"), band_mask=band_mask(),
                               month=MONTH), 64)  # a Galileo (tile encoder) head
    with pytest.raises(GeoSslError, match="grid of 1 px cells"):
        PixelMapper(classifier, 8).run(TileGrid.cover(extent, GSD, GSD, 8, 0.0), reader, lambda *a: None)


def test_the_head_read_back_is_the_head_written(classifiers, encoder):
    """Blocks in order, standardisation folded into the weights, and the encoder on its own gives the encoder's
    embeddings; a graph that is not the feature head is refused."""
    model = classifiers("embedding+statistics")
    head = read_pixel_head(model.path.read_bytes(), 10)
    assert head.blocks == ("embedding", "mean", "std", "centre") and head.embedding_dim == 128
    assert [head.weights[b].shape for b in head.blocks] == [(128, 3), (10, 3), (10, 3), (10, 3)]
    rng = np.random.default_rng(0)
    image = (1500 + 400 * rng.standard_normal((3, 10, 5, 5))).astype(np.float32)
    inputs = {"image": image, "latlon": np.repeat(ONE_PLACE, 3, 0), "band_mask": band_mask(),
              "month": np.full(3, MONTH)}
    features = {**tile_statistics(image), "embedding": encoder.run(**inputs)}
    logits = head.bias + sum(features[b] @ head.weights[b] for b in head.blocks)
    expected = model.run(**inputs)
    np.testing.assert_allclose(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), expected, atol=1e-6)
    alone = PixelMapper(Classifier(model, to_latlon=one_place, band_mask=band_mask(), month=MONTH), 8).encoder
    np.testing.assert_allclose(alone.run(**inputs), encoder.run(**inputs), atol=1e-6)
    assert len(encoder_graph(model.path.read_bytes(), 128)) < len(model.path.read_bytes())
    for path in (PRESTO, REPO / "models" / "world_continent_prior.onnx"):  # an encoder, a prior
        with pytest.raises(GeoSslError, match="not the feature head csp:train_classifier writes"):
            read_pixel_head(path.read_bytes(), 10)


def test_dense_pixels_is_only_for_classifiers_on_pixel_encoders(encoder):
    meta = encoder.metadata.to_dict()
    with pytest.raises(MetadataError, match="dense_pixels"):
        ModelMetadata.from_dict({**meta, "dense_pixels": True})  # an encoder
    classifier = {**meta, "kind": "image_classifier", "class_names": ["a", "b"], "dense_pixels": True}
    assert "maps every pixel" in ModelMetadata.from_dict(classifier).describe()
    with pytest.raises(MetadataError, match="dense_pixels"):
        ModelMetadata.from_dict({**classifier, "spectral": {**meta["spectral"], "consumes": "tiles"}})
    with pytest.raises(MetadataError, match="true or false"):
        ModelMetadata.from_dict({**classifier, "dense_pixels": "yes"})


@pytest.mark.slow
def test_at_the_encoders_own_64_px_tiles_with_own_locations(scene, classifiers):
    """64 px tiles (Presto's default, as the shipped classifiers): each pixel's own (lat, lon) is up to 320 m from
    the tile centre's; still within 1e-4 of the tile path, also at the layer's corner and next to nodata."""
    reader = MaskedReader(scene)
    classifier = Classifier(classifiers("embedding+statistics", 64), to_latlon=own_place(scene),
                            band_mask=band_mask(), month=MONTH)
    extent = pixel_extent(reader, 30, 110, 100, 192)
    grid, probabilities = every_pixel(classifier, reader, extent, 64)
    pick = reference_pixels(reader, grid, extent, 64, 8, seed=3)
    reference = centred_tiles(classifier, reader, grid, 64, pick)
    assert np.abs(probabilities[pick] - reference.probabilities).max() <= 1e-4
