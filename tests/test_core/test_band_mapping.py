"""Band mapping: by name, alias, wavelength, sensor and training labels; masked groups; hints (#27, #28)."""

from __future__ import annotations

import pytest

from qgis_csp_plugin.contract.bands import (
    S2_BAND_GROUPS,
    S2_OPTICAL_BANDS,
    S2_WAVELENGTHS_NM,
    SENSORS,
    detect_sensor,
    s2_band_of_label,
)
from qgis_csp_plugin.contract.schema import ModelMetadata, Normalization, Spectral
from qgis_csp_plugin.core.band_mapping import (
    BandMappingError,
    band_mapping,
    mapping_hint,
    parse_bands,
    resolve_choice,
    validate_bands,
)

S2 = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11", "B12", "B8A"]
OPTICAL = list(S2_OPTICAL_BANDS)


def image_model(bands, spectral: bool = False, **extra) -> ModelMetadata:
    """Metadata of an image encoder over ``bands``; ``spectral``: with the released encoders' band groups."""
    norm = Normalization([1000.0] * len(bands), [500.0] * len(bands), radiometry="reflectance" if spectral
                         else "absolute", reflectance_scale=10000.0 if spectral else None)
    fields = dict(spectral=Spectral("pixels", [S2_WAVELENGTHS_NM[b] for b in bands],
                                    {k: list(v) for k, v in S2_BAND_GROUPS.items()}, derived={"NDVI": ["B08", "B04"]}),
                  extra_inputs=["band_mask", "latlon", "month"]) if spectral else {}
    return ModelMetadata(kind="image_encoder", name="m", bands=list(bands), tile_size=64, gsd_m=10.0,
                         normalization=norm, embedding_dim=8, **fields, **extra)


def qgis_labels(*descriptions, colours=None) -> list[str]:
    """Labels as qgis_io.provider_reader.band_labels builds them ("Band n Band n: desc Colour")."""
    colours = colours or ["Undefined"] * len(descriptions)
    return [f"Band {i} Band {i}" + (f": {d}" if d else "") + f" {c}"
            for i, (d, c) in enumerate(zip(descriptions, colours, strict=True), start=1)]


def test_labels_name_sentinel2_bands_by_id_word_wavelength_and_sensor():
    cases = {"B4": "B04", "SR_B4": "B04", "B8A": "B8A", "08A - Vegetation Red Edge": "B8A", "Red": "B04",
             "Band 3 Band 3 Blue": "B02", "nir": "B08", "Near Infrared": "B08", "swir1": "B11", "SWIR 2": "B12",
             "Red Edge 2": "B06", "665 nm": "B04", "0.865 um": "B8A", "Vegetation Red Edge": None, "Band 4": None,
             "ST_B10": None, "Gray": None}
    for label, expected in cases.items():
        assert s2_band_of_label(label) == expected, label
    landsat5 = SENSORS["landsat_tm"]
    assert s2_band_of_label("SR_B4", landsat5) == "B08" and s2_band_of_label("B7", landsat5) == "B12"
    assert s2_band_of_label("B6", landsat5) is None  # thermal: no counterpart


def test_sensors_from_product_names():
    names = {"LC08_L1TP_224078_20200518_RGB.tif": "landsat_oli", "LE07_L2SP_0001.tif": "landsat_etm",
             "LT05_L1TP_x.tif": "landsat_tm", "m_4709963_se_14_1_20200831.tif": "naip",
             "20200101_101010_1014_3B_AnalyticMS_SR.tif": "planetscope_4band", "RGB.byte.tif": None}
    assert {name: getattr(detect_sensor(name), "key", None) for name in names} == names


def test_non_maskable_models_map_by_name_then_by_position():
    def automatic(bands, labels):
        return band_mapping(image_model(bands), labels).layer_bands

    labels = ["Band 1 (Blue)", "Band 2 (Green)", "Band 3 (Red)"]
    assert automatic(["red", "green", "blue"], labels) == [3, 2, 1]
    assert automatic(S2, [f"Band {i:02d} (Gray)" for i in range(1, 14)]) == list(range(1, 14))
    esa = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12"]
    assert [esa[i - 1] for i in automatic(S2, esa)] == [b.replace("B0", "B") for b in S2]
    assert automatic(["B04", "B03", "B02"], ["B02 (blue)", "B03", "B04"]) == [3, 2, 1]
    gray = band_mapping(image_model(S2), [f"Band {i} (Gray)" for i in range(1, 14)])
    assert gray.how == "position" and "layer order" in gray.notes[0]
    assert band_mapping(image_model(S2), esa).how == "names" and not band_mapping(image_model(S2), esa).notes


def test_the_hint_lists_one_value_per_model_band_with_their_names():
    """#27: never "e.g. 1,2,3" when 13 values are needed."""
    with pytest.raises(BandMappingError) as error:
        band_mapping(image_model(S2), qgis_labels("", "", "", colours=["Red", "Green", "Blue"]))
    message = str(error.value)
    example = message.split("e.g. ")[1].split()[0].rstrip(";,")
    assert len(example.split(",")) == 13 and ",".join(S2) in message
    assert example.split(",")[1:4] == ["3", "2", "1"]  # B02, B03, B04 found by colour
    rgb_hint = mapping_hint(["red", "green", "blue"], [f"Band {i}" for i in range(1, 14)], False)
    assert "3 layer band numbers" in rgb_hint and "red,green,blue, e.g. 1,2,3" in rgb_hint
    hint = mapping_hint(OPTICAL, qgis_labels("Red", "Green", "Blue", "NIR"), True)
    assert "e.g. 3,2,1,0,0,0,4,0,0,0 (0 = the layer lacks it: masked)" in hint


