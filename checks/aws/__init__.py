"""aws checks."""
