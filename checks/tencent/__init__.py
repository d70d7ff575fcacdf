"""tencent checks."""
