"""Placeholder: heatmap algorithms are registered by the heatmap feature."""

HEATMAP_ALGORITHMS: list = []
