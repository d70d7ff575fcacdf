"""K8S-TRAFFIC-POLICY: externalTrafficPolicy Local with instance targets, and kube-proxy's hostname override."""

from checks.model import Status
from tests import factories
from tests.factories import make_state, node, pod, run_check, service

ID = "K8S-TRAFFIC-POLICY"
NLB = {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}
TG = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/k8s-shop-web-abc/0123456789abcdef"


def nodes(n=3):
    return [node(f"node-{i}", internal_ip=f"127.0.1.{i}", provider_id=f"aws:///us-east-1a/i-000000000000000{i}") for i in range(1, n + 1)]


def local_svc(**kw):
    return service(annotations=NLB, external_traffic_policy="Local", healthCheckNodePort=32000, **kw)


def health(states):
    return {TG: [{"Target": {"Id": f"i-000000000000000{i}", "Port": 30080}, "TargetHealth": st} for i, st in states.items()]}


def kube_proxy_ds(command=None):
    command = command or ["kube-proxy", "--v=2", "--config=/var/lib/kube-proxy-config/config"]
    return factories.daemonset(containers=[{"name": "kube-proxy", "image": "kube-proxy:v1.30.4", "command": command}], resource_version="77")


def custom_dhcp(state, domain="corp.example.com"):
    state.aws.vpcs = [{"VpcId": "vpc-1", "DhcpOptionsId": "dopt-1"}]
    state.aws.dhcp_options = [{"DhcpOptionsId": "dopt-1", "DhcpConfigurations": [{"Key": "domain-name", "Values": [{"Value": domain}]}]}]


def test_cluster_policy_passes():
    [f] = run_check(ID, make_state(service(annotations=NLB), pod(), *nodes()))
    assert f.status == Status.PASS and "Cluster" in f.summary


def test_local_with_pods_on_some_nodes_warns_with_expected_count():
    state = make_state(local_svc(), pod("web-1", node="node-1"), *nodes(3))
    [f] = run_check(ID, state)
    assert f.status == Status.WARN
    assert f.cause == "" and f.supports == ("traffic-policy",)
    assert "2 of 3 nodes (node-2, node-3)" in f.summary and "expect 1 healthy target(s) (node-1)" in f.summary
    assert "node node-1: ready pod(s) web-1" in f.evidence
    assert f.fix.id == "FIX-TRAFFIC-POLICY"
    assert f.fix.patch == {"spec": {"externalTrafficPolicy": "Cluster"}} and f.fix.patch_type == "merge"
    assert "source IP" in f.fix.tradeoff
    assert f.fix.target.kind == "Service" and f.fix.target.resource_version == "1000"


def test_target_health_is_tied_to_nodes_and_unexplained_ones_named():
    state = make_state(local_svc(), pod("web-1", node="node-1"), pod("web-2", node="node-2", ip="127.0.0.3"), *nodes(3))
    unhealthy = {"State": "unhealthy", "Reason": "Target.FailedHealthChecks"}
    state.aws.target_health = health({1: {"State": "healthy"}, 2: unhealthy, 3: unhealthy})
    [f] = run_check(ID, state)
    assert f.status == Status.WARN
    assert "node node-3: no ready pod; target unhealthy (Target.FailedHealthChecks)" in f.evidence
    assert any("not explained by the traffic policy" in e and "node-2" in e for e in f.evidence)


def test_unhealthy_exactly_the_podless_nodes_explains_the_symptom():
    state = make_state(local_svc(), pod("web-1", node="node-1"), *nodes(3))
    unhealthy = {"State": "unhealthy", "Reason": "Target.FailedHealthChecks"}
    state.aws.target_health = health({1: {"State": "healthy"}, 2: unhealthy, 3: unhealthy})
    [f] = run_check(ID, state)
    assert f.status == Status.WARN and f.cause == "traffic-policy"
    assert "the unhealthy targets are exactly the nodes without a ready pod: the health checks behave as designed" in f.evidence


def test_all_nodes_with_pods_pass():
    state = make_state(local_svc(), pod("web-1", node="node-1"), pod("web-2", node="node-2", ip="127.0.0.3"), *nodes(2))
    [f] = run_check(ID, state)
    assert f.status == Status.PASS and "all 2 targeted nodes" in f.summary


def test_pods_only_on_excluded_nodes_fail_as_root_cause():
    excluded = node("node-9", internal_ip="127.0.1.9", labels={"node.kubernetes.io/exclude-from-external-load-balancers": ""})
    state = make_state(local_svc(), pod("web-1", node="node-9"), *nodes(2), excluded)
    [f] = run_check(ID, state)
    assert f.status == Status.FAIL and f.cause == "traffic-policy"
    assert "node-9" in f.summary and f.fix.id == "FIX-TRAFFIC-POLICY"


def test_no_ready_pod_fails_but_points_at_the_pods():
    state = make_state(local_svc(), pod("web-1", node="node-1", ready=False), *nodes(2))
    [f] = run_check(ID, state)
    assert f.status == Status.FAIL and f.cause == "" and f.supports == ("pods-not-ready",)
    assert "fix the pods first" in f.summary


