"""QGIS I/O: pixels in through data providers, layers and GeoTIFFs out, CRS/extent helpers, styling."""
