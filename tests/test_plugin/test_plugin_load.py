"""The plugin loads in a real headless QGIS, adds its toolbar and Processing provider, unloads cleanly."""

import pytest
from qgis.core import QgsApplication
from qgis.PyQt.QtWidgets import QToolBar

import qgis_csp_plugin
from qgis_csp_plugin.plugin import ACTIONS

pytestmark = pytest.mark.qgis


def test_toolbar_actions_and_provider(qgis_iface, qgis_app):
    plugin = qgis_csp_plugin.classFactory(qgis_iface)
    plugin.initGui()
    try:
        names = [a.objectName() for a in plugin.toolbar.actions()]
        assert names == [name for name, *_ in ACTIONS]
        assert plugin.toolbar.actions()[0].text() == "Classify layer"
        assert isinstance(plugin.toolbar, QToolBar) and plugin.toolbar.windowTitle() == "CSP"
        assert QgsApplication.processingRegistry().providerById("csp") is not None
        for algorithm in ("csp:train_classifier", "csp:accuracy_assessment"):  # opened by toolbar actions
            assert algorithm in [target for *_, target in ACTIONS]
            assert QgsApplication.processingRegistry().algorithmById(algorithm) is not None
        assert QgsApplication.processingRegistry().algorithmById("csp:class_area_report") is not None
    finally:
        plugin.unload()
    assert plugin.actions == [] and plugin.toolbar is None
    assert QgsApplication.processingRegistry().providerById("csp") is None
