"""Run one CSP Processing algorithm in a fresh QGIS process (a crash shows as a signal exit code).

``python run_algorithm.py <algorithm id> <json parameters>`` prints ``RESULT OK`` or
``ERROR: <message>`` (the message QGIS shows); exit codes 0 and 1.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.append("/usr/share/qgis/python/plugins")

from qgis.core import QgsApplication, QgsProcessingException  # noqa: E402


def main() -> int:
    app = QgsApplication([], False)
    app.initQgis()
    from processing.core.Processing import Processing

    from qgis_csp_plugin.processing.provider import GeoSslProvider

    Processing.initialize()
    provider = GeoSslProvider()  # kept referenced: the registry does not own Python providers
    QgsApplication.processingRegistry().addProvider(provider)
    import processing

    try:
        processing.run(sys.argv[1], json.loads(sys.argv[2]))
    except QgsProcessingException as exc:
        print(f"ERROR: {exc}", flush=True)
        return 1
    print("RESULT OK", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
