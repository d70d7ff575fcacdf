"""Words for an incident: what an on-call engineer reads in each bundled example, in every format.

Each test asserts on the rendered report of a scenario (terminal text, Slack blocks, Markdown, the
JSON's text fields), not on how a check builds it: no next step points at a cause or a controller
that is not involved, no fix is offered where it cannot work, one command per fix, and nothing
internal (read names, Python reprs) reaches a person.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest

from bot import render
from checks.model import Finding, Report, Target
from checks.registry import known_reads
from checks.runner import diagnose
from tests.bot.hostile import texts
from tests.engine.test_unseen import DIAGNOSED, UNSEEN

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TARGETS = {
    "selector-mismatch": "default/alb-instance",
    "targetport-mismatch": "shop/web",
    "traffic-policy-local": "shop/api",
    "nlb-annotation-range": "payments/gateway",
    "alb-healthcheck-path": "shop/checkout",
    "tke-direct-access-crashloop": "mall/order",
    "pods-pending": "orders/orders",
    "image-pull-backoff": "api/billing",
    "networkpolicy-deny": "web/front",
    "security-group-blocks-nlb": "store/catalog",
    "tke-security-group-vip": "game/lobby",
    "tke-httpcode-mask": "mall/order",
    "ingress-missing-service": "shop/checkout",
    "healthy": "shop/cart",
    "healthy-alb": "web/front",
}


@cache
def report_of(example: str) -> Report:
    """An example's report, or (`unseen/<dump>`) one of tests/engine/unseen's diagnosed dumps."""
    if example.startswith("unseen/"):
        name = example.removeprefix("unseen/")
        target = next(t for d, t, *_ in DIAGNOSED if d == name)
        return diagnose(Target.parse(target), sources=[str(UNSEEN / name)])[0]
    return diagnose(Target.parse(TARGETS[example]), sources=[str(EXAMPLES / example)])[0]


def finding(example: str, check_id: str) -> Finding:
    return next(x for x in report_of(example).findings if x.check_id == check_id)


def text_of(example: str) -> str:
    return render.render_text(report_of(example))


def slack_text(example: str) -> str:
    """Every string a person sees in the Slack thread (fallback texts and block texts)."""
    return "\n".join(t for m in render.slack_report_messages(report_of(example)) for t in texts(m))


def json_text(example: str) -> str:
    """The JSON report's words (summaries, evidence, next steps, fixes, notes), not its keys."""
    data = json.loads(render.render_json(report_of(example)))
    words = [data["verdict"].get("summary") or "", *data.get("notes", [])]
    for f in data["findings"]:
        words += [f.get("summary") or "", *(f.get("evidence") or []), f.get("next_step") or ""]
        if f.get("fix"):
            words += [f["fix"]["title"], f["fix"]["command"]]
    return "\n".join(words)


FORMATS = {
    "text": text_of,
    "slack": slack_text,
    "markdown": lambda example: render.render_markdown(report_of(example)),
    "json": json_text,
}
READ_NAMES = sorted(r for r in known_reads() if "." in r)  # "probe" and "node" are also plain words
INTERNAL = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, READ_NAMES)) + r")\b")
REPRS = ("None", "{'", "['", "[]", "Traceback")


EVERY_DUMP = sorted(TARGETS) + [f"unseen/{d}" for d, *_ in DIAGNOSED]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("example", EVERY_DUMP)
def test_no_internal_names_or_python_reprs_reach_a_person(example, fmt):
    words = FORMATS[fmt](example)
    assert words.strip()
    assert not INTERNAL.search(words), INTERNAL.search(words).group(0)
    for repr_ in REPRS:
        assert not re.search(rf"(?<![\w]){re.escape(repr_)}", words), (repr_, [ln for ln in words.splitlines() if repr_ in ln][:3])


# ---- next steps that point at the cause at hand ----------------------------------------------------


def test_events_of_an_in_tree_nlb_do_not_send_you_to_a_controller_that_is_not_there():
    step = finding("nlb-annotation-range", "K8S-EVENTS").next_step
    assert "aws-load-balancer-controller" not in step and "TKE" not in step and "service-controller" not in step
    assert step.startswith("kubectl describe svc gateway -n payments") and "EKS control plane" in step