def test_ip_targets_pass():
    svc = service(annotations={"service.beta.kubernetes.io/aws-load-balancer-type": "external", "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"}, external_traffic_policy="Local")
    [f] = run_check(ID, make_state(svc, pod(), *nodes()))
    assert f.status == Status.PASS and "pod IPs directly" in f.summary


def test_custom_dhcp_domain_needs_hostname_override():
    state = make_state(local_svc(), pod("web-1", node="node-1"), pod("web-2", node="node-2", ip="127.0.0.3"), *nodes(2), kube_proxy_ds())
    custom_dhcp(state)
    state.aws.target_health = health({1: {"State": "unhealthy", "Reason": "Target.FailedHealthChecks"}, 2: {"State": "unhealthy", "Reason": "Target.FailedHealthChecks"}})
    [f] = run_check(ID, state)
    assert f.status == Status.FAIL and f.cause == "kube-proxy-hostname"
    assert "all 2 registered node target(s) are unhealthy, including nodes that run a ready pod" in f.evidence
    assert "VPC DHCP options dopt-1: domain-name = corp.example.com (not the AWS default <region>.compute.internal)" in f.evidence
    assert f.fix.id == "FIX-KUBE-PROXY-HOSTNAME" and f.fix.patch_type == "strategic-merge"
    c = f.fix.patch["spec"]["template"]["spec"]["containers"][0]
    assert c["name"] == "kube-proxy" and c["command"] == ["/bin/sh"]
    assert c["args"] == ["-c", "kube-proxy --v=2 --hostname-override=$(NODE_NAME) --config=/var/lib/kube-proxy-config/config"]
    assert c["env"] == [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}}]
    assert f.fix.target.kind == "DaemonSet" and f.fix.target.namespace == "kube-system" and f.fix.target.resource_version == "77"
    assert f.fix.command.startswith("kubectl -n kube-system patch daemonset kube-proxy --type strategic -p '")


def test_custom_domain_with_healthy_targets_is_only_a_warning():
    state = make_state(local_svc(), pod("web-1", node="node-1"), *nodes(1), kube_proxy_ds())
    custom_dhcp(state)
    state.aws.target_health = health({1: {"State": "healthy"}})
    findings = run_check(ID, state)
    [f] = [f for f in findings if f.fix and f.fix.id == "FIX-KUBE-PROXY-HOSTNAME"]
    assert f.status == Status.WARN and f.cause == "" and f.supports == ("kube-proxy-hostname",)


def test_hostname_override_already_present_is_fine():
    ds = kube_proxy_ds(["/bin/sh", "-c", "kube-proxy --v=2 --hostname-override=$(NODE_NAME) --config=/x"])
    state = make_state(local_svc(), pod("web-1", node="node-1"), *nodes(1), ds)
    custom_dhcp(state)
    [f] = run_check(ID, state)
    assert f.status == Status.PASS


def test_dhcp_not_read_is_said():
    state = make_state(local_svc(), pod("web-1", node="node-1"), *nodes(1), reads={"k8s.service", "k8s.pods", "k8s.nodes"})
    state.skipped_reads["aws.dhcp"] = "no AWS credentials"
    [f] = run_check(ID, state)
    assert f.status == Status.PASS
    assert any("DHCP options were not read (no AWS credentials)" in e for e in f.evidence)


def test_default_domain_is_fine():
    state = make_state(local_svc(), pod("web-1", node="node-1"), *nodes(1), kube_proxy_ds())
    custom_dhcp(state, "us-west-2.compute.internal")
    [f] = run_check(ID, state)
    assert f.status == Status.PASS


def test_skips_and_errors():
    [f] = run_check(ID, make_state(service(type="ClusterIP"), pod()))
    assert f.status == Status.SKIP
    state = make_state(local_svc(), pod(), *nodes())
    state.read_errors["k8s.nodes"] = "forbidden: nodes is forbidden: cannot list resource nodes at the cluster scope"
    [f] = run_check(ID, state)
    assert f.status == Status.ERROR and "cluster scope" in f.summary and "Grant RBAC verb 'list' on 'nodes'" in f.next_step
    tke = service(annotations={"service.kubernetes.io/local-svc-only-bind-node-with-pod": "true", "service.kubernetes.io/loadbalance-id": "lb-1"}, external_traffic_policy="Local")
    [f] = run_check(ID, make_state(tke, pod(), *nodes()))
    assert f.status == Status.PASS and "TKE binds only nodes" in f.summary


def test_odd_shapes_do_not_crash():
    svc = local_svc()
    state = make_state(svc, pod("web-1", node="node-1"), *nodes(1))
    state.aws.target_health = {TG: [None, {"Target": None, "TargetHealth": "weird"}]}
    state.k8s.get("Node", None, "node-1")["status"]["conditions"] = "bad"
    findings = run_check(ID, state, odd=True)
    assert findings and findings[0].status != Status.ERROR
