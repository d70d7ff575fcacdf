"""Errors a collector raises when a diagnosis cannot run at all (as opposed to one read failing)."""


class CollectError(RuntimeError):
    """The diagnosis could not run: e.g. the Kubernetes API is unreachable. The message says what to do."""
