"""The one renderer: Jinja2 templates -> terminal text, Markdown, the JSON report and every Slack message.

Templates are package data of `bot` (`bot.templates`: bot/templates links to the repository's
templates/ folder), found with importlib.resources the same way from a checkout and from an installed
wheel, which installs no top-level `templates` package. Two environments share that loader:

- `env()`: terminal text and Markdown (a terminal or a file shows `<` as `<`: nothing is escaped);
- `slack_env()`: every Slack message (`render_message`, `slack_report`). It enforces the one
  escaping rule, so that a template cannot forget it: **only the literal text of our templates
  (and what our own macros and helpers build from it) is trusted**. Every value a template reads
  (a context variable, an attribute, an item, what a method returns) is passed through
  `mrkdwn_escape` as it is read: `&`, `<`, `>` become entities (no `<!channel>`, `<@U…>` or
  `<https://…|label>` can be formed from data), backticks become `ˋ` (no code span or block can be
  closed from inside), bidirectional overrides and control characters are dropped, and a bare
  `@here`/`@channel`/`@everyone` is broken with a word joiner. The escaped text is a `SlackSafe`
  string, never escaped twice. Every mrkdwn text object is sent with `verbatim: true`, so Slack
  does not auto-link URLs or channel names inside data either.

Slack output is validated with slack_sdk's Block Kit models and split so that no message exceeds
50 blocks or a section 3000 characters.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib.resources import files
from typing import Any

import jinja2
from jinja2.runtime import Macro
from jinja2.sandbox import SandboxedEnvironment

from checks.model import Finding, Report, Status

MAX_BLOCKS = 50
SECTION_CHARS = 3000
TEXT_CHARS = 3000  # a message's `text` (notification fallback)
VALUE_CHARS = 3000  # one untrusted value: nothing longer fits in any block
FINDINGS_PER_MESSAGE = 20
MAX_SLACK_FINDINGS = 40  # beyond this the thread gets the full report as a file

MARKS = {"pass": "✓", "warn": "!", "fail": "✗", "skip": "-", "error": "?", "incomplete": "?"}
EMOJI = {
    "pass": ":white_check_mark:",
    "warn": ":warning:",
    "fail": ":x:",
    "skip": ":fast_forward:",
    "error": ":grey_question:",
    "incomplete": ":grey_question:",
}


# ---- the escaping rule -----------------------------------------------------------------------------


class SlackSafe(str):
    """Text already made safe for Slack mrkdwn by `mrkdwn_escape` (so it is never escaped twice)."""

    __slots__ = ()


# C0/C1 controls except tab and newline; Unicode bidirectional marks, embeddings, overrides, isolates.
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_BROADCAST = re.compile(r"@(?=(?:here|channel|everyone)\b)", re.IGNORECASE)


def mrkdwn_escape(value: Any) -> SlackSafe:
    """`value` as text that cannot form a Slack control sequence, leave a code span, or reorder text."""
    if isinstance(value, SlackSafe):
        return value
    text = str(value)
    if len(text) > VALUE_CHARS:
        text = text[: VALUE_CHARS - 1] + "…"
    text = _INVISIBLE.sub("", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("`", "ˋ")
    return SlackSafe(_BROADCAST.sub("@\u2060", text))


def mrkdwn(template: str, *args: Any, **kwargs: Any) -> SlackSafe:
    """Markup-style formatting for messages built in Python: `template` is our literal (trusted) text,
    every argument is escaped. `mrkdwn("`{}` is not a cluster", name)`; renderers pass the result as is."""
    return SlackSafe(template.format(*map(mrkdwn_escape, args), **{k: mrkdwn_escape(v) for k, v in kwargs.items()}))


def untrusted(value: Any) -> Any:
    """Escape every string in `value` (containers eagerly; objects when a template reads their attributes)."""
    if isinstance(value, str):
        return mrkdwn_escape(value)
    if isinstance(value, list | tuple | set | frozenset):
        items = [untrusted(v) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        return {untrusted(k): untrusted(v) for k, v in value.items()}
    if isinstance(value, BaseException):
        return mrkdwn_escape(f"{type(value).__name__}: {value}")
    return value


class _SlackEnvironment(SandboxedEnvironment):
    """Jinja2's sandbox hooks (every attribute, item and call a template makes) apply `untrusted`."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        return untrusted(super().getattr(obj, attribute))

    def getitem(self, obj: Any, argument: Any) -> Any:
        return untrusted(super().getitem(obj, argument))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (Jinja2's signature)
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(__obj, Macro) or id(__obj) in __self.trusted:
            return result  # our template text, built from values that were escaped as they were read
        if isinstance(getattr(__obj, "__self__", None), str):
            return result  # a method of a literal or of already escaped text (e.g. "x".upper())
        return untrusted(result)

    trusted: frozenset[int] = frozenset()  # ids of our helpers in `globals` (set by slack_env)


# ---- helpers the Slack templates use (they receive escaped values) ----------------------------------


def _clip(text: Any, limit: int) -> str:
    """Cut to `limit` characters without leaving half an entity or an unclosed code span/block."""
    text = str(text)
    if len(text) <= limit:
        return text
    cut = text[: limit - 4].rstrip("`")  # room for "…" and a closing ``` fence
    amp = cut.rfind("&", len(cut) - 5)
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    # Data holds no backtick (mrkdwn_escape), so every backtick here is one of our fences.
    closing = "```" if cut.count("```") % 2 else ("`" if cut.replace("```", "").count("`") % 2 else "")
    return cut + "…" + closing


def _oneline(text: Any, limit: int = 200) -> str:
    return _clip(re.sub(r"\s+", " ", str(text if text is not None else "")).strip(), limit)


def _code(text: Any, limit: int = 500) -> str:
    return "`" + _clip(text, limit) + "`"


def _codeblock(text: Any, limit: int = 2800) -> str:
    return "```" + _clip(text, limit) + "```"


def _command(text: Any, limit: int, block: bool = False) -> str:
    """A command whole in a code span (or block), or a sentence saying where to read it: a command
    cut short would run as something else, so it is never clipped."""
    text = str(text)
    if len(text) > limit:
        return f"_(a command of {len(text)} characters, too long for this message: `lbhealth diagnose` shows it whole)_"
    return f"```{text}```" if block else f"`{text}`"


# A next step is often "lead-in: command  (note)" or "command  # note". Shown as one line, a person
# copying it pastes the words around the command too (a shell rejects "(...)"; zsh passes "# ..." on as
# arguments), so the renderers set the command apart. Only a step whose command starts with a known CLI
# is split; anything else is shown as written.
_STEP = re.compile(
    r"^(?:(?P<lead>.*?:)\s)??(?P<cmd>(?:kubectl|aws|tccli|curl|iptables|sysctl|helm|wget|nc)\s.*?|VPC_CIDR=.*?)"
    r"(?:\s{2}(?P<note>#\s.*|\(.*\)))?$",
    re.S,
)


def step_parts(step: Any) -> tuple[str, str, str]:
    """(lead-in sentence, the command, the note after it) of a next step; ("", step, "") when no known
    command stands in it."""
    text = str(step or "")
    m = _STEP.match(text)
    if not m:
        return "", text, ""
    note = (m.group("note") or "").removeprefix("# ")
    return (m.group("lead") or "").strip(), m.group("cmd").rstrip(), note.strip()


def _step(text: Any, limit: int, block: bool = False) -> str:
    """A next step for Slack: its lead-in, the command alone in a code span (block), then its note."""
    if not _STEP.match(str(text)):
        return _command(text, limit, block)
    lead, cmd, note = step_parts(text)
    sep = "\n" if block else " "
    return sep.join(p for p in (lead, _command(cmd, limit, block), note) if p)


def _pretty_json(value: Any) -> str:
    return json.dumps(value, indent=1, ensure_ascii=False, default=str)


def _bullets(items: list[str], limit: int = 3000) -> str:
    """Whole bullets while they fit, then how many more (a line cut mid-way may cut a command or an
    address); only a first bullet longer than the whole block is clipped."""
    lines: list[str] = []
    used = 0
    for n, item in enumerate(items):
        line = f"• {item}"
        reserve = 80 if n < len(items) - 1 else 0  # room for the "… N more" line
        if used + len(line) + reserve > limit:
            if not lines:  # nothing shown yet: show this one, clipped
                lines.append(_clip(line, limit - reserve))
                used = len(lines[0]) + 1
                continue
            lines.append(f"• … {len(items) - n} more in the full report (`lbhealth diagnose --format json`)")
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)


