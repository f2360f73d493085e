"""(lat, lon) of every cell of a grid's rows from exact transforms of a few cells.

GDAL's approximate-transformer idea, vectorised over whole row blocks. Each row is cut into
segments of :func:`top_segment` cells (up to :data:`MAX_SEGMENT`); the cells at their ends (nodes)
and middles are transformed exactly. Where the middle cell lies within :data:`MAX_ERROR` cells of
its interpolated position and the nodes and the middle are all on Earth, the cells in between are
interpolated; otherwise the segment is halved and each half checked the same way, down to single
cells. Two interpolants are tried, the first that passes is used: linear in (lat, lon), exact for
rows along parallels (geographic, Mercator, Equal Earth grids), with longitudes unwrapped across
the dateline; and along the great circle between the nodes (unit vectors), which suits rows
through polar regions, where (lat, lon) are far from linear. A segment at most :data:`DEAD_SPAN`
cells long whose nodes and middle are all off Earth is off Earth, and a gap of an interrupted
projection narrower than a cell that falls between checked cells is bridged. Pure numpy around the
``exact`` function it is given.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

MIN_TOP_SEGMENT, MAX_SEGMENT = 32, 256  # cells; powers of two
MAX_ERROR = 0.125  # cells (gdalwarp's default error threshold)
DEAD_SPAN = 16  # cells: shorter all-off-Earth segments are not checked further

#: ``exact(xs, ys) -> (lat, lon, on_earth)`` in degrees for flat float64 arrays of cell centres.
Exact = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]
Transform = Callable[[np.ndarray, np.ndarray], None]
LINEAR, GREAT_CIRCLE, OFF_EARTH = "linear", "great circle", "off Earth"


def wrap_degrees(delta: np.ndarray) -> np.ndarray:
    """Longitude differences wrapped to [-180, 180)."""
    return (delta + 180.0) % 360.0 - 180.0


def unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """``(3, ...)`` float32 unit vectors of (lat, lon) degrees (float32: fast vectorised sin/cos,
    ~1e-7 rad = 1 m, far below the checks' 1/8 cell)."""
    phi, lam = np.radians(lat, dtype=np.float32), np.radians(lon, dtype=np.float32)
    cos_phi = np.cos(phi)
    return np.stack([cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi)])


