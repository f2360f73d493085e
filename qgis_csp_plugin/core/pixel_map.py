"""Maps of every pixel for classifiers built on a pixel encoder (Presto), without recomputing tiles.

Pixel ``p`` gets what the classifier gives the tile of ``T`` px *centred* on it: rows and columns
``p − T//2 … p − T//2 + T − 1``, whose centre pixel ``[T // 2, T // 2]`` is ``p``, with the nodata rule of
tiles (:mod:`.classify`: invalid pixels of the tile filled with the band means of its valid ones). Since a
pixel encoder's tile embedding is the mean of its pixels' embeddings and the head is linear up to its
softmax (:mod:`.pixel_head`), every tile is assembled from per-pixel numbers:

* every valid pixel is embedded **once** (``H = W = 1``, its own (lat, lon)) and projected on the head:
  ``u = e · A_embedding`` (K numbers); window sums of ``u`` give the embedding block of every tile. A tile
  with ``m`` invalid pixels adds ``m · u(mean spectrum of its valid pixels)``: one more encoder run per
  such tile (tiles at the layer's edges and next to nodata), as the filled tile holds that spectrum;
* window sums of the pixel values and their squares give each tile's band ``mean`` and population
  ``std`` (the fill values equal the mean, so they add nothing to the squared deviations); ``centre`` is
  the pixel itself;
* logits → softmax (→ location prior), as in the graph.

Window sums are cumulative sums along rows, then columns (float64; values are centred on a per-band
offset first, so ``Σx² − (Σx)²/n`` does not cancel). Strips of output rows are read and embedded once:
the last ``T − 1`` input rows of a strip are kept for the next one, so memory holds one strip and the
cost is the encoder's on each pixel plus the edge tiles. A pixel that is itself nodata or outside the
layer stays nodata (as a labelled point there is dropped in training).

The one difference from the tile graph: the encoder sees each pixel's own (lat, lon), while the graph
gives every pixel of a tile the tile centre's (a few hundred metres away). The graph's choice depends on
the tile; the dense map cannot repeat it without embedding each pixel once per tile. The effect is
measured in the tests (with one location for all pixels the two agree to float precision).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..contract.errors import GeoSslError
from ..contract.latlon import validate_latlon
from ..contract.onnx_model import PIXELS_PER_RUN, OnnxModel, import_onnxruntime
from ..contract.probabilities import fuse
from ..contract.schema import Kind
from .classify import Classifier, PixelReader, read_strip
from .logistic_regression import softmax
from .pixel_head import PixelHead, encoder_graph, read_pixel_head
from .progress import Canceled, IsCanceled, Progress
from .tiling import Extent, Strip, TileGrid

#: New input pixels read and embedded per strip (memory: a few hundred bytes each while the strip lasts).
STRIP_PIXELS = 1 << 19
#: Input pixels of one window-sum block (columns are cut to fit; float64 over 1 + 2C + K channels).
BLOCK_PIXELS = 1 << 17

#: ``write(row0, class_ids (rows, cols) int, probabilities (rows, cols, K) float32 (NaN: nodata))``
RowWriter = Callable[[int, np.ndarray, np.ndarray], None]


@dataclass
class PixelMapResult:
    """What a map of every pixel covered: the pixel grid (one cell per pixel) and the counts."""

    grid: TileGrid
    classified: int
    nodata: int
    tile_size: int

    @property
    def what(self) -> str:
        return f"{self.classified:,} pixels, each from the {self.tile_size} px tile centred on it"

    @property
    def summary(self) -> str:
        return (f"classified {self.classified:,} pixels ({self.grid.n_cols:,} x {self.grid.n_rows:,}), each from the "
                f"{self.tile_size} px tile centred on it; {self.nodata:,} nodata pixels")


class PixelMapper:
    """Runs a :class:`~.classify.Classifier` whose model says ``dense_pixels`` on every pixel of a grid."""

    def __init__(self, classifier: Classifier, tile_size: int) -> None:
        model = classifier.model
        meta = model.metadata
        if not meta.dense_pixels:
            raise GeoSslError(f"{model.path.name} does not say it can map every pixel (metadata dense_pixels): only "
                              "classifiers csp:train_classifier builds on a pixel encoder (Presto) can")
        if tile_size < 1:
            raise GeoSslError(f"tile size must be at least 1 px, got {tile_size}")
        self.classifier, self.tile_size, self.n_bands = classifier, tile_size, len(meta.bands)
        model_bytes = model.path.read_bytes()
        self.head: PixelHead = read_pixel_head(model_bytes, self.n_bands)
        if self.head.n_classes != meta.n_classes:
            raise GeoSslError(f"{model.path.name}: its head has {self.head.n_classes} outputs for {meta.n_classes} "
                              "classes")
        dim = self.head.embedding_dim
        self.encoder = None if dim is None else _encoder(model, model_bytes, dim)

    def run(self, grid: TileGrid, reader: PixelReader, write: RowWriter, keep: np.ndarray | None = None,
            progress: Progress | None = None, canceled: IsCanceled | None = None) -> PixelMapResult:
        """Classify every pixel of ``grid`` (a grid of 1 px tiles, stride 1), or those where ``keep`` (row-major)
        is true, strip by strip; ``write`` gets each strip's class ids and probabilities, top to bottom."""
        if grid.tile_size != 1 or grid.stride != 1:
            raise GeoSslError("a map of every pixel needs a grid of 1 px cells")
        wanted = None if keep is None else np.asarray(keep, bool).reshape(grid.n_rows, grid.n_cols)
        size, half = self.tile_size, self.tile_size // 2
        width = grid.n_cols + size - 1  # input columns: -half .. n_cols - half + size - 1
        rows_per_strip = max(1, min(grid.n_rows, STRIP_PIXELS // width))
        strips = range(0, grid.n_rows, rows_per_strip)
        carry: _Rows | None = None
        classified = 0
        for done, r0 in enumerate(strips):
            if canceled is not None and canceled():
                raise Canceled("classification canceled")
            r1 = min(grid.n_rows, r0 + rows_per_strip)
            first = r0 - half if carry is None else r0 - half + size - 1
            tick = _ticker(progress, done, len(strips))
            new = self._input_rows(grid, reader, first, r1 - half + size - 1, width, tick, canceled)
            rows = new if carry is None else carry.joined(new)
            ids, probabilities = self._classify(grid, rows, r0, r1, None if wanted is None else wanted[r0:r1],
                                                canceled)
            classified += int((ids >= 0).sum())
            write(r0, ids, probabilities)
            carry = rows.last(size - 1)
            if progress is not None:
                progress(100.0 * (done + 1) / len(strips))
        return PixelMapResult(grid, classified, grid.n_tiles - classified, size)

    def _input_rows(self, grid: TileGrid, reader: PixelReader, i0: int, i1: int, width: int,
                    tick: Callable[[float], None], canceled: IsCanceled | None) -> _Rows:
        """Input rows ``i0:i1`` (row 0 = the grid's top row), columns from ``-T // 2``: transformed pixel values
        (0 where invalid), validity, and each valid pixel's projected embedding."""
        half = self.tile_size // 2
        extent = Extent(grid.xmin - half * grid.res_x, grid.ymax - i1 * grid.res_y,
                        grid.xmin + (width - half) * grid.res_x, grid.ymax - i0 * grid.res_y)
        pixels, valid = read_strip(reader, Strip(0, extent, width, i1 - i0), self.n_bands)
        if self.classifier.transform is not None:
            self.classifier.transform.apply(pixels)
        pixels[:, ~valid] = 0.0
        projected = None
        if self.encoder is not None:
            rows, cols = np.nonzero(valid)
            xs = grid.xmin + (cols - half + 0.5) * grid.res_x
            ys = grid.ymax - (rows + i0 + 0.5) * grid.res_y
            projected = np.zeros((i1 - i0, width, self.head.n_classes))
            projected[rows, cols] = self._embed(pixels[:, rows, cols].T, xs, ys, tick, canceled)
        return _Rows(pixels, valid, projected)

    def _embed(self, spectra: np.ndarray, xs: np.ndarray, ys: np.ndarray, tick: Callable[[float], None] | None,
               canceled: IsCanceled | None) -> np.ndarray:
        """``(N, K)`` projections ``e · A_embedding`` of the embeddings of ``(N, C)`` spectra at points ``xs, ys``."""
        classifier, weights = self.classifier, self.head.weights["embedding"]
        out = np.empty((len(spectra), self.head.n_classes))
        for start in range(0, len(spectra), PIXELS_PER_RUN):
            if canceled is not None and canceled():
                raise Canceled("classification canceled")
            part = slice(start, start + PIXELS_PER_RUN)
            n = len(spectra[part])
            latlon = None
            if classifier.to_latlon is not None:
                latlon = validate_latlon(classifier.to_latlon(xs[part], ys[part]), "pixel centres")
            month = None if classifier.month is None else np.full(n, classifier.month, np.int64)
            image = np.ascontiguousarray(spectra[part], np.float32).reshape(n, -1, 1, 1)
            embedding = self.encoder.run(image=image, latlon=latlon, band_mask=classifier.band_mask, month=month)
            out[part] = embedding @ weights
            if tick is not None:
                tick((start + n) / len(spectra))
        return out

    def _classify(self, grid: TileGrid, rows: _Rows, r0: int, r1: int, wanted: np.ndarray | None,
                  canceled: IsCanceled | None) -> tuple[np.ndarray, np.ndarray]:
        """Class ids ``(r1 - r0, n_cols)`` (-1: nodata) and probabilities ``(…, K)`` (NaN: nodata) of output
        rows ``r0:r1`` from their input rows ``r0 - T//2 : r1 - T//2 + T - 1`` (only pixels ``wanted``)."""
        size, half, head = self.tile_size, self.tile_size // 2, self.head
        n_rows, n_cols, area = r1 - r0, grid.n_cols, float(size * size)
        centre_valid = rows.valid[half:half + n_rows, half:half + n_cols]
        if wanted is not None:
            centre_valid = centre_valid & wanted
        logits = np.zeros((n_rows, n_cols, head.n_classes))
        count = np.zeros((n_rows, n_cols))
        fill_mean = np.zeros((n_rows, n_cols, self.n_bands))
        step = max(1, BLOCK_PIXELS // len(rows.valid) - size + 1)
        for c0 in range(0, n_cols, step):
            c1 = min(n_cols, c0 + step)
            sums = self._window_sums(rows, c0, c1 + size - 1)
            n = sums["count"]
            count[:, c0:c1] = n
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = sums["x"] / n[..., None]
            fill_mean[:, c0:c1] = mean + rows.offset
            part = logits[:, c0:c1]
            part += head.bias
            if "mean" in head.weights:
                part += np.nan_to_num(mean + rows.offset) @ head.weights["mean"]
            if "std" in head.weights:
                with np.errstate(invalid="ignore", divide="ignore"):
                    variance = np.nan_to_num((sums["xx"] - sums["x"] * mean) / area)
                part += np.sqrt(np.maximum(variance, 0.0)) @ head.weights["std"]
            if "centre" in head.weights:
                centre = rows.pixels[:, half:half + n_rows, half + c0:half + c1]
                part += np.moveaxis(centre, 0, -1) @ head.weights["centre"]
            if "embedding" in head.weights:
                part += sums["u"] / area
        if "embedding" in head.weights:
            filled = centre_valid & (count < area)
            r, c = np.nonzero(filled)
            xs, ys = self._tile_centres(grid, r0 + r, c)
            fill = self._embed(fill_mean[r, c], xs, ys, None, canceled)
            logits[r, c] += (area - count[r, c])[:, None] * fill / area
        probabilities = np.full((n_rows, n_cols, head.n_classes), np.nan, np.float32)
        keep = np.nonzero(centre_valid)
        result = softmax(logits[keep])
        classifier = self.classifier
        if classifier.prior is not None:
            xs, ys = self._tile_centres(grid, r0 + keep[0], keep[1])
            latlon = validate_latlon(classifier.to_latlon(xs, ys), "tile centres")
            result = fuse(result.astype(np.float32), classifier.prior.run(latlon=latlon), classifier.prior_exponent)
        probabilities[keep] = result
        ids = np.full((n_rows, n_cols), -1, np.int32)
        ids[keep] = np.argmax(result, axis=1)
        return ids, probabilities

    def _window_sums(self, rows: _Rows, j0: int, j1: int) -> dict[str, np.ndarray]:
        """Sums over every ``T × T`` window of input columns ``j0:j1`` of ``rows``: valid ``count``, offset values
        ``x``, their squares ``xx`` and projections ``u`` (each ``(out rows, out cols[, channels])``)."""
        valid = rows.valid[:, j0:j1]
        x = np.where(valid, rows.pixels[:, :, j0:j1] - rows.offset[:, None, None], 0.0)
        channels = {"count": valid[None].astype(np.float64), "x": x}
        if "std" in self.head.weights:
            channels["xx"] = x * x
        if rows.projected is not None:
            channels["u"] = np.moveaxis(rows.projected[:, j0:j1], -1, 0)
        names = list(channels)
        widths = [len(channels[n]) for n in names]
        sums = _box_sums(np.concatenate([channels[n] for n in names]), self.tile_size)
        edges = np.cumsum([0, *widths])
        out = {n: np.moveaxis(sums[edges[i]:edges[i + 1]], 0, -1) for i, n in enumerate(names)}
        out["count"] = out["count"][..., 0]
        return out

    def _tile_centres(self, grid: TileGrid, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Layer coordinates of the centres of the tiles centred on output pixels ``rows, cols``."""
        shift = self.tile_size / 2 - self.tile_size // 2
        return grid.xmin + (cols + shift) * grid.res_x, grid.ymax - (rows + shift) * grid.res_y


@dataclass
class _Rows:
    """Consecutive input rows: transformed pixels ``(C, R, W)`` (0 where invalid), validity ``(R, W)`` and the
    valid pixels' projected embeddings ``(R, W, K)`` (None without an embedding block)."""

    pixels: np.ndarray
    valid: np.ndarray
    projected: np.ndarray | None
    offset: np.ndarray | None = None  # per band, subtracted before window sums (the first rows' band means)

    def __post_init__(self) -> None:
        if self.offset is None:
            with np.errstate(invalid="ignore"):
                mean = self.pixels[:, self.valid].astype(np.float64).mean(axis=1) if self.valid.any() else None
            self.offset = np.zeros(len(self.pixels)) if mean is None else mean

    def joined(self, new: _Rows) -> _Rows:
        projected = None if self.projected is None else np.concatenate([self.projected, new.projected])
        return _Rows(np.concatenate([self.pixels, new.pixels], axis=1), np.concatenate([self.valid, new.valid]),
                     projected, self.offset)

    def last(self, n: int) -> _Rows:
        """The last ``n`` rows, copied (so that the strip they come from can be freed)."""
        start = len(self.valid) - n
        return _Rows(self.pixels[:, start:].copy(), self.valid[start:].copy(),
                     None if self.projected is None else self.projected[start:].copy(), self.offset)


def _box_sums(values: np.ndarray, size: int) -> np.ndarray:
    """Sums over every ``size × size`` window of the last two axes of ``(channels, R, W)``: ``(channels,
    R − size + 1, W − size + 1)``."""
    for axis in (2, 1):
        total = np.cumsum(values, axis=axis, dtype=np.float64)
        total = np.concatenate([np.zeros_like(np.take(total, [0], axis=axis)), total], axis=axis)
        n = total.shape[axis]
        values = np.take(total, np.arange(size, n), axis=axis) - np.take(total, np.arange(0, n - size), axis=axis)
    return values


def _encoder(model: OnnxModel, model_bytes: bytes, embedding_dim: int) -> OnnxModel:
    """The classifier's encoder as an ``image_encoder`` on the classifier's execution provider and threads."""
    ort = import_onnxruntime()
    try:
        session = ort.InferenceSession(encoder_graph(model_bytes, embedding_dim),
                                       sess_options=model.session.get_session_options(),
                                       providers=model.session.get_providers())
    except Exception as exc:  # onnxruntime's private error types
        raise GeoSslError(f"{model.path.name}: its encoder cannot run on its own: {str(exc).splitlines()[0][:200]}") \
            from exc
    meta = model.metadata
    encoder_meta = type(meta).from_dict({**meta.to_dict(), "kind": Kind.IMAGE_ENCODER.value, "class_names": [],
                                         "class_colors": [], "embedding_dim": embedding_dim, "dense_pixels": False})
    return OnnxModel(path=model.path, session=session, metadata=encoder_meta, device=model.device, checked=True)


def _ticker(progress: Progress | None, done: int, total: int) -> Callable[[float], None] | None:
    """Progress within strip ``done`` of ``total`` (its embedding is nearly all of its time)."""
    if progress is None:
        return None
    return lambda fraction: progress(100.0 * (done + fraction) / total)