def _link(url: Any, label: str) -> str:
    """`<url|label>` for an https URL (escaped: no `|`, `>` or space can be in it), else just the label."""
    url = str(url or "")
    return f"<{url}|{label}>" if re.fullmatch(r"https://[^\s|<>]+", url) else label


def _mention(user_id: Any) -> str:
    """`<@U…>` for a Slack user id, else nothing (an id is never more than letters and digits)."""
    return f"<@{user_id}>" if re.fullmatch(r"[UWB][A-Z0-9]{1,30}", str(user_id or "")) else ""


def _channel(channel_id: Any) -> str:
    """`<#C…>` for a Slack channel id, else "another channel"."""
    return f"<#{channel_id}>" if re.fullmatch(r"[CGD][A-Z0-9]{1,30}", str(channel_id or "")) else "another channel"


def duration_words(seconds: float) -> str:
    """`42 s`, `3 min 05 s`, `2 h 10 min` (alarm incidents)."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {s:02d} s" if s else f"{minutes} min"
    hours, m = divmod(minutes, 60)
    return f"{hours} h {m:02d} min"


def format_duration(seconds: float) -> str:
    """`1.2 s`, `42 s`, `3.5 min` (how long a diagnosis took)."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def _skip_lines(skip_groups: list[tuple[str, list[str]]], limit: int = 2900) -> str:
    """Skipped checks grouped by reason (escaped as they were read), each reason whole: a command in it
    is never cut; when they do not fit one Slack element, whole groups are left out and counted."""
    lines: list[str] = []
    used = 0
    for i, (reason, ids) in enumerate(skip_groups):
        line = f"{', '.join(ids)}: {reason}"
        if used + len(line) + 60 > limit:
            rest = sum(len(g[1]) for g in skip_groups[i:])
            lines.append(f"+{rest} more skipped checks, with their reasons, in the full report (`lbhealth diagnose --format json`)")
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)


