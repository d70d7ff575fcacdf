"""The fake API's PATCH semantics the fixes rely on, as the API server has them."""

from __future__ import annotations

import pytest

from tests.fakes.kube_api import FakeKubeAPI, strategic_merge_patch


def test_service_ports_merge_on_port_and_protocol():
    svc = {"spec": {"ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53}, {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]}}
    out = strategic_merge_patch(svc, {"spec": {"ports": [{"port": 53, "targetPort": 5353}]}})  # protocol defaults to TCP
    assert [(p["protocol"], p["targetPort"]) for p in out["spec"]["ports"]] == [("UDP", 53), ("TCP", 5353)]


def test_container_env_merges_by_name_and_args_are_replaced():
    ds = {"spec": {"template": {"spec": {"containers": [{"name": "kube-proxy", "image": "kp:1", "args": ["--v=2", "--a"],
                                                          "env": [{"name": "A", "value": "1"}]}]}}}}
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "kube-proxy", "args": ["--v=2"], "env": [{"name": "B", "value": "2"}]}]}}}}
    [c] = strategic_merge_patch(ds, patch)["spec"]["template"]["spec"]["containers"]
    assert c == {"name": "kube-proxy", "image": "kp:1", "args": ["--v=2"], "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}


@pytest.fixture
def api():
    svc = {"kind": "Service", "metadata": {"name": "web", "namespace": "shop"}, "spec": {"ports": [{"port": 80, "targetPort": 8080}]}}
    with FakeKubeAPI([svc]) as server:
        yield server


def _patch(api, body, content_type, *, agent="test-agent", dry_run=False):
    client = api.api_client()
    query = [("dryRun", "All")] if dry_run else []
    method, url, headers, body, _ = client.param_serialize("PATCH", "/api/v1/namespaces/shop/services/web", query_params=query,
                                                           header_params={"Content-Type": content_type}, body=body)
    headers["User-Agent"] = agent
    resp = client.call_api(method, url, header_params=headers, body=body)
    resp.read()
    return resp


def test_a_resource_version_set_by_a_json_patch_is_a_precondition(api):
    ops = [{"op": "replace", "path": "/metadata/resourceVersion", "value": "1"}, {"op": "replace", "path": "/spec/ports/0/targetPort", "value": 80}]
    resp = _patch(api, ops, "application/json-patch+json")
    assert resp.status == 409
    assert api.get_object("Service", "shop", "web")["spec"]["ports"][0]["targetPort"] == 8080


def test_dry_run_checks_the_precondition_too_and_user_agent_is_recorded(api):
    rv = api.get_object("Service", "shop", "web")["metadata"]["resourceVersion"]
    ok = _patch(api, {"metadata": {"resourceVersion": rv}, "spec": {"ports": [{"port": 80, "targetPort": 80}]}},
                "application/strategic-merge-patch+json", agent="lbhealth-fix/FIX-TARGETPORT (approver=U1; job=j)", dry_run=True)
    stale = _patch(api, {"metadata": {"resourceVersion": "1"}}, "application/merge-patch+json", dry_run=True)
    assert (ok.status, stale.status) == (200, 409)
    assert [r.user_agent for r in api.calls(verb="patch")] == ["lbhealth-fix/FIX-TARGETPORT (approver=U1; job=j)", "test-agent"]
    assert api.get_object("Service", "shop", "web")["metadata"]["resourceVersion"] == rv


def test_interleave_runs_before_the_matching_write_only(api):
    seen = []
    api.interleave(lambda server: seen.append(server.get_object("Service", "shop", "web")["metadata"]["resourceVersion"]))
    _patch(api, {"metadata": {"labels": {"a": "b"}}}, "application/merge-patch+json", dry_run=True)
    assert seen == []  # a dry run does not trigger a non-dry-run hook
    _patch(api, {"metadata": {"labels": {"a": "b"}}}, "application/merge-patch+json")
    _patch(api, {"metadata": {"labels": {"a": "c"}}}, "application/merge-patch+json")
    assert len(seen) == 1  # once
