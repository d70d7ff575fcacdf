"""What a finding says about cluster objects is shown safely in every format, not only in Slack.

Summaries and evidence interpolate values from the cluster and the clouds (annotations, event
messages, names in a hand-written dump). A newline in one forges report lines ("ROOT CAUSE ...")
in the terminal, a bidirectional override reorders what a person reads, an ANSI escape recolours
or clears the terminal, and a 2 MB annotation buries the report. So the runner passes every
finding through `clean_finding`: such characters become visible escapes (`\\n`, `\\u202e`), and a
summary or evidence line longer than `MAX_LINE` is cut with the count of what was left out.
`next_step` keeps its newlines (heredoc commands are ours) and is never cut: a cut command would
run as something else.
"""

from __future__ import annotations

import re

from checks.model import Finding

MAX_LINE = 2000
# C0/C1 controls (newline and tab too: a summary or evidence line is one line), bidirectional marks,
# embeddings, overrides, isolates, and zero-width characters that hide text.
_UNSAFE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_UNSAFE_COMMAND = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _visible(match: re.Match[str]) -> str:
    ch = match.group(0)
    return _NAMED.get(ch) or f"\\u{ord(ch):04x}"


def safe_line(text: str, limit: int = MAX_LINE) -> str:
    """One line of report text: unsafe characters escaped visibly, at most `limit` characters."""
    text = _UNSAFE_LINE.sub(_visible, str(text))
    if len(text) > limit:
        text = f"{text[:limit]}… ({len(text) - limit} more characters)"
    return text


def clean_finding(finding: Finding) -> Finding:
    """`finding` with its summary, evidence and next step safe to print (module docstring)."""
    finding.summary = safe_line(finding.summary)
    finding.evidence = [safe_line(e) for e in finding.evidence]
    finding.next_step = _UNSAFE_COMMAND.sub(_visible, str(finding.next_step or ""))
    return finding
