"""The live Tencent collector: the real tencentcloud SDK against the local fake API over HTTP."""

from __future__ import annotations

import time

import pytest

from checks.collect.tencent import NO_CREDENTIALS, NOT_SUSPECTED, collect_tencent
from checks.model import Status
from checks.registry import default_registry
from checks.runner import build_report
from tests import factories as f
from tests import tencent_factories as tf
from tests.factories import run_check
from tests.fakes.tencent_api import FakeTencentAPI

ALL_READS = {"tencent.clb", "tencent.target_health", "tencent.vpc_network", "tencent.instances"}
CLB_ACTIONS = ["DescribeListeners", "DescribeLoadBalancers", "DescribeTargetHealth", "DescribeTargets"]
CRED = ("AKIDtest", "secret")


@pytest.fixture(autouse=True)
def _no_proxies_no_env(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    for var in ("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "TENCENTCLOUD_REGION", "LBHEALTH_TENCENT_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def api():
    with FakeTencentAPI() as fake:
        yield fake


def k8s_state(sc: tf.Scenario, **options):
    """The Kubernetes half of a scenario, as the live orchestrator hands it over (no cloud data yet)."""
    state = f.make_state(*sc.objects, reads={"k8s.service", "k8s.pods", "k8s.nodes", "k8s.ingresses"}, **options)
    return state


def collect(state, api, reads=ALL_READS, **kw):
    kw.setdefault("credential", CRED)
    kw.setdefault("region", "ap-guangzhou")
    kw.setdefault("endpoint", api.url)
    collect_tencent(state, set(reads), **kw)
    return state


def test_mapping_by_annotation_four_parallel_calls_and_no_network_when_healthy(api):
    sc = tf.scenario()
    sc.load_into(api.cloud)
    api.latency = 0.2
    state = k8s_state(sc)
    started = time.monotonic()
    collect(state, api)
    elapsed = time.monotonic() - started
    assert sorted(api.actions()) == CLB_ACTIONS
    assert state.api_calls["tencent"] == api.count() == 4
    assert api.max_in_flight == 4
    assert elapsed < 0.6, f"4 calls of 200 ms took {elapsed:.2f} s: not parallel"
    assert api.bodies("DescribeLoadBalancers") == [{"LoadBalancerIds": ["lb-web"], "Limit": 100}]
    assert api.bodies("DescribeTargetHealth") == [{"LoadBalancerIds": ["lb-web"]}]
    tc = state.tencent
    assert [lb["LoadBalancerId"] for lb in tc.load_balancers] == ["lb-web"]
    assert tc.listeners["lb-web"][0]["ListenerId"] == "lbl-80"
    assert tc.targets["lb-web"][0]["Targets"][0]["InstanceId"] == "ins-node1"
    assert tc.target_health[0]["LoadBalancerId"] == "lb-web"
    assert {"tencent.clb", "tencent.target_health"} <= state.reads_done
    assert state.skipped_reads["tencent.vpc_network"] == NOT_SUSPECTED
    assert state.skipped_reads["tencent.instances"] == NOT_SUSPECTED
    assert run_check("TC-MAP", state)[0].status == Status.PASS
    assert run_check("TC-SG", state)[0].summary.endswith(NOT_SUSPECTED)


def test_mapping_by_vip_resolves_first_then_three_in_parallel(api):
    sc = tf.scenario(service_kw={"by_annotation": False})
    sc.load_into(api.cloud)
    state = collect(k8s_state(sc), api)
    assert api.actions()[0] == "DescribeLoadBalancers"
    assert api.bodies("DescribeLoadBalancers") == [{"LoadBalancerVips": ["127.0.0.50"], "Limit": 100}]
    assert sorted(api.actions()) == CLB_ACTIONS
    assert state.api_calls["tencent"] == 4
    finding = run_check("TC-MAP", state)[0]
    assert finding.status == Status.PASS and "127.0.0.50 is the CLB VIP" in finding.summary


def test_mapping_by_tke_tag_when_no_annotation_or_ip(api):
    sc = tf.scenario(lb=tf.clb(tags={"tke-lb-serviceuuid": "uid-shop-web", "tke-createdBy-flag": "yes"}), service_kw={"by_annotation": False, "ingress_ip": None})
    sc.load_into(api.cloud)
    state = collect(k8s_state(sc), api)
    assert api.bodies("DescribeLoadBalancers")[0]["Filters"] == [{"Name": "tag:tke-lb-serviceuuid", "Values": ["uid-shop-web"]}]
    assert state.api_calls["tencent"] == 4
    assert "tke-lb-serviceuuid" in run_check("TC-MAP", state)[0].summary


def test_ingress_annotation_maps_its_clb(api):
    ing = f.ingress(annotations={"kubernetes.io/ingress.qcloud-loadbalance-id": "lb-ing"}, ingress_class="qcloud")
    sc = tf.scenario(lb=tf.clb("lb-ing"), lst=tf.listener("lbl-http", protocol="HTTP", port=80), service_kw={"by_annotation": False, "ingress_ip": None, "type": "NodePort"}, extra_objects=[ing])
    sc.load_into(api.cloud)
    state = collect(k8s_state(sc), api)
    assert api.bodies("DescribeTargetHealth") == [{"LoadBalancerIds": ["lb-ing"]}]
    finding = run_check("TC-MAP", state)[0]
    assert finding.status == Status.PASS and "lb-ing" in finding.summary


def test_unhealthy_targets_read_the_network_path_and_tc_sg_fails(api):
    sc = tf.scenario(healthy=False, hc=tf.health_check(SourceIpType=0), node_rules=[tf.sg_rule("DROP", "0.0.0.0/0", "ALL", "ALL")])
    sc.load_into(api.cloud)
    api.latency = 0.05
    state = collect(k8s_state(sc), api)
    actions = api.actions()
    assert sorted(actions[:4]) == CLB_ACTIONS
    assert sorted(actions[4:]) == ["DescribeInstances", "DescribeNetworkAcls", "DescribeSecurityGroupPolicies"]
    assert api.bodies("DescribeInstances") == [{"InstanceIds": ["ins-node1", "ins-node2"], "Limit": 100}]
    assert api.bodies("DescribeSecurityGroupPolicies") == [{"SecurityGroupId": "sg-node"}]
    assert api.bodies("DescribeNetworkAcls") == [{"Filters": [{"Name": "vpc-id", "Values": ["vpc-1"]}], "Limit": 100}]
    assert state.api_calls["tencent"] == 7
    assert state.reads_done >= ALL_READS and not state.read_errors
    specs = [s for s in default_registry().all() if s.layer == "tencent"]
    report = build_report(state, specs, time.monotonic())
    assert report.verdict.check_id == "TC-SG"
    assert report.root_cause.fix.id == "FIX-SG-RULE"
    assert report.api_calls["tencent"] == 7


def test_direct_access_reads_enis_by_pod_ip(api):
    sc = tf.scenario(direct=True, healthy=False, hc=tf.health_check(SourceIpType=0), eni_rules=[tf.sg_rule("DROP", "0.0.0.0/0", "ALL", "ALL")])
    sc.load_into(api.cloud)
    state = collect(k8s_state(sc), api)
    [body] = api.bodies("DescribeNetworkInterfaces")
    assert body["Filters"][0] == {"Name": "address-ip", "Values": ["127.0.0.2", "127.0.0.3"]}
    assert "sg-eni" in state.tencent.security_group_policies
    [finding] = run_check("TC-SG", state)
    assert finding.status == Status.FAIL and "sg-eni" in finding.summary


def test_network_option_forces_network_reads(api):
    sc = tf.scenario()
    sc.load_into(api.cloud)
    state = collect(k8s_state(sc, network=True), api)
    assert "DescribeSecurityGroupPolicies" in api.actions()
    assert "tencent.vpc_network" in state.reads_done


def test_no_credentials_sends_nothing(api):
    sc = tf.scenario()
    sc.load_into(api.cloud)
    state = k8s_state(sc)
    collect(state, api, credential=None)
    assert api.count() == 0
    assert state.api_calls["tencent"] == 0
    for read in ALL_READS:
        assert state.skipped_reads[read] == NO_CREDENTIALS
    finding = run_check("TC-TARGET-HEALTH", state)[0]
    assert finding.status == Status.SKIP and "no Tencent Cloud credentials" in finding.summary


def test_auth_error_names_the_cam_action(api):
    sc = tf.scenario()
    sc.load_into(api.cloud)
    api.fail("DescribeTargetHealth")
    state = collect(k8s_state(sc), api)
    assert "clb:DescribeTargetHealth" in state.read_errors["tencent.target_health"]
    assert "AuthFailure.UnauthorizedOperation" in state.read_errors["tencent.target_health"]
    assert "tencent.clb" in state.reads_done
    finding = run_check("TC-TARGET-HEALTH", state)[0]
    assert finding.status == Status.ERROR and "clb:DescribeTargetHealth" in finding.summary
    assert "target health unknown" in state.skipped_reads["tencent.vpc_network"]


def test_auth_error_on_vpc_names_vpc_action(api):
    sc = tf.scenario(healthy=False)
    sc.load_into(api.cloud)
    api.fail("DescribeSecurityGroupPolicies", "UnauthorizedOperation", "CAM denied")
    state = collect(k8s_state(sc), api)
    assert "vpc:DescribeSecurityGroupPolicies" in state.read_errors["tencent.vpc_network"]
    assert run_check("TC-SG", state)[0].status == Status.ERROR


def test_clb_named_by_annotation_missing(api):
    sc = tf.scenario()
    state = collect(k8s_state(sc), api)  # the fake cloud is empty
    assert state.tencent.load_balancers == []
    assert "tencent.clb" not in state.read_errors  # listener calls for a missing CLB are not errors
    finding = run_check("TC-MAP", state)[0]
    assert finding.status == Status.FAIL and "does not exist" in finding.summary


def test_env_credentials_region_and_bare_endpoint(api, monkeypatch):
    sc = tf.scenario()
    sc.load_into(api.cloud)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", "AKIDenv")
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "secret")
    monkeypatch.setenv("TENCENTCLOUD_REGION", "ap-shanghai")
    monkeypatch.setenv("LBHEALTH_TENCENT_ENDPOINT", api.endpoint)  # host:port on loopback -> http
    state = k8s_state(sc)
    collect_tencent(state, set(ALL_READS))
    assert api.count() == 4
    call = api.calls[0]
    assert call.region == "ap-shanghai"
    assert "AKIDenv" in call.headers["authorization"]
    versions = {c.action: c.version for c in api.calls}
    assert versions["DescribeTargetHealth"] == "2018-03-17"
    assert state.tencent.region == "ap-shanghai"


def test_region_from_node_labels(api):
    sc = tf.scenario()
    sc.load_into(api.cloud)
    for obj in sc.objects:
        if obj["kind"] == "Node":
            obj["metadata"]["labels"]["topology.kubernetes.io/region"] = "gz"
    state = collect(k8s_state(sc), api, region=None)
    assert state.tencent.region == "ap-guangzhou"
    assert api.calls[0].region == "ap-guangzhou"


def test_only_wanted_reads(api):
    sc = tf.scenario()
    sc.load_into(api.cloud)
    state = collect(k8s_state(sc), api, reads={"tencent.target_health"})
    assert sorted(api.actions()) == ["DescribeLoadBalancers", "DescribeTargetHealth"]
    assert "tencent.clb" not in state.reads_done


def test_fake_server_programmable_answers(api):
    from tencentcloud.clb.v20180317 import clb_client
    from tencentcloud.common import credential
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile

    client = clb_client.ClbClient(credential.Credential(*CRED), "ap-guangzhou", ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=api.endpoint)))
    api.respond("DescribeTargetHealth", {"LoadBalancers": []}, {"LoadBalancers": [{"LoadBalancerId": "lb-x"}]})
    assert client.call_json("DescribeTargetHealth", {})["Response"]["LoadBalancers"] == []
    assert client.call_json("DescribeTargetHealth", {})["Response"]["LoadBalancers"][0]["LoadBalancerId"] == "lb-x"
    assert client.call_json("DescribeTargetHealth", {})["Response"]["LoadBalancers"][0]["LoadBalancerId"] == "lb-x"
    api.fail("DescribeListeners", "AuthFailure.UnauthorizedOperation", "nope")
    with pytest.raises(TencentCloudSDKException) as err:
        client.call_json("DescribeListeners", {"LoadBalancerId": "lb-x"})
    assert err.value.get_code() == "AuthFailure.UnauthorizedOperation"
    with pytest.raises(TencentCloudSDKException) as err:
        client.call_json("NoSuchAction", {})
    assert err.value.get_code() == "InvalidAction"
    assert api.count("DescribeTargetHealth") == 3 and api.count() == 5


