"""(lat, lon) of every cell of a grid's rows from exact transforms of a few cells.

GDAL's approximate-transformer idea, vectorised over whole row blocks: along each row, every
:data:`SEGMENT`-th cell (a node) and the middle cell of each segment between two nodes are
transformed exactly, and the cells in between are interpolated where the middle cell lies within
:data:`MAX_ERROR` cells of its interpolated position and the nodes and the middle are all on
Earth; otherwise the segment is halved and each half checked the same way, down to single cells.
Two interpolants are tried, the first that passes is used: linear in (lat, lon), exact for rows
along parallels (geographic, Mercator, Equal Earth grids), with longitudes unwrapped across the
dateline; and along the great circle between the nodes (unit vectors, normalised), which suits
rows through polar regions, where (lat, lon) are far from linear. A segment at most
``SEGMENT / 2`` long whose nodes and middle are all off Earth is off Earth, and a gap of an
interrupted projection narrower than a cell that falls between checked cells is bridged. Pure
numpy around the ``exact`` function it is given.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

SEGMENT = 32
MAX_ERROR = 0.125  # cells (gdalwarp's default error threshold)
DEAD_SPAN = 16

#: ``exact(xs, ys) -> (lat, lon, on_earth)`` in degrees for flat float64 arrays of cell centres.
Exact = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]
Transform = Callable[[np.ndarray, np.ndarray], None]
LINEAR, GREAT_CIRCLE, OFF_EARTH = "linear", "great circle", "off Earth"


def wrap_degrees(delta: np.ndarray) -> np.ndarray:
    """Longitude differences wrapped to [-180, 180)."""
    return (delta + 180.0) % 360.0 - 180.0


def unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """``(3, N)`` unit vectors of (lat, lon) degrees."""
    phi, lam = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])


def great_circle(start: np.ndarray, end: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lat, lon) degrees at fraction ``t`` of the great circle from unit vector ``start`` to ``end``."""
    x, y, z = start + (end - start) * t
    return np.degrees(np.arctan2(z, np.sqrt(x * x + y * y))), np.degrees(np.arctan2(y, x))


def interpolated_rows(exact: Exact, x0: float, dx: float, n_cols: int,
                      ys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(lat, lon, on_earth)`` arrays of shape ``(len(ys), n_cols)`` for cell centres
    ``x0 + c·dx`` (column ``c``) in rows at ``ys``; longitudes may lie outside [-180, 180)."""
    n_rows, n_seg = len(ys), max(1, -(-(n_cols - 1) // SEGMENT))
    width = n_seg * SEGMENT + 1  # padded so that every segment is SEGMENT long; cropped at the end
    lat, lon = np.empty((n_rows, width)), np.empty((n_rows, width))
    valid = np.empty((n_rows, width), dtype=bool)

    def transform(rows: np.ndarray, cols: np.ndarray) -> None:
        lat[rows, cols], lon[rows, cols], valid[rows, cols] = exact(x0 + cols * dx, ys[rows])

    rows, nodes = np.meshgrid(np.arange(n_rows), np.arange(0, width, SEGMENT), indexing="ij")
    transform(rows.ravel(), nodes.ravel())
    transform(rows[:, :-1].ravel(), nodes[:, :-1].ravel() + SEGMENT // 2)
    with np.errstate(invalid="ignore"):
        segments = rows[:, :-1].ravel(), nodes[:, :-1].ravel(), nodes[:, 1:].ravel()
        kind = _assess(lat, lon, valid, *segments)  # no full-length segment is off Earth
        _fill_regular(lat, lon, valid, kind.reshape(n_rows, n_seg))
        split = kind == ""
        segments, kind = _halves(*(part[split] for part in segments), transform), None
        while len(segments[0]):
            kind = _assess(lat, lon, valid, *segments)
            segments = _refine(lat, lon, valid, segments, kind, transform)
    return lat[:, :n_cols], lon[:, :n_cols], valid[:, :n_cols]


def _fill_regular(lat: np.ndarray, lon: np.ndarray, valid: np.ndarray, kind: np.ndarray) -> None:
    """Interpolate all full segments of all rows at once, each with its interpolant (linear where
    none passes: those are halved and corrected by :func:`_refine`); exact nodes and middles stay."""
    n_rows, n_seg = kind.shape
    half, t = SEGMENT // 2, np.arange(SEGMENT) / SEGMENT
    nodes = [values[:, ::SEGMENT].copy() for values in (lat, lon, valid)]
    middles = [values[:, half::SEGMENT].copy() for values in (lat, lon, valid)]
    lat_a, lat_b, lon_a = nodes[0][:, :-1], nodes[0][:, 1:], nodes[1][:, :-1]
    dlon = wrap_degrees(nodes[1][:, 1:] - lon_a)
    fill_lat = lat_a[:, :, None] + (lat_b - lat_a)[:, :, None] * t
    fill_lon = lon_a[:, :, None] + dlon[:, :, None] * t
    arcs = kind == GREAT_CIRCLE
    if arcs.any():
        start, end = unit_vectors(lat_a, lon_a), unit_vectors(lat_b, lon_a + dlon)
        arc_lat, arc_lon = great_circle(start[..., None], end[..., None], t)
        fill_lat = np.where(arcs[:, :, None], arc_lat, fill_lat)
        fill_lon = np.where(arcs[:, :, None], arc_lon, fill_lon)
    lat[:, :-1] = fill_lat.reshape(n_rows, n_seg * SEGMENT)
    lon[:, :-1] = fill_lon.reshape(n_rows, n_seg * SEGMENT)
    valid[:, :-1] = np.repeat(kind != "", SEGMENT, axis=1)
    for values, node, middle in zip((lat, lon, valid), nodes, middles):
        values[:, ::SEGMENT], values[:, half::SEGMENT] = node, middle


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
    """Values for the cells strictly between ``a`` and ``b`` but their (exact) middle; all segments
    of one refinement level have the same length (a power of two)."""
    if len(a) == 0 or b[0] - a[0] < 3:
        return
    length = int(b[0] - a[0])
    offsets = np.delete(np.arange(1, length), length // 2 - 1)
    r, c, t = rows[:, None], a[:, None] + offsets, offsets / length
    lat_a, lon_a, lat_b = lat[rows, a][:, None], lon[rows, a][:, None], lat[rows, b][:, None]
    dlon = wrap_degrees(lon[rows, b][:, None] - lon_a)
    if interpolant == LINEAR:
        lat[r, c], lon[r, c] = lat_a + (lat_b - lat_a) * t, lon_a + dlon * t
    elif interpolant == GREAT_CIRCLE:
        start, end = unit_vectors(lat_a, lon_a), unit_vectors(lat_b, lon_a + dlon)
        lat[r, c], lon[r, c] = great_circle(start, end, t)
    valid[r, c] = interpolant != OFF_EARTH
