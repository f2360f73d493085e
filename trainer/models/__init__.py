"""Network building blocks (backbones, heads, exportable wrappers)."""
