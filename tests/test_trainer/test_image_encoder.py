"""``export --kind image_encoder`` from a real MoCo checkpoint, and the encoder + numpy head merged
into one ONNX ``image_classifier`` without the onnx package (checked here with onnx's checker; the
head's tile statistics: ``test_onnx_head.py``)."""

from __future__ import annotations

import json

import lightning as L
import numpy as np
import onnx
import pytest
import torch
from moco_fixtures import eurosat_csv

from qgis_csp_plugin.contract.errors import GeoSslError
from qgis_csp_plugin.contract.onnx_model import OnnxModel
from qgis_csp_plugin.contract.schema import ModelMetadata
from qgis_csp_plugin.core.logistic_regression import LogisticModel
from qgis_csp_plugin.core.onnx_head import append_head
from trainer.cli import main
from trainer.data.image_datamodule import ImageDataModule
from trainer.errors import TrainerError
from trainer.tasks.image_classifier import ImageClassifierTask
from trainer.tasks.moco import MocoTask

BANDS = ["B02", "B03", "B04", "B08"]


@pytest.fixture(scope="module")
def encoder_path(tmp_path_factory):
    folder = tmp_path_factory.mktemp("moco")
    torch.set_num_threads(1)
    L.seed_everything(0)
    data = ImageDataModule(sources=[str(eurosat_csv(folder))], bands=BANDS, key_view="augment",
                           batch_size=8, tile_size=32)
    model = MocoTask(backbone="resnet10t_w32", bands=BANDS, tile_size=32, queue_size=8, gsd_m=10.0)
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=folder, enable_checkpointing=False, max_steps=2)
    trainer.fit(model, datamodule=data)
    trainer.save_checkpoint(folder / "moco.ckpt")
    out = folder / "encoder.onnx"
    assert main(["export", "--checkpoint", str(folder / "moco.ckpt"), "--kind", "image_encoder",
                 "--out", str(out)]) == 0
    return out


def test_encoder_metadata_and_output_equal_the_moco_backbone(encoder_path):
    encoder = OnnxModel.load(encoder_path)
    meta = encoder.metadata
    assert (meta.kind, meta.bands, meta.tile_size, meta.gsd_m, meta.embedding_dim) == (
        "image_encoder", BANDS, 32, 10.0, 256)
    assert meta.normalization.radiometry == "absolute" and meta.class_names == []
    restored = MocoTask.load_from_checkpoint(encoder_path.parent / "moco.ckpt").eval()
    images = encoder.random_batch(3)["image"]
    with torch.no_grad():
        expected = restored.encoder_q.backbone(restored.normalise(torch.from_numpy(images))).numpy()
    assert np.abs(encoder.run(image=images) - expected).max() < 1e-3


def test_merged_classifier_equals_encoder_plus_numpy_head(encoder_path, tmp_path):
    encoder = OnnxModel.load(encoder_path)
    rng = np.random.default_rng(0)
    head = LogisticModel(rng.normal(size=256), rng.uniform(0.5, 2, 256), rng.normal(size=(3, 256)), rng.normal(size=3))
    meta = ModelMetadata.from_dict({**encoder.metadata.to_dict(), "kind": "image_classifier", "name": "few-label",
                                    "class_names": ["a", "b", "c"]})
    merged = append_head(encoder_path.read_bytes(), ("embedding",), head, meta.to_props(), meta.describe())
    proto = onnx.load_from_string(merged)
    onnx.checker.check_model(proto, full_check=True)
    assert [o.name for o in proto.graph.output] == ["probabilities"]
    assert proto.doc_string == meta.describe()
    path = tmp_path / "classifier.onnx"
    path.write_bytes(merged)
    classifier = OnnxModel.load(path)
    assert classifier.metadata.class_names == ["a", "b", "c"] and classifier.metadata.kind == "image_classifier"
    assert json.loads(dict((p.key, p.value) for p in proto.metadata_props)["kind"]) == "image_classifier"
    images = encoder.random_batch(4)["image"]
    expected = head.predict_proba(encoder.run(image=images))
    assert np.abs(classifier.run(image=images) - expected).max() < 1e-5


def test_head_needs_an_encoder_graph(encoder_path):
    head = LogisticModel(np.zeros(2), np.ones(2), np.zeros((2, 2)), np.zeros(2))
    with pytest.raises(GeoSslError, match="not a readable ONNX model|no graph"):
        append_head(b"\x0a\xff\xff", ("embedding",), head, {})
    with pytest.raises(GeoSslError, match="do not fit"):
        append_head(encoder_path.read_bytes(), ("embedding",), LogisticModel(np.zeros(256), np.ones(256),
                                                                             np.zeros((2, 256)), np.zeros(3)), {})


def test_classifier_tasks_cannot_export_encoders():
    with pytest.raises(TrainerError, match="supports: image_classifier"):
        ImageClassifierTask(bands=BANDS, class_names=["a", "b"]).export_spec("image_encoder")
