"""Dumps of broken clusters written apart from examples/ (tests/engine/unseen/README.md says what each one is).

Each was written with its expected root cause (from the seeds) before it was run; the table holds
that expectation: verdict status, the root cause's check ID, the fix offered and the exit code.
Refused dumps (truncated, wrong types) hold the words the message must carry. Hostile strings
must reach no terminal or Slack message as control sequences, forged lines or megabytes.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from bot.cli import main

UNSEEN = Path(__file__).parent / "unseen"

# (dump, target, verdict status, root-cause check ID, fix ID, exit code)
DIAGNOSED = [
    ("u01-named-port-mismatch", "ledger/ledger-api", "fail", "K8S-TARGETPORT", "FIX-TARGETPORT", 1),
    ("u02-targetport-nothing-listens", "billing/invoice-svc", "warn", "K8S-TARGETPORT", "FIX-TARGETPORT", 1),
    ("u03-listen-localhost", "edge/gw", "fail", "PROBE-LISTEN", None, 1),
    ("u04-readiness-failing", "crm/contacts", "fail", "K8S-POD-READY", None, 1),
    ("u05-alb-path-401", "hr/portal", "fail", "K8S-ALB-INGRESS", "FIX-HEALTHCHECK-PATH", 1),
    ("u06-alb-redirect-302", "media/thumbs", "fail", "K8S-ALB-INGRESS", "FIX-HEALTHCHECK-PATH", 1),
    ("u07-local-policy-instance", "search/query", "warn", "K8S-TRAFFIC-POLICY", "FIX-TRAFFIC-POLICY", 0),
    ("u08-sg-missing-nlb-subnets", "risk/scorer", "fail", "AWS-SG", "FIX-SG-RULE", 1),
    ("u09-nacl-blocks-nodeport", "wms/picker", "fail", "AWS-NACL", None, 1),
    ("u10-alb-ip-networkpolicy", "analytics/collector", "fail", "K8S-NETWORKPOLICY", None, 1),
    ("u11-tke-direct-pod-sg", "live/danmaku", "fail", "TC-SG", "FIX-SG-RULE", 1),
    ("u12-tke-http-rule-httpcode", "coupon/coupon-api", "fail", "TC-HEALTHCHECK", None, 1),
    ("u13-tke-checkdomain-mismatch", "ticket/booking", "fail", "TC-HEALTHCHECK", None, 1),
    ("u14-tke-checkport", "iot/mqtt-bridge", "fail", "TC-HEALTHCHECK", None, 1),
    ("u15-tke-https-backend", "bank/teller", "warn", "TC-HEALTHCHECK", None, 1),
    ("u16-alb-https-backend-http-check", "secure/gateway", "fail", "K8S-ALB-INGRESS", "FIX-HEALTHCHECK-PATH", 1),
    ("u18-lbc-denied-register", "geo/tiles", "fail", "K8S-LBC", None, 1),
    ("u19-local-dhcp-domain", "mail/smtp-in", "fail", "K8S-TRAFFIC-POLICY", "FIX-KUBE-PROXY-HOSTNAME", 1),
    ("p01-service-only", "quota/limits", "incomplete", None, None, 3),
    ("p02-svc-healthy-targets-no-pods", "quota/limits", "incomplete", None, None, 3),
    ("p03-pods-denied", "quota/limits", "incomplete", None, None, 3),
    ("p04-svc-unhealthy-targets-no-pods", "quota/limits", "fail", "AWS-TARGET-HEALTH", None, 1),
    ("p07-truncated-multidoc", "quota/limits", "fail", "AWS-TARGET-HEALTH", None, 1),
    ("p08-aws-target-health-denied", "risk/scorer", "incomplete", None, None, 3),
    ("p09-tc-target-health-denied", "live/danmaku", "incomplete", None, None, 3),
    ("t03-nulls", "fin/pay", "fail", "K8S-ENDPOINTS", None, 1),
    ("t04-nulls-in-lists", "fin/pay", "incomplete", None, None, 3),
]

# (dump, target, words the message must carry)
REFUSED = [
    ("p05-truncated-json", "quota/limits", "looks truncated"),
    ("p06-truncated-yaml-list", "quota/limits", "looks truncated"),
    ("t01-selector-list", "fin/pay", "spec.selector is a list"),
    ("t02-ports-strings", "fin/pay", "spec.ports[0].port is the string '80'"),
    ("t05-aws-port-string", "fin/pay", "Target.Port is the string '8080'"),
    ("t06-tc-healthstatus-string", "fin/pay", "HealthStatus is the string 'false'"),
]

# Read names are the catalogue's bookkeeping, never words for a person.
INTERNAL = re.compile(r"(?<![\w./-])(?:k8s|aws|tencent|probe|node)\.[a-z_]+\b(?![./-])")


def _diagnose(capsys, dump: Path | str, target: str, fmt: str = "json") -> tuple[int, str, str]:
    code = main(["diagnose", target, "--from", str(dump), "--format", fmt])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("dump", "target", "status", "check_id", "fix_id", "exit_code"), DIAGNOSED)
def test_unseen_dump_gets_its_root_cause(capsys, dump, target, status, check_id, fix_id, exit_code):
    code, out, err = _diagnose(capsys, UNSEEN / dump, target)
    report = json.loads(out)
    failing = [(f["check_id"], f["status"], f["summary"]) for f in report["findings"] if f["status"] in ("fail", "warn")]
    assert (report["verdict"]["status"], report["verdict"]["check_id"]) == (status, check_id), failing
    assert code == exit_code, failing
    root = next((f for f in report["findings"] if f["check_id"] == check_id), None)
    if check_id:
        assert root["evidence"] and root["next_step"]
        assert (root["fix"] or {}).get("id") == fix_id
    if status == "incomplete":
        assert report["missing"] and all(m["supply"] for m in report["missing"])
    assert "Traceback" not in err


@pytest.mark.parametrize(("dump", "target"), [(d[0], d[1]) for d in DIAGNOSED])
def test_unseen_dump_output_names_no_internal_read(capsys, dump, target):
    for fmt in ("text", "slack"):
        _, out, _ = _diagnose(capsys, UNSEEN / dump, target, fmt)
        assert not INTERNAL.findall(out), (fmt, INTERNAL.findall(out))


@pytest.mark.parametrize(("dump", "target", "words"), REFUSED)
def test_unseen_bad_dump_is_refused_naming_the_file(capsys, dump, target, words):
    code, out, err = _diagnose(capsys, UNSEEN / dump, target)
    assert code == 2 and out == ""
    assert words in err and dump in err and "Traceback" not in err


def test_a_pod_cut_before_its_status_is_not_called_not_ready(capsys):
    """A multi-document YAML cut at a line boundary inside the last Pod parses: that pod's readiness is unknown."""
    _, out, _ = _diagnose(capsys, UNSEEN / "p07-truncated-multidoc", "quota/limits")
    pod_ready = [f for f in json.loads(out)["findings"] if f["check_id"] == "K8S-POD-READY"]
    assert [f["status"] for f in pod_ready] == ["pass"]
    assert any("readiness unknown: quota/limits-6b5c4d3e2f-cc2dd" in e for e in pod_ready[0]["evidence"])


