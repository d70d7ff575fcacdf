"""Block Kit for the fix flow, built with slack_sdk's models (validated before they are sent).

Everything that did not come from this module (object names, diffs, commands, reasons, which may
carry cluster data) goes through `text()` or `code()`, i.e. bot.render's one escaping rule
(`mrkdwn_escape`): nothing from a cluster can mention, link or close a code block. Slack IDs
(users, groups) are embedded only after the config validated them.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.policy import Decision, mentions
from bot.render import finish_message, mrkdwn_escape

PREVIEW = "lbhealth_fix_preview"
APPLY = "lbhealth_fix_apply"
APPROVE = "lbhealth_fix_approve"
REJECT = "lbhealth_fix_reject"
ROLLBACK = "lbhealth_fix_rollback"
ACTIONS = (PREVIEW, APPLY, APPROVE, REJECT, ROLLBACK)
MAX_CODE = 2600  # of a section's 3000 characters


def text(value: Any, limit: int = 1000) -> str:
    """Data as mrkdwn (bot.render's one escaping rule), cut to `limit` characters."""
    out = str(mrkdwn_escape(value if value is not None else ""))
    return out if len(out) <= limit else out[: limit - 1] + "…"


def code(value: Any, limit: int = MAX_CODE) -> str:
    """A code block of data (escaped: it holds no backtick, so it cannot be closed from inside)."""
    body = str(mrkdwn_escape(str(value if value is not None else "")[:20000]))
    if len(body) > limit:
        cut = body[:limit].rsplit("\n", 1)[0]
        body = f"{cut}\n… ({body.count(chr(10)) - cut.count(chr(10))} more lines)"
    return f"```{body}```"


def where(target: dict[str, Any]) -> str:
    ref = f"*{text(target.get('namespace'))}/{text(target.get('service'))}*"
    return ref + (f" on *{text(target.get('cluster'))}*" if target.get("cluster") else "")


def _section(mrkdwn: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=mrkdwn[:3000]))


def _context(mrkdwn: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=mrkdwn[:3000])])


def message(fallback: str, blocks: list[Block]) -> dict[str, Any]:
    """{text, blocks}: mrkdwn sent verbatim, every block validated with slack_sdk's models (bot.render)."""
    return finish_message({"text": str(mrkdwn_escape(fallback)), "blocks": [b.to_dict() for b in blocks]})


# ---- on a finding of the report ------------------------------------------------------------------


def offer_blocks(offer_id: str, fix_id: str, apply: Decision) -> list[dict[str, Any]]:
    """[Preview] and, when policy allows it here, [Apply fix]; otherwise why there is no Apply."""
    buttons = [ButtonElement(text="Preview", action_id=PREVIEW, value=offer_id)]
    if apply:
        buttons.append(ButtonElement(text="Apply fix", action_id=APPLY, value=offer_id, style="primary"))
    blocks: list[Block] = [ActionsBlock(block_id=f"fixact:{offer_id}", elements=buttons)]
    if not apply:
        blocks.append(_context(f"No *Apply fix* for `{text(fix_id)}`: {text(apply.reason)}"))
    for b in blocks:
        b.validate_json()
    return [b.to_dict() for b in blocks]


# ---- thread messages -----------------------------------------------------------------------------


def preview_message(p: dict[str, Any], who: str) -> dict[str, Any]:
    head = f"*Preview* of `{text(p['fix_id'])}` ({text(p['title'])}) on {where(p['target'])}, for <@{who}>"
    blocks: list[Block] = [_section(head + "\nServer-side dry run: nothing was written.")]
    blocks.append(_section(code(p.get("diff") or "(no change)")))
    if p.get("tradeoff"):
        blocks.append(_context(f"Trade-off: {text(p['tradeoff'])}"))
    blocks.append(_context(f"By hand: `{text(p.get('command'), 500)}` · digest `{p['digest'][:12]}`"))
    return message(f"Preview of {p['fix_id']} on {p['target'].get('namespace')}/{p['target'].get('service')}", blocks)


STATE_LINES = {
    "approved": "Approved by <@{by}>; applying…",
    "applying": "Approved by <@{by}>; applying…",
    "rejected": "Rejected by <@{by}>. Nothing was written.",
    "expired": "Expired: nobody approved it in time. Nothing was written. Press *Apply fix* again for a new request.",
    "superseded": "Superseded by a newer request for this fix. Nothing was written.",
}


