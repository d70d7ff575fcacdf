"""probe checks."""