def test_targets_of_a_dump_without_pods_are_not_called_strangers(capsys):
    _, out, _ = _diagnose(capsys, UNSEEN / "p04-svc-unhealthy-targets-no-pods", "quota/limits")
    root = json.loads(out)["findings"][0]
    assert root["check_id"] == "AWS-TARGET-HEALTH"
    assert any("10.9.3.14:8080 = a pod not known here (the pods were not read)" in e for e in root["evidence"])
    assert not any("no pod in the collected state" in e for e in root["evidence"])


def test_kube_proxy_pods_absent_from_the_dump_are_not_called_down(capsys):
    """u19 holds the kube-proxy DaemonSet (2 of 2 ready) but none of its pods."""
    _, out, _ = _diagnose(capsys, UNSEEN / "u19-local-dhcp-domain", "mail/smtp-in")
    [kp] = [f for f in json.loads(out)["findings"] if f["check_id"] == "K8S-KUBE-PROXY"]
    assert kp["status"] == "pass" and "reports 2 of 2 pods ready" in kp["summary"]


def test_denied_read_in_the_dump_names_the_rbac_grant(capsys):
    code, out, _ = _diagnose(capsys, UNSEEN / "p03-pods-denied", "quota/limits")
    pods = next(m for m in json.loads(out)["missing"] if m["what"] == "the pods the Service selects")
    assert "forbidden" in pods["reason"] and "grant RBAC list on pods" in pods["reason"]


