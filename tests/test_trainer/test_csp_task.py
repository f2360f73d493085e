"""CSP pre-training, location classifiers from CSP checkpoints and their ONNX exports, on real data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from qgis_csp_plugin.contract.onnx_model import OnnxModel
from trainer.cli import main as cli_main
from trainer.errors import TrainerError
from trainer.export.onnx_writer import export_onnx
from trainer.tasks.csp import CspTask
from trainer.tasks.location_classifier import LocationClassifierTask

REPO = Path(__file__).resolve().parents[2]
SMALL = ["--trainer.enable_progress_bar", "false", "--trainer.check_val_every_n_epoch", "1",
         "--model.encoder_params", "{hidden_dim: 32, out_dim: 16, frequency_num: 8}",
         "--model.num_random_locations", "16"]


def _csp_args(root: Path, epochs: int) -> list[str]:
    return ["fit", "--config", str(REPO / "trainer/configs/csp_eurosat.yaml"), *SMALL,
            "--trainer.max_epochs", str(epochs), "--trainer.default_root_dir", str(root),
            "--trainer.logger", "false", "--trainer.callbacks",
            json.dumps([{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                         "init_args": {"dirpath": str(root / "ckpt"), "save_last": True}}]),
            "--data.sources", "[eurosat]", "--data.bands", "[B02, B03, B04, B08]",
            "--data.feature_cache_dir", str(root / "features")]


@pytest.fixture(scope="module")
def csp_checkpoint(tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("csp")
    assert cli_main(["csp", *_csp_args(root, 2)]) == 0
    return root / "ckpt" / "last.ckpt"


def test_csp_fit_resume_and_export(csp_checkpoint, tmp_path):
    state = torch.load(csp_checkpoint, map_location="cpu", weights_only=False)
    assert state["epoch"] == 1 and state["hyper_parameters"]["feature_dim"] == 256
    root = csp_checkpoint.parent.parent
    assert cli_main(["csp", *_csp_args(root, 3), "--ckpt_path", str(csp_checkpoint)]) == 0
    assert torch.load(csp_checkpoint, map_location="cpu", weights_only=False)["epoch"] == 2
    task = CspTask.load_from_checkpoint(csp_checkpoint)
    report = export_onnx(task.export_spec("location_encoder"), tmp_path / "loc.onnx")
    assert report.ok
    model = OnnxModel.load(tmp_path / "loc.onnx")
    meta = model.metadata
    assert meta.kind == "location_encoder" and meta.embedding_dim == 16 and meta.location_encoder["name"] == "sphereC+"
    assert meta.pca_basis is not None
    assert all(lo < hi for lo, hi in zip(meta.pca_basis.low, meta.pca_basis.high, strict=True))
    latlon = np.array([[52.5, 13.4], [-1.3, 36.8]], np.float32)
    with torch.no_grad():
        expected = task.eval()(torch.from_numpy(latlon)).numpy()
    assert np.allclose(model.run(latlon=latlon), expected, atol=1e-4)


def test_evaluate_reuses_the_features_csp_fit_cached(csp_checkpoint, tmp_path, capsys, monkeypatch):
    import trainer.tasks.csp_data as csp_data

    computed = []
    monkeypatch.setattr(csp_data, "stream_features", lambda *a, **k: computed.append(1))  # any pass would show
    cache = csp_checkpoint.parent.parent / "features"
    (folder,) = list(cache.iterdir())
    written = (folder / "features.npy").stat().st_mtime_ns
    args = ["evaluate", "--csp_checkpoint", str(csp_checkpoint), "--ratios", "0.05", "--seeds", "0", "--steps", "3",
            "--prior_losses", "softmax", "--prior_exponents", "--out", str(tmp_path / "eval")]
    assert cli_main(args) == 0
    assert "image features of 200 eurosat records from the feature cache" in capsys.readouterr().err
    assert computed == [] and (folder / "features.npy").stat().st_mtime_ns == written and list(cache.iterdir()) == [
        folder]
    monkeypatch.undo()
    assert cli_main([*args, "--bands", "B02", "B03", "B04"]) == 0  # another key: computed, never the stale ones
    assert "image features of 200 eurosat records computed" in capsys.readouterr().err
    assert len(list(cache.glob("*/key.json"))) == 2
    assert cli_main([*args, "--split_seed", "3"]) == 2
    assert "held out the test split of split_seed 0" in capsys.readouterr().err


def test_csp_trains_the_image_encoder_end_to_end(tmp_path):
    from trainer.data.feature_cache import file_hash
    from trainer.models.frozen import frozen_backbone

    args = [*_csp_args(tmp_path, 1), "--data.image_encoder_trainable", "true", "--trainer.max_steps", "2",
            "--model.image_lr", "0.0005"]
    assert cli_main(["csp", *args]) == 0
    state = torch.load(tmp_path / "ckpt" / "last.ckpt", map_location="cpu", weights_only=False)
    assert state["global_step"] == 2
    assert [group["initial_lr"] for group in state["optimizer_states"][0]["param_groups"]] == pytest.approx(
        [1e-3, 5e-4])  # location side, image encoder
    initial = frozen_backbone("resnet10t_w32", 4).state_dict()  # the task's initial weights (seeded)
    trained = {k.removeprefix("image_encoder."): v for k, v in state["state_dict"].items()
               if k.startswith("image_encoder.")}
    assert trained.keys() == initial.keys()
    assert not torch.equal(trained["conv1.0.weight"], initial["conv1.0.weight"])  # back-propagated into pixels
    assert not (tmp_path / "features").exists()  # no frozen features, no cache while training
    mean = state["state_dict"]["band_mean"]
    assert mean.shape == (4,) and (mean > 100).all()  # raw reflectance statistics of the training patches
    assert cli_main(["export", "--checkpoint", str(tmp_path / "ckpt" / "last.ckpt"), "--kind", "location_encoder",
                     "--out", str(tmp_path / "loc.onnx")]) == 0
    assert OnnxModel.load(tmp_path / "loc.onnx").metadata.kind == "location_encoder"
    assert cli_main(["evaluate", "--csp_checkpoint", str(tmp_path / "ckpt" / "last.ckpt"), "--ratios", "1",
                     "--seeds", "0", "--steps", "2", "--prior_losses", "softmax", "--prior_exponents",
                     "--out", str(tmp_path / "eval")]) == 0
    key = json.loads(next((tmp_path / "features").glob("*/key.json")).read_text())
    assert key["checkpoint_sha256"] == file_hash(tmp_path / "ckpt" / "last.ckpt")  # the trained image encoder


def test_location_prior_from_csp_checkpoint(csp_checkpoint, tmp_path):
    task = LocationClassifierTask(["a", "b", "c"], csp_checkpoint=str(csp_checkpoint))
    csp = CspTask.load_from_checkpoint(csp_checkpoint)
    theirs_state = csp.location_encoder.state_dict()
    for mine, theirs in zip(task.encoder.state_dict().values(), theirs_state.values(), strict=True):
        assert torch.equal(mine, theirs)
    assert task.hparams.csp_checkpoint is None and task.hparams.encoder_params["out_dim"] == 16
    export_onnx(task.export_spec("location_prior"), tmp_path / "prior.onnx")
    model = OnnxModel.load(tmp_path / "prior.onnx")
    probabilities = model.run(latlon=np.array([[10.0, 20.0]], np.float32))
    assert model.metadata.class_names == ["a", "b", "c"] and np.isclose(probabilities.sum(), 1.0, atol=1e-5)
    with pytest.raises(TrainerError, match="cannot be exported as 'location_encoder'"):
        task.export_spec("location_encoder")


def test_prior_cli_trains_continent_prior(tmp_path, capsys):
    code = cli_main(["prior", "--config", str(REPO / "trainer/configs/prior_continents.yaml"),
                     "--trainer.max_epochs", "1", "--trainer.enable_progress_bar", "false",
                     "--trainer.default_root_dir", str(tmp_path), "--trainer.logger", "false",
                     "--trainer.callbacks", "[]", "--trainer.enable_checkpointing", "false",
                     "--data.label_ratio", "0.2"])
    assert code == 0
    out = capsys.readouterr().out
    top1 = float(out.split("held-out top-1 ")[1].split(",")[0])
    assert top1 > 0.8  # continents are easy from coordinates, even after one epoch on 20 % of labels
    task = LocationClassifierTask.load_from_checkpoint(tmp_path / "final.ckpt")
    assert "North America" in task.hparams.class_names  # GeoNames code "NA", not a missing value
    assert task.export_spec("location_prior").metadata.metrics["heldout_top1"] == pytest.approx(top1, abs=1e-4)


@pytest.mark.parametrize("command", ["prior", "finetune"])
def test_cli_reports_bad_values_in_one_line(command):
    """``prior`` and its old name ``finetune`` run the same command; the old name says, in one line, what it is
    now."""
    proc = subprocess.run([sys.executable, "-m", "trainer", command, "--config",
                           str(REPO / "trainer/configs/prior_eurosat.yaml"), "--data.label_ratio", "1.5",
                           "--trainer.logger", "false"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2 and "label_ratio 1.5" in proc.stderr and "Traceback" not in proc.stderr
    note = "note: `python -m trainer finetune` is now `python -m trainer prior`"
    assert (proc.stderr.splitlines()[0] == note) == (command == "finetune") and proc.stderr.count(note) <= 1


def test_the_command_list_names_prior_and_its_old_name(capsys):
    assert cli_main(["--help"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")}
    assert "location prior" in rows["prior"] and "old name of `prior`" in rows["finetune"]


@pytest.mark.slow
def test_csp_ddp_two_cpu_processes(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "trainer", "csp", *_csp_args(tmp_path, 2),
                           "--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.accelerator", "cpu",
                           "--data.batch_size", "32"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    state = torch.load(tmp_path / "ckpt" / "last.ckpt", map_location="cpu", weights_only=False)
    assert state["epoch"] == 1 and state["global_step"] > 0
