"""FIX-TARGETPORT end to end on the fake API: preview diff, apply once, 409, drift refused, rollback."""

from __future__ import annotations

from bot.fixes import audit, engine
from checks.model import Target
from checks.runner import diagnose

TARGET = Target.parse("shop/web")


def _plan(ctx):
    report, _ = diagnose(TARGET, clients=ctx.clients, probe=False)
    root = report.root_cause
    assert root.check_id == "K8S-TARGETPORT" and root.fix.id == "FIX-TARGETPORT"
    return root.fix


def test_preview_is_a_server_side_dry_run_with_a_diff_and_changes_nothing(shop, ctx_for):
    ctx = ctx_for(shop)
    before = shop.get_object("Service", "shop", "web")
    p = engine.preview(_plan(ctx), TARGET, ctx, check_id="K8S-TARGETPORT")
    assert "-    targetPort: 8080\n+    targetPort: 80\n" in p.diff
    assert "managedFields" not in p.diff and "resourceVersion" not in p.diff
    assert p.resource_version == before["metadata"]["resourceVersion"]
    assert p.digest == p.compute_digest() and len(p.digest) == 64
    dry = shop.calls(verb="patch")
    assert [r.query.get("dryRun") for r in dry] == ["All"]
    assert shop.get_object("Service", "shop", "web") == before


def test_apply_writes_once_with_the_approver_in_the_user_agent_then_refuses_a_second_time(shop, ctx_for):
    ctx = ctx_for(shop)
    p = engine.preview(_plan(ctx), TARGET, ctx)
    shop.reset_log()
    out = engine.apply(p.to_dict(), "U0APPROVER", "job-7", ctx)
    assert out.status == "applied", out.message
    writes = [r for r in shop.calls(verb="patch") if r.query.get("dryRun") != "All"]
    assert len(writes) == 1
    assert writes[0].user_agent == "lbhealth-fix/FIX-TARGETPORT (approver=U0APPROVER; job=job-7)"
    assert writes[0].body["metadata"]["resourceVersion"] == p.resource_version  # optimistic concurrency
    assert shop.get_object("Service", "shop", "web")["spec"]["ports"][0]["targetPort"] == 80
    again = engine.apply(p.to_dict(), "U0APPROVER", "job-7", ctx)
    assert again.status == "refused" and "changed since the preview" in again.message
    assert len([r for r in shop.calls(verb="patch") if r.query.get("dryRun") != "All"]) == 1
    events = [e["event"] for e in audit.read(ctx.redis)]
    assert events == ["apply", "refusal"]


def test_rollback_restores_the_pre_image(shop, ctx_for):
    ctx = ctx_for(shop)
    original = shop.get_object("Service", "shop", "web")
    p = engine.preview(_plan(ctx), TARGET, ctx)
    out = engine.apply(p, "U1", "j1", ctx)
    back = engine.rollback(out.to_dict(), "U2", "j2", ctx)
    assert back.status == "rolled-back", back.message
    now = shop.get_object("Service", "shop", "web")
    assert now["spec"] == original["spec"]
    assert int(now["metadata"]["resourceVersion"]) > int(out.resource_version)


def test_refused_when_the_check_passes_now_without_the_service_changing(shop, ctx_for):
    """The app was redeployed to listen on 8080: the Service is untouched, the fix no longer applies."""
    ctx = ctx_for(shop)
    p = engine.preview(_plan(ctx), TARGET, ctx)
    for name in [o["metadata"]["name"] for o in _pods(shop)]:
        pod = shop.get_object("Pod", "shop", name)
        pod["spec"]["containers"][0]["ports"][0]["containerPort"] = 8080
        shop.add(pod)
    shop.reset_log()
    out = engine.apply(p.to_dict(), "U1", "j1", ctx)
    assert out.status == "refused"
    assert "K8S-TARGETPORT no longer fails" in out.message
    assert shop.count(verb="patch") == 0
    [entry] = audit.read(ctx.redis)
    assert (entry["event"], entry["result"], entry["who"], entry["fix"], entry["target"]) == ("refusal", "passes", "U1", "FIX-TARGETPORT", "shop/web")


def _pods(api):
    from tests.fixes.conftest import example_objects

    return [o for o in example_objects("targetport-mismatch") if o["kind"] == "Pod"]


def test_audit_stream_down_after_the_write_keeps_the_result_and_logs_the_entry(shop, ctx_for, caplog):
    import logging

    import redis

    ctx = ctx_for(shop)
    p = engine.preview(_plan(ctx), TARGET, ctx)
    ctx.redis = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)  # nothing listens there
    with caplog.at_level(logging.INFO, logger="lbhealth.audit"):
        out = engine.apply(p, "U1", "j1", ctx)
    assert out.status == "applied"
    failed = [r for r in caplog.records if "audit stream write failed" in r.getMessage()]
    assert failed and failed[0].audit["event"] == "apply" and failed[0].audit["digest"] == p.digest


def test_audit_stream_down_before_a_write_raises_and_writes_nothing(shop, ctx_for):
    import redis

    ctx = ctx_for(shop)
    p = engine.preview(_plan(ctx), TARGET, ctx)
    shop.add(shop.get_object("Service", "shop", "web"))  # drift: the engine will refuse, and must record it
    ctx.redis = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    shop.reset_log()
    try:
        engine.apply(p, "U1", "j1", ctx)
    except redis.RedisError:
        pass
    else:
        raise AssertionError("a refusal that cannot be recorded must fail the job (it is retried)")
    assert shop.count(verb="patch") == 0


def test_api_server_gone_at_apply_time_is_refused_with_the_reason(shop, ctx_for):
    ctx = ctx_for(shop)
    p = engine.preview(_plan(ctx), TARGET, ctx)
    from tests.fakes.kube_api import FakeKubeAPI

    with FakeKubeAPI() as gone:
        ctx.clients.k8s = gone.api_client()  # its port answers nothing once the server has stopped
    out = engine.apply(p, "U1", "j1", ctx)
    assert out.status == "refused"
    assert "cannot be reached" in out.message


def test_missing_patch_permission_is_named_at_preview(no_cloud, ctx_for):
    from tests.fakes.kube_api import FakeKubeAPI
    from tests.fixes.conftest import example_objects

    with FakeKubeAPI(example_objects("targetport-mismatch"), forbidden={("patch", "services", "shop")}) as api:
        ctx = ctx_for(api)
        try:
            engine.preview(_plan(ctx), TARGET, ctx)
        except engine.FixError as exc:
            assert exc.reason == "forbidden"
            assert "grant RBAC patch on services (core) in shop" in exc.message
        else:
            raise AssertionError("a forbidden dry run must not preview")


def test_twenty_concurrent_applies_of_one_preview_write_exactly_once(shop, ctx_for):
    """Even without the Slack side's claim, the resourceVersion precondition lets one write through."""
    from concurrent.futures import ThreadPoolExecutor

    ctx = ctx_for(shop)
    p = engine.preview(_plan(ctx), TARGET, ctx)
    record = p.to_dict()
    with ThreadPoolExecutor(max_workers=20) as pool:
        outs = list(pool.map(lambda n: engine.apply(record, f"U{n}", f"job-{n}", ctx), range(20)))
    statuses = [o.status for o in outs]
    assert statuses.count("applied") == 1, statuses
    assert set(statuses) <= {"applied", "conflict", "refused"}
    ok_writes = [r for r in shop.calls(verb="patch") if r.query.get("dryRun") != "All" and r.status == 200]
    assert len(ok_writes) == 1
