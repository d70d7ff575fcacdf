"""Shared answers for a check that cannot judge: a read failed, so say which and what to grant."""

from __future__ import annotations

from collections.abc import Iterable

from checks.model import Finding, Status
from checks.state import State


def read_failure(state: State, check_id: str, reads: Iterable[str], grant: str) -> Finding | None:
    """An `error` finding for the first of `reads` that failed (its message names the permission), else None."""
    for read in reads:
        if read in state.read_errors:
            return Finding(
                check_id,
                Status.ERROR,
                f"Could not read {read}: {state.read_errors[read]}",
                evidence=[f"{read}: {state.read_errors[read]}"],
                next_step=grant,
            )
    return None
