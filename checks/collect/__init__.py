"""The only code that calls read APIs (Kubernetes, AWS, Tencent), probes targets, or reads dumps."""
