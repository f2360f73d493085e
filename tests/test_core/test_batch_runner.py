"""Parallel batches of a real ONNX model: same outputs as one run, cell ids to the reduction, errors surface."""

import numpy as np
import pytest

from qgis_csp_plugin.core.batch_runner import BatchRunner, finish


def random_latlon(n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.stack([rng.uniform(-90, 90, n), rng.uniform(-180, 180, n)], 1).astype(np.float32)


def test_parallel_batches_equal_one_run_and_use_single_threaded_sessions(prior):
    latlon = random_latlon(1000)
    with BatchRunner(prior, batch_size=64, workers=3) as runner:
        assert runner.model.session.get_session_options().intra_op_num_threads == 1
        outputs = runner.run(latlon)
    np.testing.assert_allclose(outputs, prior.run(latlon=latlon), atol=1e-6)


def test_reduce_gets_each_batch_with_its_cell_ids(prior):
    latlon, cells = random_latlon(300), np.arange(1000, 1300)
    expected = prior.run(latlon=latlon)
    out = np.empty(300, dtype=np.float32)
    seen = []

    def reduce(outputs, ids):
        seen.append(ids.copy())
        np.testing.assert_allclose(outputs, expected[ids - 1000], atol=1e-6)  # the batch of those cells
        return outputs[:, 1]

    with BatchRunner(prior, batch_size=128, workers=2) as runner:
        for future in runner.submit(latlon, reduce, out, cells):
            future.result()
    assert sorted(len(ids) for ids in seen) == [44, 128, 128]
    np.testing.assert_array_equal(np.sort(np.concatenate(seen)), cells)
    np.testing.assert_allclose(out, expected[:, 1], atol=1e-6)


def test_an_error_in_a_batch_reaches_the_caller(prior):
    def broken(outputs, ids):
        raise ValueError("bad batch")

    with pytest.raises(ValueError, match="bad batch"), BatchRunner(prior, batch_size=10) as runner:
        runner.run(random_latlon(5))  # fine
        finish(runner.submit(random_latlon(50), broken, np.empty(50), np.arange(50)))
