"""Datasets, band mapping and splits (TorchGeo-style: datasets / datamodules / splits)."""
