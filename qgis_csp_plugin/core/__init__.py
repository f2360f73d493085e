"""The plugin's computations without Qt widgets: tiling, classification, heatmap math, GeoTIFF/PROJ
helpers (numpy, onnxruntime and GDAL's osgeo); the shared schema lives in ``..contract``."""
