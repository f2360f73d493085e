"""`python -m trainer export` / `inspect` on real checkpoints of tiny trainer tasks trained with Lightning.

The tasks below are small but real :class:`ExportableTask` LightningModules (trained for two steps
by a real ``lightning.Trainer`` on CPU, saved as real checkpoints) covering every export kind.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import numpy as np
import onnx
import pytest
import torch
from torch import nn

from qgis_csp_plugin.contract.onnx_model import OnnxModel
from qgis_csp_plugin.contract.schema import EXPORT_REPORT_KEY, ModelMetadata
from trainer import __version__ as TRAINER_VERSION
from trainer.cli import main
from trainer.export.spec import ExportSpec
from trainer.tasks.base import ExportableTask

REPO = Path(__file__).resolve().parents[2]
BANDS = ["red", "green", "blue"]
CLASSES = ["Forest", "River", "Residential"]
MEAN, STD = [900.0, 1000.0, 1100.0], [300.0, 250.0, 200.0]


class Normalize(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(MEAN).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, -1, 1, 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return (image - self.mean) / self.std


class SphereEncoder(nn.Module):
    """(lat, lon) degrees → unit-sphere xyz → MLP embedding."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, dim))

    def forward(self, latlon: torch.Tensor) -> torch.Tensor:
        lat, lon = (latlon * (math.pi / 180)).unbind(1)
        xyz = torch.stack([lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()], 1)
        return self.mlp(xyz)


class Softmax(nn.Module):
    """``softmax(head(body(x)))``; with two bodies, the CSP fusion P(y|img)·P(y|loc) in log space."""

    def __init__(self, *branches: nn.Module) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        logits = sum(torch.log_softmax(b(x), 1) for b, x in zip(self.branches, inputs, strict=True))
        return torch.softmax(logits, 1)


class TinyGeoTask(ExportableTask):
    """Image classifier + location encoder + location-prior head: exports every kind."""

    EXPORT_KINDS = ("image_classifier", "location_encoder", "location_prior", "fused")

    def __init__(self, class_names: list[str] = CLASSES, dim: int = 8, tile: int = 16) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.image_net = nn.Sequential(Normalize(), nn.Conv2d(3, 32, 3, stride=2), nn.ReLU(),
                                       nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, max(len(class_names), 2)))
        self.encoder = SphereEncoder(dim)
        self.prior_head = nn.Linear(dim, max(len(class_names), 2))

    def training_step(self, batch, _index):
        image, latlon, label = batch
        return (nn.functional.cross_entropy(self.image_net(image), label)
                + nn.functional.cross_entropy(self.prior_head(self.encoder(latlon)), label))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def export_module(self, kind: str) -> nn.Module:
        prior = nn.Sequential(self.encoder, self.prior_head)
        return {"image_classifier": Softmax(self.image_net), "location_encoder": self.encoder,
                "location_prior": Softmax(prior), "fused": Softmax(self.image_net, prior)}[kind]

    def build_export_spec(self, kind: str, **options) -> ExportSpec:
        hp = self.hparams
        image = torch.full((2, 3, hp.tile, hp.tile), 1000.0)
        latlon = torch.tensor([[48.1, 11.6], [-33.9, 151.2]])
        fields = dict(kind=kind, name=f"tiny {kind}", metrics={"val_top1": 0.5}, training={"data": "synthetic"})
        if kind != "image_classifier":
            fields["location_encoder"] = {"name": "xyz-mlp", "params": {"dim": hp.dim}}
        if kind == "location_encoder":
            fields["embedding_dim"] = hp.dim
        else:
            fields["class_names"] = list(hp.class_names)
        if kind in ("image_classifier", "fused"):
            fields.update(bands=BANDS, tile_size=hp.tile, gsd_m=10.0, normalization={"mean": MEAN, "std": STD})
        inputs = {"image_classifier": (image,), "fused": (image, latlon)}.get(kind, (latlon,))
        names = {"image_classifier": ("image",), "fused": ("image", "latlon")}.get(kind, ("latlon",))
        output = "embedding" if kind == "location_encoder" else "probabilities"
        atol = 1e-3 if "image" in names else 1e-4
        return ExportSpec(self.export_module(kind), inputs, names, output, ModelMetadata(**fields), atol)


