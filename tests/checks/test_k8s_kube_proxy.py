"""K8S-KUBE-PROXY: kube-proxy on the target nodes, its log errors, and FIX-RESTART-KUBE-PROXY."""

from checks.k8s.kube_proxy import RESTARTED_AT_PLACEHOLDER
from checks.model import Status
from tests import factories as f
from tests.factories import make_state, node, pod, run_check, service

ID = "K8S-KUBE-PROXY"
IP_TARGETS = {"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"}


def daemonset(name="kube-proxy", desired=2, ready=2):
    return f.daemonset(name, desired=desired, ready=ready)


def proxy(node_name, **kw):
    return pod(f"kube-proxy-{node_name}", namespace="kube-system", labels={"k8s-app": "kube-proxy"}, node=node_name, **kw)


def cluster(*extra, svc=None):
    return make_state(
        svc or service(),
        node("node-1", internal_ip="127.0.1.1"),
        node("node-2", internal_ip="127.0.1.2"),
        pod("web-1", node="node-1"),
        daemonset(),
        *extra,
    )


def test_passes_when_ready_on_all_nodes():
    [f] = run_check(ID, cluster(proxy("node-1"), proxy("node-2")))
    assert f.status == Status.PASS
    assert "ready on all 2 target node(s)" in f.summary
    assert any("instance targets" in e for e in f.evidence)
    assert f.fix is None


def test_not_ready_on_a_node_fails_with_restart_fix_and_logs():
    state = cluster(proxy("node-1"), proxy("node-2", ready=False, waiting_reason="CrashLoopBackOff", restarts=9, last_terminated_reason="Error"))
    state.k8s.logs[("kube-system", "kube-proxy-node-2", "app", False)] = (
        "I1121 10:00:00.000000       1 server.go:632] Version: v1.29.0\n"
        'E1121 10:00:01.000000       1 proxier.go:1100] "Failed to execute iptables-restore" err="exit status 4"\n'
    )
    [f] = run_check(ID, state)
    assert f.status == Status.FAIL
    assert f.cause == "kube-proxy"
    assert "1 of 2 target node(s) (node-2)" in f.summary
    text = "\n".join(f.evidence)
    assert "Node node-2: kube-proxy pod kube-system/kube-proxy-node-2 NOT ready: CrashLoopBackOff" in text
    assert "Failed to execute iptables-restore" in text
    assert "Version: v1.29.0" not in text  # info lines are not errors
    assert "DaemonSet kube-system/kube-proxy desired=2 ready=2" in text
    fix = f.fix
    assert fix.id == "FIX-RESTART-KUBE-PROXY"
    assert fix.patch == {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": RESTARTED_AT_PLACEHOLDER}}}}}
    assert fix.command == "kubectl rollout restart daemonset/kube-proxy -n kube-system"
    assert (fix.target.kind, fix.target.name, fix.target.namespace, fix.target.api_version, fix.target.resource_version) == (
        "DaemonSet", "kube-proxy", "kube-system", "apps/v1", "777")
    assert f.next_step.startswith("kubectl logs -n kube-system kube-proxy-node-2 --tail=50  (add --previous")


def test_missing_pod_on_a_node_fails():
    [f] = run_check(ID, cluster(proxy("node-1")))
    assert f.status == Status.FAIL
    assert "Node node-2: no kube-proxy pod" in f.evidence


def test_excluded_and_fargate_nodes_are_not_targets():
    state = cluster(proxy("node-1"), proxy("node-2"))
    state.k8s.add(node("fargate-ip-1", labels={"eks.amazonaws.com/compute-type": "fargate"}))
    state.k8s.add(node("edge-1", labels={"node.kubernetes.io/exclude-from-external-load-balancers": ""}))
    [f] = run_check(ID, state)
    assert f.status == Status.PASS


def test_log_errors_on_a_ready_pod_warn():
    state = cluster(proxy("node-1"), proxy("node-2"))
    state.k8s.logs[("kube-system", "kube-proxy-node-1", "app", False)] = 'E1121 10:00:01.000000 1 proxier.go:1100] "Failed to sync" err="x"'
    [f] = run_check(ID, state)
    assert f.status == Status.WARN
    assert "logging errors on 1 of 2" in f.summary
    assert f.fix is not None


def test_ip_targets_only_look_at_pod_nodes_and_never_fail():
    svc = service(annotations=IP_TARGETS)
    [f] = run_check(ID, cluster(proxy("node-1", ready=False), svc=svc))
    assert f.status == Status.WARN
    assert f.cause == ""
    assert "no NodePort targets" in f.summary
    assert not any("node-2" in e for e in f.evidence)
    assert f.fix is None  # a restart would not change what the load balancer sees with ip targets
    assert f.next_step.startswith("kubectl logs -n kube-system kube-proxy-node-1 --tail=50  (") and "rollout restart" not in f.next_step


def test_skip_when_replaced_by_cilium():
    state = make_state(service(), node("node-1"), pod("web-1"), daemonset("cilium"))
    [f] = run_check(ID, state)
    assert f.status == Status.SKIP
    assert "Cilium" in f.summary
    assert "describe-addon" in f.next_step  # EKS: kube-proxy may be an add-on


def test_error_and_not_read():
    state = cluster()
    state.read_errors["k8s.kube_proxy"] = "forbidden: cannot get daemonsets.apps in namespace kube-system"
    [f] = run_check(ID, state)
    assert f.status == Status.ERROR
    assert "'daemonsets' (group apps)" in f.next_step and "kubectl get ds kube-proxy -n kube-system" in f.next_step
    [f] = run_check(ID, make_state(service(), reads={"k8s.service"}))
    assert f.status == Status.SKIP and "not read in this diagnosis" in f.summary


def test_clusterip_service_only_checks_pod_nodes():
    svc = service(type="ClusterIP")
    [f] = run_check(ID, cluster(proxy("node-1"), svc=svc))  # node-2 has no kube-proxy but hosts no pod
    assert f.status == Status.PASS
    assert any("ClusterIP Service: no NodePort" in e for e in f.evidence)