def test_an_image_that_cannot_be_pulled_is_described_not_logged():
    """A container that never started has no previous log: `logs --previous` would print an error."""
    step = finding("image-pull-backoff", "K8S-EVENTS").next_step
    assert step == "kubectl describe pod billing-6f7-zz -n api"


def test_a_crash_loop_reads_the_previous_log_one_command():
    step = finding("tke-direct-access-crashloop", "K8S-EVENTS").next_step
    assert step == "kubectl logs order-5b8f9c7d6-x9k4m -n mall --previous"


def test_nothing_unread_is_called_clean():
    """K8S-LBC said 'no error events' while the dump held no events."""
    text = text_of("alb-healthcheck-path")
    lbc = next(ln for ln in text.splitlines() if ln.strip().startswith("K8S-LBC:"))
    assert "no error events" not in lbc and "Not checked without the events of namespace shop" in text
    assert lbc.strip().startswith("K8S-LBC: Could not check the AWS Load Balancer Controller: the dump has no Deployment objects")


@pytest.mark.parametrize(
    ("example", "words"),
    [
        ("traffic-policy-local", "it does not manage this load balancer"),  # in-tree NLB, instance targets
        ("security-group-blocks-nlb", "it does not manage this load balancer"),
        ("tke-security-group-vip", "NodePort mode: the CLB targets nodes, so TKE adds no pod gate"),
        ("tke-direct-access-crashloop", "to pods created while a direct-access Service selects them"),
        ("alb-healthcheck-path", "kubectl label namespace shop elbv2.k8s.aws/pod-readiness-gate-inject=enabled"),  # ALB ip targets
    ],
)
def test_readiness_gate_advice_only_where_a_gate_can_exist(example, words):
    line = next(ln for ln in text_of(example).splitlines() if ln.strip().startswith("K8S-READINESS-GATE:"))
    assert words in line
    if "label namespace" not in words:
        assert "pod-readiness-gate-inject" not in line


def test_an_nlb_keeping_client_ips_is_not_said_to_send_traffic_from_its_subnets():
    """In-tree NLB, instance targets: health checks come from its subnets, clients from their own addresses."""
    root = report_of("security-group-blocks-nlb").root_cause
    source = next(e for e in root.evidence if e.startswith("source: "))
    assert "(health checks; with client IP preservation" in source and "clients reach the nodes from their own addresses" in source
    assert "traffic and" not in source


# ---- one command per fix -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("example", "command"),
    [
        ("alb-healthcheck-path", "kubectl -n shop annotate ingress checkout alb.ingress.kubernetes.io/healthcheck-path=/healthz --overwrite"),
        ("nlb-annotation-range", "kubectl -n payments annotate svc gateway"),
        ("traffic-policy-local", "kubectl -n shop patch svc api --type merge -p '{\"spec\":{\"externalTrafficPolicy\":\"Cluster\"}}'"),
    ],
)
def test_a_fix_is_one_command_shown_once(example, command):
    root = report_of(example).root_cause
    assert root.fix is not None and root.next_step == root.fix.command  # no "; then ..." second command
    text = text_of(example)
    section = text[text.index("ROOT CAUSE") : text.index("CONSEQUENCES OF THE ROOT CAUSE")]
    assert section.count(command) == 1 and "; then" not in section
    blocks = render.slack_report_messages(report_of(example))[0]["blocks"]
    assert sum(command in b["text"]["text"] for b in blocks if b["type"] == "section") == 1


@pytest.mark.parametrize("example", EVERY_DUMP)
def test_a_next_step_holds_one_command(example):
    """No 'cmd; cmd' nor 'cmd; then: cmd' in any finding of the examples, whatever its status."""
    for f in report_of(example).findings:
        assert not re.search(r";\s*(then:?\s*)?(kubectl|aws|tccli|curl|iptables)\s", f.next_step or ""), (f.check_id, f.next_step)


# ---- Slack --------------------------------------------------------------------------------------


