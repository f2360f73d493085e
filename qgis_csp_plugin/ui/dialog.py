"""Base of the plugin's dialogs: a form that scrolls within the screen, and the dialog's own message bar."""

from __future__ import annotations

from qgis.gui import QgsMessageBar
from qgis.PyQt.QtWidgets import (
    QApplication,
    QDialog,
    QFormLayout,
    QFrame,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from .ownership import Running

SCREEN_SHARE = 0.85  # of the screen's available height, leaving room for the window frame
MIN_WIDTH = 760  # px: an extent in degrees, a CRS name or a file name need about this much


class GeoSslDialog(QDialog):
    """``form`` (a QFormLayout) sits in a scroll area: the dialog takes the form's height, never more than
    :data:`SCREEN_SHARE` of the screen (call :meth:`fit_to_screen` after rows change: it grows and shrinks).

    Messages caused by the dialog go to its own bar while it is open (a modeless dialog covers the main
    window's bar), else to QGIS's: pass the dialog as ``where`` to :mod:`.messages`. ``running`` holds the
    tasks it starts (the plugin's, so they outlive the dialog's Python object; see :mod:`.ownership`).
    """

    def __init__(self, iface, title: str, parent=None, running: Running | None = None) -> None:
        super().__init__(parent)
        self.iface = iface
        self.running = running if running is not None else Running()
        self.setWindowTitle(title)
        self.bar = QgsMessageBar(self)
        self.bar.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        content = QWidget()
        content.setLayout(self.form)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setWidget(content)
        self.main_layout = QVBoxLayout(self)
        self.main_layout.addWidget(self.bar)
        self.main_layout.addWidget(self.scroll)

    def messageBar(self) -> QgsMessageBar | None:  # noqa: N802 (the name of QGIS's interface, see messages)
        """This dialog's bar while it is open, else QGIS's main window's."""
        if self.isVisible():
            return self.bar
        return self.iface.messageBar() if self.iface is not None else None

    def fit_to_screen(self) -> None:
        """Take the form's size (grow or shrink), at most :data:`SCREEN_SHARE` of the available screen height."""
        content = self.scroll.widget()
        for widget in content.findChildren(QWidget):  # rows just added or removed count now, also while hidden
            widget.updateGeometry()
        screen = self.screen() or QApplication.primaryScreen()
        available = screen.availableGeometry()
        chrome = self.main_layout.sizeHint().height() - self.scroll.sizeHint().height()  # bar, buttons, margins
        wanted_height = content.sizeHint().height() + chrome
        scrollbar = self.scroll.verticalScrollBar().sizeHint().width()
        margins = self.main_layout.contentsMargins()
        wanted_width = max(MIN_WIDTH, content.sizeHint().width() + scrollbar + margins.left() + margins.right())
        self.resize(min(wanted_width, available.width()), min(wanted_height, int(available.height() * SCREEN_SHARE)))