def request_message(req: dict[str, Any], approvers: tuple[str, ...]) -> dict[str, Any]:
    """The approval request in its current state; buttons only where a click can still do something."""
    p, state, kind = req["preview"], req["state"], req.get("kind", "apply")
    verb = "roll back" if kind == "rollback" else "apply"
    head = (f"<@{req['requester']}> asks to {verb} `{text(p['fix_id'])}` ({text(p['title'])}) on {where(p['target'])}."
            "\nThis exact change will be made:")
    blocks: list[Block] = [_section(head), _section(code(p.get("diff") or "(no change)"))]
    if p.get("tradeoff") and kind != "rollback":
        blocks.append(_context(f"Trade-off: {text(p['tradeoff'])}"))
    if state == "pending":
        blocks.append(_section(f"Approvers: {mentions(approvers) or 'none configured'} · expires "
                               f"<!date^{int(req['expires_at'])}^{{time}}|in 15 min>"))
        value = f"{req['id']}:{req['digest'][:16]}"
        blocks.append(ActionsBlock(block_id=f"approval:{req['id']}", elements=[
            ButtonElement(text="Approve", action_id=APPROVE, value=value, style="primary", confirm=ConfirmObject(
                title="Approve this change?", text="lbhealth will write exactly the change shown, once.",
                confirm="Approve", deny="Cancel")),
            ButtonElement(text="Reject", action_id=REJECT, value=value, style="danger"),
        ]))
    elif state in STATE_LINES:
        blocks.append(_section(STATE_LINES[state].format(by=req.get("decided_by") or "?")))
    else:
        blocks.extend(outcome_blocks(req))
    return message(f"{verb} {p['fix_id']} on {p['target'].get('namespace')}/{p['target'].get('service')}: {state}", blocks)


def outcome_blocks(req: dict[str, Any]) -> list[Block]:
    out = req.get("outcome") or {}
    status, by = out.get("status") or req["state"], req.get("decided_by") or "?"
    lines = {
        "applied": f":white_check_mark: Applied after <@{by}>'s approval.",
        "rolled-back": f":leftwards_arrow_with_hook: Rolled back after <@{by}>'s approval.",
        "refused": ":no_entry: Refused at apply time. Nothing was written.",
        "conflict": ":warning: Someone changed the object while it was applied. Nothing was written.",
        "failed": ":x: The write failed.",
        "command": ":information_source: Not applied by lbhealth: cloud writes are off. Run the command below.",
    }
    blocks: list[Block] = [_section(lines.get(status, f"State: {text(status)}"))]
    detail = out.get("message") or ""
    if detail:
        blocks.append(_section(code(detail, 1500) if status == "command" else text(detail, 2900)))
    verification = out.get("verification") or {}
    if verification:
        mark = ":large_green_circle:" if verification.get("status") in ("verified", "rediagnosed") else ":red_circle:"
        blocks.append(_section(f"{mark} {text(verification.get('message'), 2800)}"))
    if status == "applied" and req.get("kind") == "apply" and out.get("pre_image") and not req.get("rolled_back_by"):
        blocks.append(ActionsBlock(block_id=f"rollback:{req['id']}", elements=[
            ButtonElement(text="Roll back", action_id=ROLLBACK, value=req["id"], confirm=ConfirmObject(
                title="Ask to roll back?", text="Restores the object as it was before the fix, after approval.",
                confirm="Ask", deny="Cancel"))]))
    return blocks


def result_message(req: dict[str, Any]) -> dict[str, Any]:
    """The thread reply when a write finished (and its verification)."""
    p = req["preview"]
    return message(f"{p['fix_id']} on {p['target'].get('namespace')}/{p['target'].get('service')}: "
                   f"{(req.get('outcome') or {}).get('status')}",
                   [_section(f"`{text(p['fix_id'])}` on {where(p['target'])}"), *outcome_blocks({**req, "kind": "result"})])


def notice(line: str) -> dict[str, Any]:
    """A short reply (ephemeral refusals, errors): the line is ours (it may mention approvers), and the
    values in it are config-validated ids and names, or were escaped by the caller."""
    return finish_message({"text": line[:3000], "blocks": [_section(line).to_dict()]})
