"""The α spin box shared by the Classify and the prediction-heatmap dialogs."""

from __future__ import annotations

from qgis.PyQt.QtWidgets import QDoubleSpinBox

STORED_TEXT = "stored in the prior"
STORED = -0.01  # the box's minimum, shown as STORED_TEXT


def prior_exponent_box() -> QDoubleSpinBox:
    """α in P(y|image)·P(y|location)^α; at its minimum it reads "stored in the prior"."""
    box = QDoubleSpinBox()
    box.setDecimals(2)
    box.setRange(STORED, 10.0)
    box.setSingleStep(0.05)
    box.setSpecialValueText(STORED_TEXT)
    box.setValue(STORED)
    box.setToolTip("α in P(y|image)·P(y|location)^α: 0 = image only, 1 = plain product; by default the α "
                   "chosen on validation data and stored in the prior (1 for priors without one)")
    return box


def prior_exponent_value(box: QDoubleSpinBox) -> float | None:
    """The α the user set, or None for the prior's stored α."""
    return None if box.value() < 0 else box.value()
