"""Location encoders released by others, imported into our architectures (GeoCLIP)."""