def test_garbage_answers_do_not_crash_the_diagnosis(api):
    sc = tf.scenario(healthy=False)
    sc.load_into(api.cloud)
    api.respond("DescribeTargets", {"Listeners": "x"})
    api.respond("DescribeTargetHealth", {"LoadBalancers": [{"LoadBalancerId": "lb-web", "Listeners": [{"Rules": [{"Targets": [7, {"IP": 5, "HealthStatus": "false", "TargetId": None}]}]}]}]})
    api.respond("DescribeInstances", {"InstanceSet": None})
    state = collect(k8s_state(sc, network=True), api)
    assert state.api_calls["tencent"] == api.count() <= 8
    for check_id in ("TC-MAP", "TC-TARGET-HEALTH", "TC-SG", "TC-ACL", "TC-HEALTHCHECK", "TC-PROBE-SOURCE", "TC-SNAT"):
        for finding in run_check(check_id, state, odd=True):
            assert "crashed" not in finding.summary, (check_id, finding.summary)


def test_unreachable_endpoint_is_a_read_error_not_a_crash():
    sc = tf.scenario()
    state = k8s_state(sc)
    from tests.fakes.redis_server import free_port

    collect_tencent(state, set(ALL_READS), credential=CRED, region="ap-guangzhou", endpoint=f"http://127.0.0.1:{free_port()}")
    assert "clb:DescribeLoadBalancers failed" in state.read_errors["tencent.clb"]
    assert run_check("TC-MAP", state)[0].status == Status.ERROR


