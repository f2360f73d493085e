"""Placeholder: csp:classify is registered by the classify feature."""

ClassifyAlgorithm = None
