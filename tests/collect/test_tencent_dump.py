"""TC-* checks judge a `--from` dump (tccli JSON as files) exactly as they judge live state."""

from __future__ import annotations

import json

from checks.collect.dump import load_state
from checks.collect.snapshot import write_snapshot
from checks.model import Target
from checks.registry import default_registry
from tests import tencent_factories as tf
from tests.factories import run_check

TC_IDS = [s.id for s in default_registry().all() if s.layer == "tencent"]


def verdicts(state):
    return {cid: [(f.status, f.summary) for f in run_check(cid, state)] for cid in TC_IDS}


def test_snapshot_round_trip_gives_the_same_findings(tmp_path):
    sc = tf.scenario(healthy=[False, True], hc=tf.health_check(SourceIpType=0), node_rules=[tf.sg_rule("DROP", "0.0.0.0/0", "ALL", "ALL")])
    live = sc.state()
    write_snapshot(live, tmp_path)
    (tmp_path / "k8s.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": sc.objects}))
    offline = load_state(Target.parse("shop/web"), [str(tmp_path)])
    assert verdicts(offline) == verdicts(live)


def test_tccli_files_as_printed(tmp_path):
    sc = tf.scenario(healthy=False)
    (tmp_path / "svc.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": sc.objects}))
    (tmp_path / "lbs.json").write_text(json.dumps({"TotalCount": 1, "LoadBalancerSet": sc.load_balancers, "RequestId": "r1"}))
    (tmp_path / "listeners.json").write_text(json.dumps({"Listeners": sc.listeners["lb-web"], "TotalCount": 1, "RequestId": "r2"}))
    (tmp_path / "health.json").write_text(json.dumps({"LoadBalancers": sc.target_health, "RequestId": "r3"}))
    state = load_state(Target.parse("shop/web"), [str(tmp_path)])
    [mapped] = run_check("TC-MAP", state)
    assert mapped.status.value == "pass"
    [health] = run_check("TC-TARGET-HEALTH", state)
    assert health.status.value == "fail" and "forwards to all of them" in health.summary
    [sg] = run_check("TC-SG", state)
    assert sg.status.value == "skip" and "the dump has no tccli output" in sg.summary
    assert "`tccli vpc DescribeSecurityGroupPolicies --SecurityGroupId <sg-id>" in sg.summary  # what to add to the dump
