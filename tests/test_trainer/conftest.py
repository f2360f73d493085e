"""Fixtures shared by the trainer tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="session")
def city_latlon(data_dir) -> np.ndarray:
    """34,006 real places (GeoNames cities15000) as float32 (lat, lon) degrees."""
    frame = pd.read_csv(data_dir / "points" / "cities15000.csv.gz", usecols=["lat", "lon"])
    return frame[["lat", "lon"]].to_numpy(np.float32)
