"""Errors a collector raises when a diagnosis cannot run at all (as opposed to one read failing).

Here, apart from the collectors, so the CLI can catch them without importing the collectors.
"""


class CollectError(RuntimeError):
    """The diagnosis could not run: e.g. the Kubernetes API is unreachable. The message says what to do."""


class DumpError(ValueError):
    """A dump file that cannot be used: the message names the file and what is wrong."""
