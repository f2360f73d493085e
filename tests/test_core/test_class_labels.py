"""Class names from text or integer fields and the training-label checks."""

import pytest

from qgis_csp_plugin.contract.errors import GeoSslError
from qgis_csp_plugin.core.class_labels import check_training_labels, label_text, ordered_classes


@pytest.mark.parametrize("value, text", [(3, "3"), (3.0, "3"), (" Forest ", "Forest"), (None, None), ("", None),
                                         ("NULL", None), (float("nan"), None), (2.5, "2.5")])
def test_label_text(value, text):
    assert label_text(value) == text


def test_integer_classes_keep_numeric_order_text_classes_alphabetical():
    assert ordered_classes(["10", "2", "1", "2"]) == ["1", "2", "10"]
    assert ordered_classes(["water", "Forest", "crop"]) == ["crop", "Forest", "water"]


def test_checks_name_the_problem():
    assert check_training_labels(["a", "b", "a", "b"], "class") == ["a", "b"]
    with pytest.raises(GeoSslError, match="no value"):
        check_training_labels([], "class")
    with pytest.raises(GeoSslError, match="single class"):
        check_training_labels(["a", "a"], "class")
    with pytest.raises(GeoSslError, match=r"'b' \(1\)"):
        check_training_labels(["a", "a", "b"], "class")
    with pytest.raises(GeoSslError, match=r"'c' \(0\)"):
        check_training_labels(["a", "a", "b", "b"], "class", labelled=["a", "b", "c"])
    with pytest.raises(GeoSslError,
                       match="3 of 3 samples of the class field 'class' lie outside the raster or on nodata"):
        check_training_labels([], "class", labelled=["a", "b", "b"])  # all dropped after reading the pixels
    with pytest.raises(GeoSslError,
                       match="class field 'class': the classes 'Water' / 'water' differ only in upper/lower"):
        check_training_labels(["water", "Water", "water", "Water", "crop", "crop"], "class")
