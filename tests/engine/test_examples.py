"""Every bundled scenario gets the right root cause as the verdict; the healthy one has no failure."""

from __future__ import annotations

import pytest

from checks.model import Status, Target
from checks.runner import diagnose

CASES = [
    ("selector-mismatch", "default/alb-instance", "K8S-SELECTOR", None),
    ("targetport-mismatch", "shop/web", "K8S-TARGETPORT", "FIX-TARGETPORT"),
    ("traffic-policy-local", "shop/api", "K8S-TRAFFIC-POLICY", "FIX-TRAFFIC-POLICY"),
    ("nlb-annotation-range", "payments/gateway", "K8S-NLB-ANNOTATIONS", "FIX-NLB-ANNOTATION"),
    ("alb-healthcheck-path", "shop/checkout", None, "FIX-HEALTHCHECK-PATH"),
    ("tke-direct-access-crashloop", "mall/order", "K8S-POD-READY", None),
    ("pods-pending", "orders/orders", "K8S-POD-READY", None),
    ("image-pull-backoff", "api/billing", "K8S-POD-READY", None),
    ("networkpolicy-deny", "web/front", "K8S-NETWORKPOLICY", None),
    ("security-group-blocks-nlb", "store/catalog", "AWS-SG", "FIX-SG-RULE"),
    ("tke-security-group-vip", "game/lobby", "TC-SG", "FIX-SG-RULE"),
    ("tke-httpcode-mask", "mall/order", "TC-HEALTHCHECK", None),
    ("ingress-missing-service", "shop/checkout", "K8S-SVC-EXISTS", None),
]


@pytest.mark.parametrize(("example", "target", "check_id", "fix_id"), CASES)
def test_example_verdict(example, target, check_id, fix_id):
    report, _ = diagnose(Target.parse(target), sources=[f"examples/{example}"])
    assert report.verdict.status in (Status.FAIL, Status.WARN)
    if check_id:
        assert report.verdict.check_id == check_id, [
            (x.check_id, x.status, x.summary) for x in report.findings if x.failing
        ]
    root = report.root_cause
    if fix_id:
        assert root.fix is not None and root.fix.id == fix_id
    assert root.evidence and root.next_step


@pytest.mark.parametrize(("example", "target"), [("healthy", "shop/cart"), ("healthy-alb", "web/front")])
def test_healthy_example_has_no_failing_finding(example, target):
    report, _ = diagnose(Target.parse(target), sources=[f"examples/{example}"])
    assert report.verdict.status == Status.PASS
    assert [x for x in report.findings if x.failing] == []
    assert report.exit_code == 0
