"""pytest plugin (filled in with zart.testing)."""
