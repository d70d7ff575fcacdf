"""K8S-NLB-ANNOTATIONS: health-check annotation ranges, consistency and FIX-NLB-ANNOTATION."""

from checks.model import Status
from tests.factories import make_state, pod, run_check, service

ID = "K8S-NLB-ANNOTATIONS"
P = "service.beta.kubernetes.io/aws-load-balancer-"
HC = P + "healthcheck-"
LBC = {P + "type": "external"}


def svc(extra=None, base=None, **kw):
    ann = dict(LBC if base is None else base)
    ann.update(extra or {})
    return service(annotations=ann, **kw)


def test_no_health_check_annotations_use_valid_defaults():
    [f] = run_check(ID, make_state(svc(), pod()))
    assert f.status == Status.PASS
    assert "TCP on traffic-port, every 10 s, timeout 10 s, healthy/unhealthy 3/3" in f.summary
    assert "target type: instance (annotation absent: instance is the default)" in f.evidence


def test_seed_example_values_pass():
    seed = {HC + "healthy-threshold": "2", HC + "unhealthy-threshold": "3", HC + "interval": "20", HC + "timeout": "5",
            HC + "protocol": "TCP", HC + "port": "traffic-port"}
    [f] = run_check(ID, make_state(svc(seed, base={P + "type": "nlb"}), pod()))
    assert f.status == Status.PASS
    assert "every 20 s, timeout 5 s, healthy/unhealthy 2/3" in f.summary


def test_out_of_range_values_are_clamped_in_one_fix():
    bad = {HC + "healthy-threshold": "1", HC + "unhealthy-threshold": "12", HC + "interval": "400", HC + "timeout": "90s"}
    state = make_state(svc(bad), pod())
    [f] = run_check(ID, state)
    assert f.status == Status.FAIL and f.cause == "healthcheck-settings"
    assert f"{HC}healthy-threshold = '1' is out of range (2-10) -> 2" in f.evidence
    assert f"{HC}timeout = '90s' is not a whole number -> 60" in f.evidence
    assert f.fix.id == "FIX-NLB-ANNOTATION" and f.fix.patch_type == "merge"
    assert f.fix.patch == {"metadata": {"annotations": {HC + "healthy-threshold": "2", HC + "unhealthy-threshold": "10", HC + "interval": "300", HC + "timeout": "60"}}}
    assert f.fix.command.startswith("kubectl -n shop annotate svc web ") and f.fix.command.endswith(" --overwrite")
    assert f"{HC}interval=300" in f.fix.command
    assert f.fix.target.kind == "Service" and f.fix.target.resource_version == "1000"


def test_timeout_not_below_interval():
    [f] = run_check(ID, make_state(svc({HC + "interval": "10", HC + "timeout": "10"}), pod()))
    assert f.status == Status.FAIL
    assert f.fix.patch["metadata"]["annotations"] == {HC + "timeout": "9"}


def test_interval_below_default_timeout_is_caught():
    [f] = run_check(ID, make_state(svc({HC + "interval": "5"}), pod()))
    assert f.status == Status.FAIL
    assert any("default" in e and "timeout = 10" in e for e in f.evidence)
    assert f.fix.patch["metadata"]["annotations"] == {HC + "timeout": "4"}


def test_protocol_port_path_codes_and_target_type():
    bad = {HC + "protocol": "Http2", HC + "port": "70000", HC + "path": "healthz", HC + "success-codes": "200-700", P + "nlb-target-type": "IP"}
    [f] = run_check(ID, make_state(svc(bad), pod()))
    assert f.status == Status.FAIL
    ann = f.fix.patch["metadata"]["annotations"]
    assert ann == {HC + "protocol": "HTTP", HC + "port": "traffic-port", HC + "path": "/healthz", HC + "success-codes": "200-399", P + "nlb-target-type": "ip"}


def test_protocol_is_case_insensitive_and_named_port_ok_for_lbc():
    ok = {HC + "protocol": "http", HC + "port": "http", HC + "path": "/healthz", HC + "success-codes": "200,204"}
    [f] = run_check(ID, make_state(svc(ok), pod()))
    assert f.status == Status.PASS
    [f] = run_check(ID, make_state(svc({HC + "port": "http"}, base={P + "type": "nlb"}), pod()))
    assert f.status == Status.FAIL and any("in-tree provider accepts only" in e for e in f.evidence)


def test_path_on_tcp_check_and_unknown_keys_warn():
    [f] = run_check(ID, make_state(svc({HC + "path": "/healthz", HC + "intervall": "10"}), pod()))
    assert f.status == Status.WARN and f.supports == ("healthcheck-settings",) and f.fix is None
    assert any("the path is ignored" in e for e in f.evidence)
    assert any("intervall is not an annotation" in e and "interval" in e for e in f.evidence)


def test_local_policy_defaults_name_the_health_check_node_port():
    [f] = run_check(ID, make_state(svc(external_traffic_policy="Local", healthCheckNodePort=32111), pod()))
    assert f.status == Status.PASS and "HTTP on healthCheckNodePort 32111 /healthz" in f.summary


def test_tcp_with_local_policy_warns():
    [f] = run_check(ID, make_state(svc({HC + "protocol": "TCP"}, external_traffic_policy="Local"), pod()))
    assert f.status == Status.WARN and any("always connects" in e for e in f.evidence)


def test_skips():
    [f] = run_check(ID, make_state(service(type="NodePort"), pod()))
    assert f.status == Status.SKIP and "not LoadBalancer" in f.summary
    [f] = run_check(ID, make_state(service(annotations={"service.kubernetes.io/loadbalance-id": "lb-1"}), pod()))
    assert f.status == Status.SKIP and "tencent" in f.summary
    [f] = run_check(ID, make_state(service(annotations=LBC, loadBalancerClass="example.com/lb"), pod()))
    assert f.status == Status.SKIP and "example.com/lb" in f.summary


def test_non_string_values_do_not_crash():
    state = make_state(svc(), pod())
    state.k8s.get("Service", "shop", "web")["metadata"]["annotations"][HC + "interval"] = 30  # an int from a hand-written dump
    [f] = run_check(ID, state, odd=True)
    assert f.status == Status.PASS
    state.k8s.get("Service", "shop", "web")["metadata"]["annotations"][HC + "protocol"] = 6
    [f] = run_check(ID, state, odd=True)
    assert f.status == Status.FAIL and f.fix.patch["metadata"]["annotations"] == {HC + "protocol": "TCP"}
