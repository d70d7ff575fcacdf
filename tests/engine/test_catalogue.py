"""The catalogue holds every ID of CHECKS.md exactly, and docs/checks.md is generated from it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bot.cli import main
from checks.catalogue import catalogue_markdown

ROOT = Path(__file__).resolve().parents[2]

# The IDs of ../shared/CHECKS.md (copied so the suite runs without the shared folder).
CHECK_IDS = [
    "K8S-SVC-EXISTS",
    "K8S-POD-READY",
    "K8S-SELECTOR",
    "K8S-ENDPOINTS",
    "K8S-TARGETPORT",
    "K8S-TRAFFIC-POLICY",
    "K8S-NLB-ANNOTATIONS",
    "K8S-ALB-INGRESS",
    "K8S-LBC",
    "K8S-KUBE-PROXY",
    "K8S-SOURCE-RANGES",
    "K8S-EVENTS",
    "K8S-READINESS-VS-LB",
    "K8S-NETWORKPOLICY",
    "K8S-LB-OWNER",
    "K8S-READINESS-GATE",
    "K8S-TKE-MODE",
    "PROBE-HTTP",
    "PROBE-TCP",
    "PROBE-LISTEN",
    "AWS-MAP",
    "AWS-TARGET-HEALTH",
    "AWS-TG-HEALTHCHECK",
    "AWS-SG",
    "AWS-NACL",
    "AWS-ROUTES",
    "AWS-DHCP",
    "AWS-FAIL-OPEN",
    "AWS-HC-NODEPORT",
    "TC-MAP",
    "TC-TARGET-HEALTH",
    "TC-HEALTHCHECK",
    "TC-PROBE-SOURCE",
    "TC-SG",
    "TC-ACL",
    "TC-SNAT",
    "NODE-FORWARDING",
    "NODE-RP-FILTER",
    "NODE-IPTABLES",
]
FIX_IDS = [
    "FIX-TARGETPORT",
    "FIX-RESTART-KUBE-PROXY",
    "FIX-TRAFFIC-POLICY",
    "FIX-KUBE-PROXY-HOSTNAME",
    "FIX-HEALTHCHECK-PATH",
    "FIX-NLB-ANNOTATION",
    "FIX-SG-RULE",
]


def test_checks_json_lists_every_id_of_checks_md(capsys):
    assert main(["checks", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert sorted(c["id"] for c in data["checks"]) == sorted(CHECK_IDS)
    assert sorted(f["id"] for f in data["fixes"]) == sorted(FIX_IDS)
    assert all(f["used_by"] for f in data["fixes"]), "every fix is offered by some check"
    assert all(c["why"] for c in data["checks"]), "every check says why it matters"


def test_ids_match_the_shared_checks_md_when_present():
    shared = ROOT.parent / "shared" / "CHECKS.md"
    if not shared.exists():
        return
    ids = set(re.findall(r"^\| ((?:K8S|PROBE|AWS|TC|NODE|FIX)-[A-Z0-9-]+) \|", shared.read_text(), re.M))
    assert ids == set(CHECK_IDS) | set(FIX_IDS)


def test_docs_checks_md_is_generated_from_the_catalogue():
    assert (ROOT / "docs" / "checks.md").read_text() == catalogue_markdown(), (
        "regenerate: lbhealth checks --format markdown > docs/checks.md"
    )


def test_every_check_has_tests_that_name_it():
    text = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    missing = [cid for cid in CHECK_IDS if cid not in text]
    assert not missing, f"no test names {missing}"
