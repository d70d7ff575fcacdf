"""The `/lbhealth` command grammar: `[ns/]service [-n ns] [--cluster name]`, or `help`.

Parsing is pure and cheap so it runs inside the 3-second acknowledgement: bad text is answered
there with usage and an example, and nothing is queued.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from checks.model import InvalidTarget, Target


class UsageError(ValueError):
    """The command text cannot be understood; the message says what was wrong."""


@dataclass(frozen=True)
class Command:
    help: bool = False
    target: Target | None = None  # cluster = the --cluster value (None: the default cluster)


MAX_TEXT = 300  # a namespace, a Service and a cluster name fit many times over


def parse_command(text: str | None) -> Command:
    text = (text or "").strip()
    if len(text) > MAX_TEXT:
        raise UsageError(f"the command text is {len(text)} characters long; at most {MAX_TEXT} are read")
    if text.lower() in ("", "help", "-h", "--help"):
        return Command(help=True)
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"could not read \"{text}\": {exc}") from exc
    namespace: str | None = None
    cluster: str | None = None
    positional: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        name, eq, value = w.partition("=")
        if name in ("-n", "--namespace", "--cluster", "-c"):
            if not eq:
                if i + 1 >= len(words):
                    raise UsageError(f"\"{w}\" needs a value")
                value = words[i + 1]
                i += 1
            if name in ("-n", "--namespace"):
                if namespace is not None and namespace != value:
                    raise UsageError("the namespace is given twice")
                namespace = value
            else:
                cluster = value
        elif w.startswith("-"):
            raise UsageError(f"unknown option \"{w}\"")
        else:
            positional.append(w)
        i += 1
    if not positional:
        raise UsageError("no Service name given")
    if len(positional) > 1:
        raise UsageError(f"one Service at a time (got {', '.join(positional)})")
    if cluster is not None and not cluster.strip():
        raise UsageError("--cluster needs a name")
    try:
        target = Target.parse(positional[0], namespace, cluster)
    except InvalidTarget as exc:
        raise UsageError(str(exc)) from exc
    return Command(target=target)
