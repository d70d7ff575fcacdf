"""k8s checks."""