# ---- environments ------------------------------------------------------------------------------


def _loader() -> jinja2.BaseLoader:
    return jinja2.FileSystemLoader(str(files("bot.templates")))


@lru_cache(maxsize=1)
def env() -> jinja2.Environment:
    """Terminal text and Markdown (report.txt.j2, finding.txt.j2, report.md.j2): nothing escaped."""
    environment = jinja2.Environment(
        loader=_loader(),
        autoescape=False,  # terminal text and Markdown files; JSON goes through json.dumps
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.globals.update(mark=lambda s: MARKS.get(str(s), "?"), step_parts=step_parts)
    return environment


@lru_cache(maxsize=1)
def slack_env() -> jinja2.Environment:
    """Every Slack message (templates/slack/*.j2): values escaped as they are read (module docstring)."""
    environment = _SlackEnvironment(
        loader=_loader(),
        autoescape=False,  # mrkdwn is not HTML: escaping is `untrusted` on every value read
        undefined=jinja2.StrictUndefined,
        auto_reload=False,  # no stat() of the template per message (usage replies render inside the ack)
    )
    environment.filters.update(clip=_clip, oneline=_oneline, code=_code, codeblock=_codeblock,
                               pretty_json=_pretty_json, skip_lines=_skip_lines,
                               command=_command, step=_step)
    environment.globals.update(
        emoji=lambda s: EMOJI.get(str(s), ":grey_question:"),
        bullets=_bullets,
        link=_link,
        mention=_mention,
        channel=_channel,
        duration=duration_words,
    )
    environment.trusted = frozenset(id(v) for v in environment.globals.values() if callable(v))
    return environment


# ---- Slack messages -----------------------------------------------------------------------------------


def render_message(name: str, **context: Any) -> dict[str, Any]:
    """Render templates/slack/<name>.j2 (one JSON object {"text", "blocks"}) into a checked message."""
    raw = slack_env().get_template(f"slack/{name}.j2").render(**untrusted(context))
    try:
        message = json.loads(raw)
    except ValueError as exc:  # a template bug; say which one
        raise ValueError(f"templates/slack/{name}.j2 did not render valid JSON: {exc}") from exc
    return finish_message(message)


def finish_message(message: dict[str, Any]) -> dict[str, Any]:
    """Clip the fallback text, send mrkdwn verbatim, and raise if Slack would reject the blocks."""
    if "text" in message:
        message["text"] = _clip(message["text"], TEXT_CHARS)
    blocks = message.get("blocks") or []
    for block in blocks:
        _verbatim(block)
    validate_blocks(blocks)
    return message


def _verbatim(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn" and "text" in node:
            node["verbatim"] = True
        for value in node.values():
            _verbatim(value)
    elif isinstance(node, list):
        for value in node:
            _verbatim(value)


def validate_blocks(blocks: list[dict[str, Any]]) -> None:
    """Raise if Slack would reject these blocks (slack_sdk's models and limits)."""
    if len(blocks) > MAX_BLOCKS:
        raise ValueError(f"{len(blocks)} blocks in one message; Slack allows {MAX_BLOCKS}")
    from slack_sdk.models.blocks import Block  # here: a terminal report does not pay ~70 ms to import it

    for raw in blocks:
        block = Block.parse(raw)
        if block is None:
            raise ValueError(f"not a Block Kit block: {raw.get('type')}")
        block.validate_json()


# ---- reports ---------------------------------------------------------------------------------------


def _groups(report: Report) -> dict[str, Any]:
    """Sections of a report: the root cause, other failures that explain something, what the load
    balancer observes (the root cause's consequences), warnings, then what could not run."""
    root = report.root_cause if report.verdict.status in (Status.FAIL, Status.WARN) else None
    if root is not None and root.status == Status.WARN and not (root.cause or root.symptom):
        root = None  # a warning that explains no failure (an open NodePort) is listed, never called a root cause
    failing = [f for f in report.findings if f.failing and f is not root]
    skip_groups: dict[str, list[str]] = {}
    for f in report.by_status(Status.SKIP):
        skip_groups.setdefault(f.summary, []).append(f.check_id)
    return {
        "skip_groups": sorted(skip_groups.items(), key=lambda kv: -len(kv[1])),
        "report": report,
        "root": root,
        "others": failing,
        "also_failing": [f for f in failing if f.status == Status.FAIL and not f.symptom],
        "consequences": [f for f in failing if f.symptom],
        "warnings": [f for f in failing if f.status == Status.WARN and not f.symptom],
        "root_is_cause": bool(root and not root.symptom),
        "missing": report.missing if report.verdict.status == Status.INCOMPLETE else [],
        "errors": report.by_status(Status.ERROR),
        "passes": report.by_status(Status.PASS),
        "skips": report.by_status(Status.SKIP),
    }


def render_text(report: Report, max_evidence: int = 8) -> str:
    e = env()
    body = e.get_template("finding.txt.j2")

    def finding_body(f: Finding, brief: bool = False) -> str:
        return body.render(f=f, brief=brief, max_evidence=max_evidence).rstrip("\n")

    text = e.get_template("report.txt.j2").render(finding_body=finding_body, **_groups(report))
    return re.sub(r"\n{3,}", "\n\n", text)  # sections that render empty leave no double gaps


def render_markdown(report: Report) -> str:
    return env().get_template("report.md.j2").render(report=report)


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False)


def slack_report(report: Report) -> tuple[list[dict[str, Any]], bool]:
    """Thread replies for a report, and whether it overflowed (then post render_markdown as a file)."""
    groups = _groups(report)
    others = groups["others"]
    overflow = len(others) + (1 if groups["root"] else 0) > MAX_SLACK_FINDINGS
    shown = others[: MAX_SLACK_FINDINGS - 1]
    chunks = [shown[i : i + FINDINGS_PER_MESSAGE] for i in range(0, len(shown), FINDINGS_PER_MESSAGE)]
    template = slack_env().get_template("slack/report.json.j2")
    messages = json.loads(template.render(**untrusted({"other_chunks": chunks, "hidden": len(others) - len(shown), **groups})))
    return [finish_message(m) for m in messages], overflow


def slack_report_messages(report: Report) -> list[dict[str, Any]]:
    """Thread replies: root cause, other failing findings, the rest collapsed. Each {text, blocks}."""
    return slack_report(report)[0]
