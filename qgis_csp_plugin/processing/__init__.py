"""Processing provider ``csp`` and its algorithms (same core code as the toolbar actions)."""