def test_slack_does_not_call_warnings_failing():
    """alb-healthcheck-path has one more failure and two warnings after its root cause."""
    messages = render.slack_report_messages(report_of("alb-healthcheck-path"))
    other = next(m for m in messages if "AWS-FAIL-OPEN" in m["text"])
    assert other["text"].startswith("Other findings: ") and "Also failing" not in json.dumps(messages)
    only_failures = render.slack_report_messages(report_of("pods-pending"))
    assert any(m["text"].startswith("Also failing: ") for m in only_failures)


def test_slack_evidence_collapses_whole_lines_never_cuts_one():
    report = report_of("targetport-mismatch")
    symptom = next(x for x in report.findings if x.check_id == "AWS-TARGET-HEALTH")
    lines = [f"target 127.0.0.{i}:8080: check it with curl -s http://127.0.0.{i}:8080/healthz -o /dev/null " + "x" * 150 for i in range(5)]
    saved = symptom.evidence
    symptom.evidence = lines
    try:
        text = slack_text("targetport-mismatch")
    finally:
        symptom.evidence = saved
    section = next(t for t in text.split("\n:") if "AWS-TARGET-HEALTH" in t and "127.0.0.0" in t)
    shown = [ln[2:] for ln in section.splitlines() if ln.startswith("• ") and "more in the full report" not in ln]
    assert shown and all(s in lines for s in shown)  # each bullet whole
    assert f"• … {5 - len(shown)} more in the full report" in section


# ---- a command set apart from the words around it (copy-paste mid-incident) ---------------------------


def test_the_command_of_a_next_step_stands_alone_on_its_line_and_in_its_code_span():
    """'cmd  (note)' pasted whole is a shell syntax error; 'lead: cmd' pastes the lead too."""
    text = text_of("ingress-missing-service")
    lines = text.splitlines()
    i = lines.index("    next: Re-create Service shop/checkout from its manifest, or point the Ingress at the Service that replaced it:")
    assert lines[i + 1].strip() == "kubectl edit ingress checkout -n shop"
    assert lines[i + 2].strip() == "(spec.rules[].http.paths[].backend.service.name)"
    assert "    next: kubectl describe pod billing-6f7-zz -n api" in text_of("image-pull-backoff").splitlines()

    root = render.slack_report_messages(report_of("ingress-missing-service"))[0]["blocks"]
    step = next(b["text"]["text"] for b in root if b["type"] == "section" and b["text"]["text"].startswith("*Next step*"))
    assert "```kubectl edit ingress checkout -n shop```" in step and "(spec.rules[]" in step.split("```")[-1]
    others = slack_text("tke-httpcode-mask")
    assert "`tccli clb DescribeTargetHealth --LoadBalancerIds '[\"lb-6efswuxa\"]'` CLB's detail" in others

    md = render.render_markdown(report_of("ingress-missing-service"))
    assert "```\nkubectl edit ingress checkout -n shop\n```" in md


def test_a_heredoc_command_keeps_its_terminator_at_the_start_of_a_line():
    text = text_of("networkpolicy-deny")
    assert "\nEOF\n" in text and "          VPC_CIDR=$(aws ec2 describe-vpcs" in text


@pytest.mark.parametrize("example", ["alb-healthcheck-path", "security-group-blocks-nlb", "tke-security-group-vip"])
def test_a_failed_or_missing_read_is_named_in_words(example):
    """Every read failing (or not collected) in turn: what a person reads names it in words, never by its read name."""
    from checks.collect import dump
    from checks.registry import default_registry
    from checks.runner import build_report, select

    specs = select(default_registry())
    for read in sorted(known_reads()):
        for failed in (True, False):
            state = dump.load_state(Target.parse(TARGETS[example]), [str(EXAMPLES / example)],
                                    options={"probe": False, "node": False, "offline": True}, skim_lists=True)
            if failed:
                state.read_errors[read] = 'forbidden: User "lbhealth" cannot list this'
            state.reads_done.discard(read)
            report = build_report(state, specs, 0.0)
            words = "\n".join([render.render_text(report), render.render_markdown(report),
                               *(t for m in render.slack_report_messages(report) for t in texts(m))])
            found = INTERNAL.search(words)
            assert not found, (read, failed, [ln for ln in words.splitlines() if found.group(0) in ln][:2])