def great_circle(start: np.ndarray, end: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lat, lon) degrees at fraction ``t`` of the great circle from unit vector ``start`` to ``end``."""
    x, y, z = start + (end - start) * t.astype(np.float32)
    return np.degrees(np.arctan2(z, np.sqrt(x * x + y * y))), np.degrees(np.arctan2(y, x))


def top_segment(n_cols: int) -> int:
    """Length of the first segments: long (rows that need no more are done in two exact cells),
    but short enough that padding the row to whole segments wastes at most an eighth of it."""
    length = MAX_SEGMENT
    while length > MIN_TOP_SEGMENT and length * 8 > n_cols:
        length //= 2
    return length


def interpolated_rows(exact: Exact, x0: float, dx: float, n_cols: int,
                      ys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(lat, lon, on_earth)`` arrays of shape ``(len(ys), n_cols)`` for cell centres
    ``x0 + c·dx`` (column ``c``) in rows at ``ys``; longitudes may lie outside [-180, 180)."""
    length = top_segment(n_cols)
    n_rows, n_seg = len(ys), max(1, -(-(n_cols - 1) // length))
    width = n_seg * length + 1  # padded so that every segment is equally long; cropped at the end
    lat, lon = np.empty((n_rows, width), np.float32), np.empty((n_rows, width), np.float32)
    valid = np.empty((n_rows, width), dtype=bool)

    def transform(rows: np.ndarray, cols: np.ndarray) -> None:
        lat[rows, cols], lon[rows, cols], valid[rows, cols] = exact(x0 + cols * dx, ys[rows])

    rows, nodes = np.meshgrid(np.arange(n_rows), np.arange(0, width, length), indexing="ij")
    transform(rows.ravel(), nodes.ravel())
    segments = rows[:, :-1].ravel(), nodes[:, :-1].ravel(), nodes[:, 1:].ravel()
    transform(segments[0], (segments[1] + segments[2]) // 2)
    with np.errstate(invalid="ignore"):
        while len(segments[0]):
            segments = _refine(lat, lon, valid, segments, _assess(lat, lon, valid, *segments), transform)
    return lat[:, :n_cols], lon[:, :n_cols], valid[:, :n_cols]


def _assess(lat: np.ndarray, lon: np.ndarray, valid: np.ndarray, rows: np.ndarray, a: np.ndarray,
            b: np.ndarray) -> np.ndarray:
    """Per segment ``(row, a, b)`` with exact ends and middle: the interpolant to fill it with
    (:data:`LINEAR`, :data:`GREAT_CIRCLE`, :data:`OFF_EARTH`), or "" to halve it. Errors are
    compared with the segment's cell size, both on the ground (degrees, radians)."""
    mid = (a + b) // 2
    t = (mid - a) / (b - a)
    lat_a, lat_b, lat_m = lat[rows, a], lat[rows, b], lat[rows, mid]
    lon_a, lon_m = lon[rows, a], lon[rows, mid]
    dlat, dlon = lat_b - lat_a, wrap_degrees(lon[rows, b] - lon_a)
    scale = np.cos(np.radians(lat_m))  # degrees of longitude → degrees on the ground
    error = np.sqrt((wrap_degrees(lon_a + dlon * t - lon_m) * scale) ** 2 + (lat_a + dlat * t - lat_m) ** 2)
    step = np.sqrt((dlon * scale) ** 2 + dlat ** 2) / (b - a)
    on = valid[rows, a], valid[rows, b], valid[rows, mid]
    on_earth = on[0] & on[1] & on[2]
    kind = np.full(len(a), "", dtype=object)
    kind[on_earth & (error <= MAX_ERROR * step)] = LINEAR
    kind[~on[0] & ~on[1] & ~on[2] & (b - a <= DEAD_SPAN)] = OFF_EARTH
    curved = np.flatnonzero(on_earth & (kind == ""))
    if len(curved):
        start = unit_vectors(lat_a[curved], lon_a[curved])
        end = unit_vectors(lat_b[curved], lon_a[curved] + dlon[curved])
        guess = start + (end - start) * t[curved]
        guess /= np.linalg.norm(guess, axis=0)
        arc_error = np.linalg.norm(guess - unit_vectors(lat_m[curved], lon_m[curved]), axis=0)
        arc_step = np.linalg.norm(end - start, axis=0) / (b - a)[curved]
        kind[curved[arc_error <= MAX_ERROR * arc_step]] = GREAT_CIRCLE
    return kind


def _halves(rows: np.ndarray, a: np.ndarray, b: np.ndarray, transform: Transform
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both halves of segments ``(row, a, b)`` that still have inner cells, their middles transformed."""
    mid = (a + b) // 2
    rows, a, b = np.concatenate([rows, rows]), np.concatenate([a, mid]), np.concatenate([mid, b])
    keep = b - a >= 2
    rows, a, b = rows[keep], a[keep], b[keep]
    transform(rows, (a + b) // 2)
    return rows, a, b


def _refine(lat: np.ndarray, lon: np.ndarray, valid: np.ndarray, segments: tuple[np.ndarray, ...],
            kind: np.ndarray, transform: Transform) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fill the segments that have an interpolant; return the halves of the others."""
    for interpolant in (LINEAR, GREAT_CIRCLE, OFF_EARTH):
        chosen = kind == interpolant
        _fill_segments(lat, lon, valid, *(part[chosen] for part in segments), interpolant)
    return _halves(*(part[kind == ""] for part in segments), transform)


def _fill_segments(lat: np.ndarray, lon: np.ndarray, valid: np.ndarray, rows: np.ndarray, a: np.ndarray,
                   b: np.ndarray, interpolant: str) -> None:
    """Values for the cells strictly between ``a`` and ``b`` but their (exact) middle. All segments
    of one level have the same power-of-two length and start at a multiple of it, so their cells
    are whole slices of a ``(rows, segments, length)`` view of the arrays."""
    if len(a) == 0 or b[0] - a[0] < 3:
        return
    length = int(b[0] - a[0])
    half, t = length // 2, np.arange(1, length) / length
    lat_a, lon_a, lat_b = lat[rows, a][:, None], lon[rows, a][:, None], lat[rows, b][:, None]
    dlon = wrap_degrees(lon[rows, b][:, None] - lon_a)
    fills: list[tuple[np.ndarray, np.ndarray | bool]] = [(valid, interpolant != OFF_EARTH)]
    if interpolant == LINEAR:
        fills += [(lat, lat_a + (lat_b - lat_a) * t), (lon, lon_a + dlon * t)]
    elif interpolant == GREAT_CIRCLE:
        start, end = unit_vectors(lat_a, lon_a), unit_vectors(lat_b, lon_a + dlon)
        fills += list(zip((lat, lon), great_circle(start, end, t)))
    segment = a // length
    for array, filled in fills:
        cells = array[:, :-1].reshape(len(array), -1, length)  # a view: the last axis is split
        cells[rows, segment, 1:half] = filled[:, :half - 1] if np.ndim(filled) else filled
        cells[rows, segment, half + 1:] = filled[:, half:] if np.ndim(filled) else filled