@pytest.mark.parametrize(
    ("dump", "target", "words"),
    [
        ("p08-aws-target-health-denied", "risk/scorer", "grant IAM elasticloadbalancing:DescribeTargetHealth"),
        ("p09-tc-target-health-denied", "live/danmaku", "grant CAM clb:DescribeTargetHealth"),
    ],
)
def test_a_cloud_refusal_saved_in_the_dump_is_a_denied_read(capsys, dump, target, words):
    """`aws ... 2>&1` and a raw Tencent error answer: the target health was refused, the rest still read."""
    _, out, _ = _diagnose(capsys, UNSEEN / dump, target)
    [missing] = json.loads(out)["missing"]
    assert missing["what"].startswith("the target health") and words in missing["reason"]
    assert missing["supply"]


def test_a_dump_without_the_service_is_incomplete_not_skipped(tmp_path, capsys):
    shutil.copy(UNSEEN / "p03-pods-denied" / "pods.yaml", tmp_path / "pods.yaml")
    shutil.copy(UNSEEN / "u04-readiness-failing" / "nodes.json", tmp_path / "nodes.json")
    code, out, _ = _diagnose(capsys, tmp_path, "quota/limits")
    report = json.loads(out)
    assert (report["verdict"]["status"], code) == ("incomplete", 3)
    assert [m["supply"] for m in report["missing"]] == [["kubectl get svc limits -n quota -o yaml"]]


FORGED = re.compile(r"^\s*(ROOT CAUSE|next:)\s+(K8S-FORGED|curl evil)", re.M)
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069\u200b]")


@pytest.mark.parametrize("dump", ["h01-mrkdwn-injection", "h02-bidi-names"])
def test_hostile_strings_reach_no_output_raw(capsys, dump):
    code, text, _ = _diagnose(capsys, UNSEEN / dump, "ops/notify", "text")
    assert code == 1 and "K8S-ALB-INGRESS" in text.splitlines()[1]
    assert not FORGED.search(text) and not UNSAFE.search(text)
    _, slack, _ = _diagnose(capsys, UNSEEN / dump, "ops/notify", "slack")
    assert "<!channel>" not in slack and "<!here>" not in slack and "<https://evil" not in slack
    assert not UNSAFE.search(slack.encode().decode("unicode_escape", errors="ignore"))


def test_huge_values_are_cut_in_the_report(tmp_path, capsys):
    """A 300 kB health-check path and a 500 kB event message: the report says so in a few kB."""
    shutil.copytree(UNSEEN / "h01-mrkdwn-injection", tmp_path, dirs_exist_ok=True)
    dump = json.loads((tmp_path / "k8s.json").read_text())
    huge = "/h" + "A" * 300_000
    for item in dump["items"]:
        if item["kind"] == "Ingress":
            item["metadata"]["annotations"]["alb.ingress.kubernetes.io/healthcheck-path"] = huge
        if item["kind"] == "Event":
            item["message"] = "C" * 500_000
    (tmp_path / "k8s.json").write_text(json.dumps(dump))
    code, text, _ = _diagnose(capsys, tmp_path, "ops/notify", "text")
    assert code == 1 and "more characters)" in text
    assert len(text) < 100_000
