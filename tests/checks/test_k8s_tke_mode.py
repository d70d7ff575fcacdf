"""K8S-TKE-MODE: direct access vs NodePort mode on TKE."""

from checks.model import Status
from tests.factories import ingress, make_state, node, pod, run_check, service

ID = "K8S-TKE-MODE"
LB = {"service.kubernetes.io/loadbalance-id": "lb-abc"}
DIRECT = {"service.cloud.tencent.com/direct-access": "true"}


def tke_node(name="node-1", pod_cidr=None):
    n = node(name, provider_id="qcloud:///800002/ins-abc")
    if pod_cidr:
        n["spec"]["podCIDR"] = pod_cidr
    return n


def eni_pod(name="web-1", ip="127.0.0.2"):
    p = pod(name, ip=ip)
    p["spec"]["containers"][0]["resources"] = {"requests": {"tke.cloud.tencent.com/eni-ip": "1"}, "limits": {"tke.cloud.tencent.com/eni-ip": "1"}}
    return p


def test_nodeport_mode_passes_and_names_the_checks():
    [f] = run_check(ID, make_state(service(annotations=LB), pod(), tke_node()))
    assert f.status == Status.PASS
    assert "NodePort mode" in f.summary
    assert any("K8S-KUBE-PROXY" in e and "30000-32768" in e for e in f.evidence)


def test_direct_access_with_eni_pods_passes():
    [f] = run_check(ID, make_state(service(annotations=dict(LB, **DIRECT)), eni_pod(), tke_node()))
    assert f.status == Status.PASS and "direct access" in f.summary
    assert "VPC-CNI (ENI) pods: web-1" in f.evidence


def test_direct_access_on_host_network_pods_warns():
    p = pod("web-1")
    p["spec"]["hostNetwork"] = True
    [f] = run_check(ID, make_state(service(annotations=dict(LB, **DIRECT)), p, tke_node()))
    assert f.status == Status.WARN and "hostNetwork" in f.summary
    assert f.supports == ("controller",)
    assert f.next_step == "kubectl -n shop get pods -o wide -l app=web"  # one command, about the problem named


def test_direct_access_on_clusterip_without_ingress_warns():
    [f] = run_check(ID, make_state(service(type="ClusterIP", annotations=dict(LB, **DIRECT)), eni_pod(), tke_node()))
    assert f.status == Status.WARN and "no CLB is created" in f.summary


def test_global_router_pods_need_the_configmap_switch():
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "tke-service-controller-config", "namespace": "kube-system"}, "data": {"VERSION": "1.0"}}
    state = make_state(service(annotations=dict(LB, **DIRECT)), pod(ip="127.0.0.2"), tke_node(pod_cidr="127.0.0.0/26"), cm)
    [f] = run_check(ID, state)
    assert f.status == Status.WARN and "GlobalRouteDirectAccess" in f.summary
    assert f.next_step.startswith("kubectl -n kube-system get cm tke-service-controller-config -o yaml") and ";" not in f.next_step
    cm["data"]["GlobalRouteDirectAccess"] = "true"
    state = make_state(service(annotations=dict(LB, **DIRECT)), pod(ip="127.0.0.2"), tke_node(pod_cidr="127.0.0.0/26"), cm)
    [f] = run_check(ID, state)
    assert f.status == Status.PASS


def test_ingress_direct_access_and_nodeport_ingress_on_clusterip():
    svc = service(type="ClusterIP", annotations=LB)
    ing = ingress(ingress_class="qcloud", annotations={"ingress.cloud.tencent.com/direct-access": "true"})
    [f] = run_check(ID, make_state(svc, eni_pod(), ing, tke_node()))
    assert f.status == Status.PASS and "direct access" in f.summary
    ing = ingress(ingress_class="qcloud")
    [f] = run_check(ID, make_state(svc, pod(), ing, tke_node()))
    assert f.status == Status.WARN and "no NodePort" in f.summary


def test_nginx_ingress_on_clusterip_is_not_a_clb_concern():
    svc = service(type="ClusterIP", annotations=LB)
    [f] = run_check(ID, make_state(svc, pod(), ingress(ingress_class="nginx"), tke_node()))
    assert f.status == Status.PASS and "NodePort mode" in f.summary


def test_unrecognised_flag_value_warns():
    [f] = run_check(ID, make_state(service(annotations=dict(LB, **{"service.cloud.tencent.com/direct-access": "yes"})), pod(), tke_node()))
    assert f.status == Status.WARN and "'yes'" in f.summary


def test_skips_on_aws():
    [f] = run_check(ID, make_state(service(annotations={"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}), pod()))
    assert f.status == Status.SKIP and "aws" in f.summary
