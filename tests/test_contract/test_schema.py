"""The shared metadata schema: round trip, validation errors, schema version."""

import json

import pytest

from qgis_csp_plugin.contract.schema import SCHEMA_MARKER, SCHEMA_VERSION, MetadataError, ModelMetadata


def image_meta(**overrides):
    fields = dict(kind="image_classifier", name="toy", class_names=["a", "b"], bands=["red", "green", "blue"],
                  tile_size=32, gsd_m=10.0, normalization={"mean": [1, 2, 3], "std": [1, 1, 1]})
    fields.update(overrides)
    return ModelMetadata(**fields)


def test_round_trip_through_props_is_lossless():
    meta = image_meta(metrics={"top1": 0.5}, training={"data": "EuroSAT"})
    props = meta.to_props()
    assert all(isinstance(v, str) for v in props.values())
    assert json.loads(props[SCHEMA_MARKER]) == SCHEMA_VERSION == 3
    assert ModelMetadata.from_props(props) == meta


def test_location_encoder_with_pca_round_trips():
    meta = ModelMetadata(kind="location_encoder", name="loc", location_encoder={"name": "sphereM", "params": {}},
                         embedding_dim=2, pca_basis={"mean": [0, 0], "components": [[1, 0], [0, 1], [1, 1]],
                                                     "low": [0, 0, 0], "high": [1, 1, 1]})
    assert ModelMetadata.from_props(meta.to_props()).pca_basis == meta.pca_basis


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"kind": "segmenter"}, "kind"),
        ({"class_names": ["a"]}, "at least two"),
        ({"class_names": ["a", "a"]}, "unique"),
        ({"tile_size": 0}, "tile_size"),
        ({"gsd_m": None}, "gsd_m"),
        ({"normalization": {"mean": [1], "std": [1]}}, "one value per band"),
        ({"normalization": {"mean": [1, 2, 3], "std": [1, 0, 1]}}, "std"),
        ({"coordinate_order": "lon,lat"}, "coordinate_order"),
        ({"overlap": 1.5}, "overlap"),
        ({"schema_version": 99}, "schema version 99"),
        ({"normalization": {"mean": [1, 2, 3], "std": [1, 1, 1], "radiometry": "layer_percentiles"}},
         "normalization.percentiles must be"),
        ({"normalization": {"mean": [1, 2, 3], "std": [1, 1, 1], "radiometry": "layer_percentiles",
                            "percentiles": {"q": [2, 98], "low": [1, 2], "high": [3, 4]}}}, "one value per band"),
        ({"normalization": {"mean": [1, 2, 3], "std": [1, 1, 1], "radiometry": "layer_percentiles",
                            "percentiles": {"q": [98, 2], "low": [1, 2, 3], "high": [3, 4, 5]}}}, "increasing"),
        ({"normalization": {"mean": [1, 2, 3], "std": [1, 1, 1], "radiometry": "layer_percentiles",
                            "percentiles": {"q": [2, 98], "low": [1, 2, 3], "high": [3, 1, 5]}}}, "exceed"),
        ({"normalization": {"mean": [1, 2, 3], "std": [1, 1, 1], "radiometry": "reflectance"}},
         "reflectance_scale"),
        ({"extra_inputs": ["band_mask"]}, "needs 'spectral'"),
        ({"extra_inputs": ["month", "month"]}, "distinct names"),
        ({"extra_inputs": ["time"]}, "distinct names among band_mask, latlon, month"),
        ({"spectral": {"consumes": "voxels", "wavelengths_nm": [665, 560, 490]}}, "consumes must be one of"),
        ({"spectral": {"consumes": "tiles", "wavelengths_nm": [665, 560]}}, "one positive wavelength per band"),
        ({"spectral": {"consumes": "tiles", "wavelengths_nm": [665, 560, 490], "band_groups": {"x": ["nir"]}}},
         "band_groups must name bands"),
        ({"spectral": {"consumes": "tiles", "wavelengths_nm": [665, 560, 490], "patch_size": 5}},
         "positive divisor of tile_size"),
        ({"spectral": {"consumes": "pixels", "wavelengths_nm": [665, 560, 490], "required_bands": ["red"],
                       "masked_bands": ["red"]}}, "disjoint"),
        ({"source_band_labels": ["Band 1"]}, "one layer band label"),
    ],
)
def test_invalid_metadata_names_the_field(overrides, message):
    with pytest.raises(MetadataError, match=message):
        image_meta(**overrides)


def test_props_without_marker_are_rejected():
    props = image_meta().to_props()
    del props[SCHEMA_MARKER]
    with pytest.raises(MetadataError, match="not exported by"):
        ModelMetadata.from_props(props)


def test_missing_required_key_and_bad_json():
    props = image_meta().to_props()
    del props["kind"]
    with pytest.raises(MetadataError, match="'kind'"):
        ModelMetadata.from_props(props)
    props = image_meta().to_props()
    props["bands"] = "{not json"
    with pytest.raises(MetadataError, match="bands"):
        ModelMetadata.from_props(props)


def test_version_3_fields_round_trip_and_describe_themselves():
    spectral = {"consumes": "pixels", "wavelengths_nm": [664.6, 559.8, 492.7],
                "band_groups": {"S2_RGB": ["red", "green", "blue"]}, "masked_bands": []}
    meta = image_meta(kind="image_encoder", class_names=[], embedding_dim=4, spectral=spectral,
                      extra_inputs=["band_mask", "latlon", "month"], source_band_labels=["Band 3", None, "Band 1"],
                      normalization={"mean": [1, 2, 3], "std": [1, 1, 1], "radiometry": "reflectance",
                                     "reflectance_scale": 10000})
    back = ModelMetadata.from_props(meta.to_props())
    assert back == meta and back.spectral.band_groups == {"S2_RGB": ["red", "green", "blue"]}
    assert back.input_names == ["image", "band_mask", "latlon", "month"]
    text = back.describe()
    assert "embeds each pixel's spectrum" in text and "extra inputs: band_mask, latlon, month" in text
    assert "radiometry reflectance (reflectance x 10000)" in text
    with pytest.raises(MetadataError, match="only meaningful for image models"):
        ModelMetadata(kind="location_encoder", name="l", location_encoder={"name": "x", "params": {}},
                      embedding_dim=2, extra_inputs=["month"])