class ImageOnlyTask(TinyGeoTask):
    EXPORT_KINDS = ("image_classifier",)


class OnnxDiffers(nn.Module):
    """Wraps a module; the traced (ONNX) graph adds 0.5: a model whose export is wrong."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, *inputs):
        out = self.inner(*inputs)
        return out + 0.5 if torch.onnx.is_in_onnx_export() else out


class ExportCrashes(OnnxDiffers):
    def forward(self, *inputs):
        if torch.onnx.is_in_onnx_export():
            raise RuntimeError("simulated crash in the middle of the export")
        return self.inner(*inputs)


class BadParityTask(TinyGeoTask):
    def export_module(self, kind: str) -> nn.Module:
        return OnnxDiffers(super().export_module(kind))


class CrashingTask(TinyGeoTask):
    def export_module(self, kind: str) -> nn.Module:
        return ExportCrashes(super().export_module(kind))


def train_and_save(task: L.LightningModule, path: Path) -> Path:
    """Two real optimisation steps on CPU, then a real Lightning checkpoint."""
    torch.manual_seed(0)
    n, tile = 8, task.hparams.tile
    image = torch.rand(n, 3, tile, tile) * 2000
    latlon = torch.stack([torch.rand(n) * 180 - 90, torch.rand(n) * 360 - 180], 1)
    label = torch.arange(n) % 2
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(image, latlon, label), batch_size=4)
    trainer = L.Trainer(max_steps=2, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=path.parent)
    trainer.fit(task, loader)
    trainer.save_checkpoint(path)
    return path


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ckpt")
    tasks = {"geo": TinyGeoTask(), "image_only": ImageOnlyTask(), "no_classes": TinyGeoTask(class_names=[]),
             "bad_parity": BadParityTask(), "crash": CrashingTask()}
    return {name: train_and_save(task, folder / f"{name}.ckpt") for name, task in tasks.items()}


def export(checkpoint: Path, kind: str, out: Path, *extra: str) -> int:
    return main(["export", "--checkpoint", str(checkpoint), "--kind", kind, "--out", str(out), *extra])


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("kind", TinyGeoTask.EXPORT_KINDS)
def test_every_kind_exports_with_parity_and_metadata(checkpoints, tmp_path, capsys, kind):
    out = tmp_path / "models" / f"{kind}.onnx"
    assert export(checkpoints["geo"], kind, out) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "parity ok" in printed
    model = OnnxModel.load(out)
    expected = TinyGeoTask.load_from_checkpoint(checkpoints["geo"]).export_spec(kind).metadata
    expected.trainer_version = TRAINER_VERSION
    assert model.metadata == expected  # the whole schema round-trips through metadata_props
    report = model.export_report
    assert report["precision"] == "float32" and report["parity_max_abs_diff"] <= report["parity_bound"]
    assert report["parity_bound"] == (1e-3 if model.metadata.has_image_input else 1e-4)
    assert "self check ok" in model.self_check()
    assert leftovers(out.parent) == [out.name]


def test_exported_model_matches_checkpoint_weights(checkpoints, tmp_path):
    """The ONNX prior reproduces the trained torch module, not a freshly initialised one."""
    out = tmp_path / "prior.onnx"
    assert export(checkpoints["geo"], "location_prior", out) == 0
    task = TinyGeoTask.load_from_checkpoint(checkpoints["geo"], map_location="cpu").eval()
    latlon = np.array([[52.5, 13.4], [-1.3, 36.8], [40.7, -74.0]], dtype=np.float32)
    with torch.no_grad():
        expected = task.export_module("location_prior")(torch.from_numpy(latlon)).numpy()
    got = OnnxModel.load(out).run(latlon=latlon)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    fresh = TinyGeoTask().export_module("location_prior")(torch.from_numpy(latlon)).detach().numpy()
    assert np.abs(fresh - got).max() > 1e-4


def test_name_and_description_override(checkpoints, tmp_path):
    out = tmp_path / "named.onnx"
    assert export(checkpoints["geo"], "location_encoder", out, "--name", "My encoder",
                  "--description", "demo") == 0
    meta = OnnxModel.load(out).metadata
    assert (meta.name, meta.description, meta.embedding_dim) == ("My encoder", "demo", 8)


def test_fp16_and_int8_variants_report_accuracy_change(checkpoints, tmp_path, capsys):
    out = tmp_path / "fused.onnx"
    assert export(checkpoints["geo"], "fused", out, "--fp16", "--int8") == 0
    printed = capsys.readouterr().out
    assert printed.count("accuracy change") == 2 and printed.count("top-1 agreement") == 2
    reference = OnnxModel.load(out)
    feeds = reference.random_batch(32, seed=3)
    for precision in ("fp16", "int8"):
        variant = OnnxModel.load(tmp_path / f"fused.{precision}.onnx")
        assert variant.metadata.name == f"{reference.metadata.name} ({precision})"
        assert variant.metadata.class_names == reference.metadata.class_names
        report = variant.export_report
        assert report["precision"] == precision and 0.0 <= report["top1_agreement_vs_float32"] <= 1.0
        got = variant.run(**feeds)
        np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-4)
        assert np.abs(got - reference.run(**feeds)).max() < 0.05
        assert f"precision={precision}" in variant.describe()
    assert weight_bytes(tmp_path / "fused.fp16.onnx") == {"float16": weight_bytes(out)["float32"] // 2}
    assert leftovers(tmp_path) == ["fused.fp16.onnx", "fused.int8.onnx", "fused.onnx"]


def weight_bytes(path: Path) -> dict[str, int]:
    """Bytes of the weight tensors (initializers of >= 16 values) per dtype."""
    sizes: dict[str, int] = {}
    for init in onnx.load(str(path)).graph.initializer:
        array = onnx.numpy_helper.to_array(init)
        if array.size >= 16:
            sizes[str(array.dtype)] = sizes.get(str(array.dtype), 0) + array.nbytes
    return sizes


def error_of(capsys, rc: int) -> str:
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_missing_and_non_checkpoint_files_are_rejected(checkpoints, tmp_path, capsys):
    out = tmp_path / "out" / "m.onnx"
    assert "checkpoint not found" in error_of(capsys, export(tmp_path / "nope.ckpt", "fused", out))
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(os.urandom(4096))
    assert "is not a Lightning checkpoint" in error_of(capsys, export(garbage, "fused", out))
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(3)}, plain)
    assert "no 'state_dict' entry" in error_of(capsys, export(plain, "fused", out))
    assert not out.parent.exists()


def test_unknown_checkpoint_types_are_rejected(checkpoints, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    checkpoint = torch.load(checkpoints["geo"], weights_only=False)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({k: v for k, v in checkpoint.items() if k != "geossl_task"}, foreign)
    assert "not written by a geo-SSL trainer task" in error_of(capsys, export(foreign, "fused", out))
    unknown = tmp_path / "unknown.ckpt"
    torch.save({**checkpoint, "geossl_task": "trainer.tasks.gone:VanishedTask"}, unknown)
    err = error_of(capsys, export(unknown, "fused", out))
    assert "'trainer.tasks.gone:VanishedTask'" in err and "does not have" in err
    not_a_task = tmp_path / "not_task.ckpt"
    torch.save({**checkpoint, "geossl_task": "torch.nn:Linear"}, not_a_task)
    assert "is not a geo-SSL trainer task" in error_of(capsys, export(not_a_task, "fused", out))
    assert leftovers(tmp_path) == ["foreign.ckpt", "not_task.ckpt", "unknown.ckpt"]


def test_kind_mismatch_and_missing_class_names_write_nothing(checkpoints, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    err = error_of(capsys, export(checkpoints["image_only"], "location_prior", out))
    assert "ImageOnlyTask checkpoint cannot be exported as 'location_prior'" in err
    assert "supports: image_classifier" in err
    err = error_of(capsys, export(checkpoints["no_classes"], "image_classifier", out))
    assert "cannot export no_classes.ckpt as image_classifier" in err and "class_names" in err
    err = error_of(capsys, export(checkpoints["geo"], "fused", tmp_path / "m.pt"))
    assert "error: --out must be a .onnx file" in err
    assert leftovers(tmp_path) == []


@pytest.fixture
def good_model(checkpoints, tmp_path) -> tuple[Path, bytes]:
    out = tmp_path / "models" / "model.onnx"
    assert export(checkpoints["geo"], "fused", out) == 0
    return out, out.read_bytes()


def test_failed_parity_leaves_existing_model_untouched(checkpoints, good_model, capsys):
    out, before = good_model
    capsys.readouterr()
    err = error_of(capsys, export(checkpoints["bad_parity"], "fused", out))
    assert "rejected, parity FAILED" in err and "5.00e-01" in err
    assert out.read_bytes() == before
    assert leftovers(out.parent) == ["model.onnx"]  # no *.part left behind
    err = error_of(capsys, export(checkpoints["bad_parity"], "location_encoder", out.parent / "new.onnx"))
    assert "parity FAILED" in err and leftovers(out.parent) == ["model.onnx"]


def test_crash_mid_export_leaves_no_file(checkpoints, good_model):
    out, before = good_model
    with pytest.raises(RuntimeError, match="simulated crash"):
        export(checkpoints["crash"], "fused", out)
    with pytest.raises(RuntimeError, match="simulated crash"):
        export(checkpoints["crash"], "image_classifier", out.parent / "other.onnx")
    assert out.read_bytes() == before and leftovers(out.parent) == ["model.onnx"]


def test_killed_writer_never_leaves_a_partial_model(good_model):
    """SIGKILL inside the atomic write: the target keeps its old bytes (a hidden *.part may remain)."""
    out, before = good_model
    code = ("import os, signal, sys; from trainer.export.atomic import atomic_output\n"
            "with atomic_output(sys.argv[1]) as tmp:\n"
            "    tmp.write_bytes(b'half a model')\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n")
    result = subprocess.run([sys.executable, "-c", code, str(out)], cwd=REPO, capture_output=True, timeout=60)
    assert result.returncode == -9
    assert out.read_bytes() == before
    partial = [p.name for p in out.parent.glob(".model.onnx.*.part")]
    assert [p for p in leftovers(out.parent) if p != "model.onnx"] == partial


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trainer", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})


def test_cli_process_reports_bad_checkpoint_in_one_line(tmp_path):
    result = run_cli("export", "--checkpoint", str(tmp_path / "missing.ckpt"), "--kind", "fused",
                     "--out", str(tmp_path / "x.onnx"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    # the last line: warnings from third-party imports (e.g. matplotlib) may precede it
    assert result.stderr.strip().splitlines()[-1] == f"error: checkpoint not found: {tmp_path / 'missing.ckpt'}"
    assert leftovers(tmp_path) == []


def test_inspect_prints_description_and_self_check_without_torch(good_model):
    out, _ = good_model
    code = ("import sys; from trainer.cli import main; rc = main(['inspect', sys.argv[1]]); "
            "print('torch imported:', 'torch' in sys.modules); raise SystemExit(rc)")
    result = subprocess.run([sys.executable, "-c", code, str(out)], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "torch imported: False" in text
    model = OnnxModel.load(out)
    assert model.describe() in text  # the same text as the plugin's tooltip
    for line in ("tiny fused (fused, schema v3)", "classes (3): Forest, River, Residential",
                 "input image: float32 (batch, 3, 16, 16)", "input latlon: float32 (batch, 2)",
                 "output probabilities: float32 (batch, 3)", "export: precision=float32", "MB)",
                 "self check ok: 8 random inputs -> finite probabilities (8, 3), rows sum to 1"):
        assert line in text
    assert json.loads(model.session.get_modelmeta().custom_metadata_map[EXPORT_REPORT_KEY])["opset"] == 17


def test_inspect_rejects_non_model_in_one_line(tmp_path):
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"not an onnx file")
    result = run_cli("inspect", str(bogus))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: bogus.onnx is not a readable ONNX model")