def test_every_call_is_a_declared_cam_action(api):
    from checks.collect.tencent import CAM_ACTIONS

    sc = tf.scenario(direct=True, healthy=False, hc=tf.health_check(SourceIpType=0))
    sc.load_into(api.cloud)
    collect(k8s_state(sc), api)
    api.cloud = type(api.cloud)()  # a fresh cloud: now NodePort mode (CVM backends)
    sc2 = tf.scenario(healthy=False)
    sc2.load_into(api.cloud)
    collect(k8s_state(sc2), api)
    product = {"2018-03-17": "clb"}
    seen = {f"{product.get(c.version, 'cvm' if c.action == 'DescribeInstances' else 'vpc')}:{c.action}" for c in api.calls}
    assert seen <= set(CAM_ACTIONS)
    assert len(seen) == len(CAM_ACTIONS)


def test_a_configured_clusters_region_beats_the_environments(api, monkeypatch):
    """The worker gives each configured cluster's region to its cloud (Clients.for_cluster): two TKE
    clusters in two regions share one worker environment."""
    from checks.collect.live import Clients
    from checks.collect.tencent import collect_live

    sc = tf.scenario()
    sc.load_into(api.cloud)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", "AKIDenv")
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "secret")
    monkeypatch.setenv("TENCENTCLOUD_REGION", "ap-shanghai")
    monkeypatch.setenv("LBHEALTH_TENCENT_ENDPOINT", api.endpoint)
    state = k8s_state(sc)
    collect_live(state, set(ALL_READS), Clients.for_cluster(None, "tencent", "ap-beijing"))
    assert api.count() == 4
    assert {c.region for c in api.calls} == {"ap-beijing"}