def test_rgb_layers_feed_the_rgb_group_and_mask_the_rest():
    meta = image_model(OPTICAL, spectral=True)
    mapping = band_mapping(meta, qgis_labels("", "", "", colours=["Red", "Green", "Blue"]))
    assert mapping.layer_bands == [3, 2, 1, 0, 0, 0, 0, 0, 0, 0]
    assert mapping.masked == OPTICAL[3:] and mapping.used_groups == ["S2_RGB"]
    assert mapping.band_mask.tolist() == [0, 0, 0] + [1] * 7
    assert "B02 ← band 3 (Blue)" in mapping.describe() and "masked" in mapping.describe()


def test_naip_is_read_by_its_sensor_order_and_landsat_by_its_numbering():
    meta = image_model(OPTICAL, spectral=True)
    naip = band_mapping(meta, qgis_labels("", "", "", "", colours=["Gray"] + ["Undefined"] * 3),
                        layer_name="m_4709963_se_14_1_20200831.tif")
    assert naip.how == "sensor" and naip.layer_bands[:3] == [3, 2, 1] and naip.layer_bands[6] == 4
    assert naip.used_groups == ["S2_RGB", "S2_NIR_10m", "NDVI"] and "NAIP" in naip.notes[0]
    tm = [f"SR_B{i}" for i in (1, 2, 3, 4, 5, 7)]
    landsat5 = band_mapping(meta, qgis_labels(*tm), layer_name="LT05_L2SP_227062_19880814.tif")
    expected = {"B02": 1, "B03": 2, "B04": 3, "B05": 0, "B06": 0, "B07": 0, "B08": 4, "B8A": 0, "B11": 5, "B12": 6}
    assert dict(zip(OPTICAL, landsat5.layer_bands, strict=True)) == expected
    assert landsat5.used_groups == ["S2_RGB", "S2_NIR_10m", "S2_SWIR", "NDVI"] and landsat5.how == "names"
    with pytest.raises(BandMappingError, match="unknown sensor"):
        band_mapping(meta, qgis_labels("", ""), sensor="spot")


def test_an_incomplete_group_is_masked_whole_and_user_mappings_resolve_names():
    meta = image_model(OPTICAL, spectral=True)
    labels = qgis_labels("SWIR1", "NIR", "Red", "Green")  # Landsat false colour: no blue, no SWIR2
    mapping = band_mapping(meta, labels)
    assert mapping.layer_bands == [0, 4, 3, 0, 0, 0, 2, 0, 1, 0]
    assert mapping.masked == [b for b in OPTICAL if b != "B08"] and mapping.used_groups == ["S2_NIR_10m", "NDVI"]
    assert mapping.read_bands == [0, 0, 0, 0, 0, 0, 2, 0, 0, 0]
    assert parse_bands("B04=3, nir=2 ,B11=1") == {"B04": 3, "nir": 2, "B11": 1}
    assert parse_bands("3,2,1,0,-") == [3, 2, 1, 0, 0] and parse_bands("") == []
    assert resolve_choice({"red": 1, "B08": 4}, OPTICAL) == [0, 0, 1, 0, 0, 0, 4, 0, 0, 0]
    given = band_mapping(meta, labels, {"B04": 3, "B03": 4, "B02": 2})
    assert given.how == "user" and given.used_groups == ["S2_RGB"]
    with pytest.raises(BandMappingError, match="not a band of the model"):
        resolve_choice({"B99": 1}, OPTICAL)
    with pytest.raises(BandMappingError, match="none of the model's band groups is complete"):
        band_mapping(meta, qgis_labels("B05", "B06"))


def test_validation_messages():
    with pytest.raises(BandMappingError, match="comma-separated|layer band numbers"):
        parse_bands("red,green")
    with pytest.raises(BandMappingError, match="band\\(s\\) 4 do not exist: the layer has 3"):
        validate_bands([4, 3, 2], ["red", "green", "blue"], 3)
    with pytest.raises(BandMappingError, match="needs 3 bands"):
        validate_bands([1, 2], ["red", "green", "blue"], 3)
    with pytest.raises(BandMappingError, match="needs every band \\(red, green, blue\\): 0 \\(missing\\) is not"):
        band_mapping(image_model(["red", "green", "blue"]), qgis_labels("a", "b"), [1, 2, 0])
    with pytest.raises(BandMappingError, match="the layer has 4 whose names give only red, green. Set the band"):
        band_mapping(image_model(["red", "green", "blue"]), qgis_labels("Red", "Green", "x", "y"))


def test_a_trained_model_re_matches_the_labels_it_was_trained_on():
    """#27: a model trained with a custom mapping finds the same bands again without the user."""
    labels = qgis_labels("x", "y", "z", "w")
    trained = image_model(["red", "green", "blue"], source_band_labels=[labels[3], labels[0], labels[2]])
    mapping = band_mapping(trained, labels)
    assert mapping.layer_bands == [4, 1, 3] and mapping.how == "training"
    assert band_mapping(trained, qgis_labels("Red", "Green", "Blue")).how == "names"  # another layer: by name


def test_bands_masked_at_training_are_masked_again():
    meta = image_model(OPTICAL, spectral=True)
    trained = image_model(OPTICAL, spectral=True)
    trained.spectral.masked_bands = [b for b in OPTICAL if b not in ("B02", "B03", "B04")]
    all_bands = qgis_labels(*OPTICAL)
    assert band_mapping(meta, all_bands).masked == []
    mapping = band_mapping(trained, all_bands)
    assert mapping.masked == trained.spectral.masked_bands
    assert "masked as when the model was trained" in mapping.notes[0]
