"""Every Kubernetes fix module on the fake API: preview diff, one write, 409, drift refused, rollback.

Each scenario is served live by the fake API server; the plan comes from a real diagnosis
(the official client over HTTP), as the Slack worker and `lbhealth fix` get it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot.fixes import audit, engine
from checks.model import Target
from checks.runner import diagnose
from tests import factories as f
from tests.fakes.kube_api import FakeKubeAPI
from tests.fixes.conftest import example_objects


def kube_proxy_down() -> list[dict]:
    ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
        "spec": {"template": {"metadata": {"labels": {"k8s-app": "kube-proxy"}}, "spec": {"containers": [{"name": "kube-proxy", "image": "kube-proxy:v1.30"}]}}},
        "status": {"desiredNumberScheduled": 2, "numberReady": 1, "numberAvailable": 1, "updatedNumberScheduled": 2},
    }

    def proxy(node, ready):
        kw = {} if ready else {"ready": False, "waiting_reason": "CrashLoopBackOff", "restarts": 9}
        return f.pod(f"kube-proxy-{node}", "kube-system", labels={"k8s-app": "kube-proxy"}, node=node, **kw)

    return [
        f.service(),
        f.node("node-1", internal_ip="127.0.1.1"),
        f.node("node-2", internal_ip="127.0.1.2"),
        f.pod("web-1", node="node-1"),
        ds,
        proxy("node-1", True),
        proxy("node-2", False),
    ]


@dataclass
class Case:
    fix_id: str
    check_id: str
    target: str
    objects: object  # callable -> objects
    kind: str
    namespace: str
    name: str
    change: str  # a line of the diff that shows the change


CASES = [
    Case("FIX-TARGETPORT", "K8S-TARGETPORT", "shop/web", lambda: example_objects("targetport-mismatch"), "Service", "shop", "web", "+    targetPort: 80"),
    Case("FIX-TRAFFIC-POLICY", "K8S-TRAFFIC-POLICY", "shop/api", lambda: example_objects("traffic-policy-local"), "Service", "shop", "api", "+  externalTrafficPolicy: Cluster"),
    Case("FIX-NLB-ANNOTATION", "K8S-NLB-ANNOTATIONS", "payments/gateway", lambda: example_objects("nlb-annotation-range"), "Service", "payments", "gateway", "+    service.beta.kubernetes.io/aws-load-balancer-healthcheck-"),
    Case("FIX-HEALTHCHECK-PATH", "K8S-ALB-INGRESS", "shop/checkout", lambda: example_objects("alb-healthcheck-path"), "Ingress", "shop", None, "+    alb.ingress.kubernetes.io/"),
    Case("FIX-RESTART-KUBE-PROXY", "K8S-KUBE-PROXY", "shop/web", kube_proxy_down, "DaemonSet", "kube-system", "kube-proxy", "+        kubectl.kubernetes.io/restartedAt: '20"),
]


@pytest.fixture(params=CASES, ids=[c.fix_id for c in CASES])
def case(request, no_cloud):
    c: Case = request.param
    with FakeKubeAPI(c.objects(), record_bodies=True) as api:
        yield c, api


def _plan(c: Case, ctx):
    report, _ = diagnose(Target.parse(c.target), clients=ctx.clients, probe=False)
    found = [x for x in report.findings if x.check_id == c.check_id and x.fix and x.fix.id == c.fix_id]
    assert found, [(x.check_id, x.status, x.fix and x.fix.id) for x in report.findings if x.failing]
    return found[0].fix


def _name(c: Case, plan) -> str:
    return c.name or plan.target.name


def _writes(api: FakeKubeAPI) -> list:
    return [r for r in api.calls(verb="patch") if r.query.get("dryRun") != "All"]


def test_preview_shows_the_change_and_writes_nothing(case, ctx_for):
    c, api = case
    ctx = ctx_for(api)
    plan = _plan(c, ctx)
    before = api.get_object(c.kind, c.namespace, _name(c, plan))
    p = engine.preview(plan, Target.parse(c.target), ctx, check_id=c.check_id)
    assert c.change in p.diff, p.diff
    assert "managedFields" not in p.diff and "status:" not in p.diff
    assert api.get_object(c.kind, c.namespace, _name(c, plan)) == before
    assert _writes(api) == []
    assert p.object == {"kind": c.kind, "name": _name(c, plan), "namespace": c.namespace, "api_version": plan.target.api_version}


def test_apply_writes_once_and_rollback_restores(case, ctx_for):
    c, api = case
    ctx = ctx_for(api)
    plan = _plan(c, ctx)
    original = api.get_object(c.kind, c.namespace, _name(c, plan))
    p = engine.preview(plan, Target.parse(c.target), ctx, check_id=c.check_id)
    out = engine.apply(p.to_dict(), "U0APPROVE", "job-1", ctx)
    assert out.status == "applied", out.message
    assert len(_writes(api)) == 1
    assert _writes(api)[0].user_agent == f"lbhealth-fix/{c.fix_id} (approver=U0APPROVE; job=job-1)"
    changed = api.get_object(c.kind, c.namespace, _name(c, plan))
    assert changed != original
    assert out.pre_image["metadata"]["resourceVersion"] == original["metadata"]["resourceVersion"]

    back = engine.rollback(out.to_dict(), "U0OTHER", "job-2", ctx)
    assert back.status == "rolled-back", back.message
    restored = api.get_object(c.kind, c.namespace, _name(c, plan))
    assert restored.get("spec") == original.get("spec")
    assert restored["metadata"].get("annotations") == original["metadata"].get("annotations")
    assert [e["event"] for e in audit.read(ctx.redis)] == ["apply", "rollback"]


def test_a_concurrent_change_during_the_write_is_a_409_and_not_retried(case, ctx_for):
    c, api = case
    ctx = ctx_for(api)
    plan = _plan(c, ctx)
    name = _name(c, plan)
    p = engine.preview(plan, Target.parse(c.target), ctx, check_id=c.check_id)
    edited: list[dict] = []

    def someone_else_edits(server: FakeKubeAPI) -> None:
        obj = server.get_object(c.kind, c.namespace, name)
        obj["metadata"].setdefault("labels", {})["edited-by"] = "someone"
        edited.append(server.add(obj))  # a new resourceVersion, as any other writer's update

    api.interleave(someone_else_edits)  # just before the real (not dry-run) PATCH
    out = engine.apply(p, "U0APPROVE", "job-1", ctx)
    assert out.status == "conflict"
    assert "409" in out.message and "someone changed" in out.message
    writes = _writes(api)
    assert len(writes) == 1 and writes[0].status == 409  # sent once, never retried
    assert api.get_object(c.kind, c.namespace, name) == edited[0]  # the other writer's version stands
    assert [e["event"] for e in audit.read(ctx.redis)] == ["conflict"]


def test_drift_between_preview_and_approval_is_refused_and_nothing_is_written(case, ctx_for):
    c, api = case
    ctx = ctx_for(api)
    plan = _plan(c, ctx)
    name = _name(c, plan)
    p = engine.preview(plan, Target.parse(c.target), ctx, check_id=c.check_id)
    obj = api.get_object(c.kind, c.namespace, name)
    obj["metadata"].setdefault("annotations", {})["note"] = "edited after the preview"
    api.add(obj)
    api.reset_log()
    out = engine.apply(p.to_dict(), "U0APPROVE", "job-1", ctx)
    assert out.status == "refused"
    assert "changed since the preview" in out.message and "Run the diagnosis again" in out.message
    assert api.count(verb="patch") == 0
    [entry] = audit.read(ctx.redis)
    assert entry["event"] == "refusal" and entry["result"] == "drift" and entry["digest"] == p.digest


def test_a_tampered_record_is_refused(case, ctx_for):
    c, api = case
    ctx = ctx_for(api)
    p = engine.preview(_plan(c, ctx), Target.parse(c.target), ctx, check_id=c.check_id)
    record = p.to_dict()
    record["patch"] = {"metadata": {"labels": {"owned": "yes"}}}
    out = engine.apply(record, "U0APPROVE", "job-1", ctx)
    assert out.status == "refused" and "digest" in out.message
    assert _writes(api) == [] and api.count(verb="patch") == 1  # the preview's dry run only


def _restart_kube_proxy_then_verify(api, ctx_for, clock):
    """Apply the kube-proxy restart (the last case), then verify it on `clock` (no cloud to ask)."""
    ctx = ctx_for(api)
    ctx.clock, ctx.sleep = clock.clock, clock.sleep
    case = CASES[-1]
    p = engine.preview(_plan(case, ctx), Target.parse(case.target), ctx, check_id=case.check_id)
    assert engine.apply(p, "U1", "j1", ctx).status == "applied"
    return engine.verify(p, ctx)


def test_without_cloud_credentials_verification_polls_the_originating_check(no_cloud, ctx_for):
    """kube-proxy restarts node by node: the re-diagnosis is repeated until its check passes, or the time is up."""
    from tests.fixes.test_sg_rule_tencent import FakeClock

    with FakeKubeAPI(kube_proxy_down()) as api:
        def pod_restarted(n: int) -> None:
            if n == 3:  # the DaemonSet controller replaced the crashing pod with a ready one
                api.add(f.pod("kube-proxy-node-2", "kube-system", labels={"k8s-app": "kube-proxy"}, node="node-2"))

        v = _restart_kube_proxy_then_verify(api, ctx_for, FakeClock(pod_restarted))
    assert v.status == "rediagnosed" and v.elapsed_s == 15
    assert "K8S-KUBE-PROXY passes on a fresh diagnosis" in v.message and "re-diagnosis alone" in v.message


def test_without_cloud_credentials_a_check_that_keeps_failing_is_reported_at_the_timeout(no_cloud, ctx_for):
    from tests.fixes.test_sg_rule_tencent import FakeClock

    with FakeKubeAPI(kube_proxy_down()) as api:
        v = _restart_kube_proxy_then_verify(api, ctx_for, FakeClock())
    assert v.status == "still-failing"
    assert v.message.startswith("applied, still failing after 120 s: K8S-KUBE-PROXY: kube-proxy is down or not ready on 1 of 2")
    assert "target health not read: no AWS credentials" in v.message
