"""The contract between the trainer (exporter) and the plugin (consumer), imported by both.

Pure Python + numpy (onnxruntime only when a model file is opened): the model-metadata schema and
its :class:`~.schema.Kind` enum (``schema``), reading a model file (``onnx_model``), (lat, lon)
validation (``latlon``), probability fusion (``probabilities``), the PCA basis of location
embeddings (``pca``), band names and aliases (``bands``), the radiometric matching of a layer to a
model (``radiometry``), hidden temporary outputs (``temp_files``) and the user-facing errors (``errors``).
Nothing here imports Qt, QGIS, GDAL, torch or the rest of the plugin.
"""
