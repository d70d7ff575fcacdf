"""K8S-NETWORKPOLICY: Ingress NetworkPolicies selecting the pods vs the load balancer's sources."""

from checks.model import Status
from tests.factories import make_state, node, pod, run_check, service

ID = "K8S-NETWORKPOLICY"
IP_TARGETS = {"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"}
TKE_DIRECT = {"service.cloud.tencent.com/direct-access": "true"}


def netpol(name="np", *, pod_selector=None, ingress=None, types=("Ingress",)):
    spec = {"podSelector": {} if pod_selector is None else pod_selector}
    if types is not None:
        spec["policyTypes"] = list(types)
    if ingress is not None:
        spec["ingress"] = ingress
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name, "namespace": "shop"}, "spec": spec}


def base(*objs, svc=None):
    return make_state(
        svc or service(),
        node("node-1", internal_ip="127.0.1.1"),
        node("node-2", internal_ip="127.0.1.2"),
        pod("web-1"),
        *objs,
    )


def with_lb_subnet(state, cidr="127.0.4.0/24"):
    state.aws.load_balancers = [{"LoadBalancerName": "k8s-shop-web", "AvailabilityZones": [{"ZoneName": "us-east-1a", "SubnetId": "subnet-a"}]}]
    state.aws.subnets = [{"SubnetId": "subnet-a", "CidrBlock": cidr}, {"SubnetId": "subnet-b", "CidrBlock": "127.0.9.0/24"}]
    return state


def test_passes_without_policies():
    [f] = run_check(ID, base())
    assert f.status == Status.PASS
    assert "not restricted" in f.summary


def test_default_deny_blocks_instance_targets():
    [f] = run_check(ID, base(netpol("default-deny")))
    assert f.status == Status.FAIL
    assert f.cause == "network-policy"
    assert "NetworkPolicy default-deny blocks the load balancer" in f.summary
    assert "127.0.1.1/32" in f.summary
    text = "\n".join(f.evidence)
    assert "NetworkPolicy shop/default-deny podSelector {} policyTypes Ingress: no ingress rule (denies all ingress)" in text
    assert "Pod shop/web-1 port 80/TCP (http) [Service port 80 targetPort 80]: NOT admitted from 127.0.1.2/32 (node node-2 InternalIP)" in text
    assert "kubectl apply -f -" in f.next_step and '{"ipBlock": {"cidr": "127.0.1.1/32"}}' in f.next_step and '"port": 80' in f.next_step


def test_pod_selector_only_rule_blocks_the_load_balancer():
    pol = netpol("frontend-only", pod_selector={"matchLabels": {"app": "web"}},
                 ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "frontend"}}}], "ports": [{"port": 80}]}])
    [f] = run_check(ID, base(pol))
    assert f.status == Status.FAIL
    assert any('ingress[0] from podSelector {"matchLabels": {"app": "frontend"}} on 80/TCP' in e for e in f.evidence)


def test_ipblock_admitting_nodes_passes():
    pol = netpol(ingress=[{"from": [{"ipBlock": {"cidr": "127.0.1.0/24"}}], "ports": [{"port": "http"}]}])
    [f] = run_check(ID, base(pol))
    assert f.status == Status.PASS
    assert "admit the load balancer's sources" in f.summary


def test_rule_on_another_port_does_not_count():
    pol = netpol(ingress=[{"from": [{"ipBlock": {"cidr": "127.0.0.0/8"}}], "ports": [{"port": 9090, "endPort": 9100}]}])
    [f] = run_check(ID, base(pol))
    assert f.status == Status.FAIL


def test_end_port_range_and_empty_from():
    pol = netpol(ingress=[{"ports": [{"port": 70, "endPort": 90, "protocol": "TCP"}]}])
    [f] = run_check(ID, base(pol))
    assert f.status == Status.PASS


def test_egress_only_policy_is_ignored():
    [f] = run_check(ID, base(netpol(types=("Egress",))))
    assert f.status == Status.PASS


def test_ip_targets_use_the_lb_subnets():
    pol = netpol(ingress=[{"from": [{"ipBlock": {"cidr": "127.0.4.0/24"}}]}])
    state = with_lb_subnet(base(pol, svc=service(annotations=IP_TARGETS)))
    [f] = run_check(ID, state)
    assert f.status == Status.PASS
    assert any("load balancer subnet subnet-a" in e for e in f.evidence)


def test_ip_targets_except_carves_out_part_of_the_subnet():
    pol = netpol(ingress=[{"from": [{"ipBlock": {"cidr": "127.0.0.0/16", "except": ["127.0.4.0/25"]}}]}])
    state = with_lb_subnet(base(pol, svc=service(annotations=IP_TARGETS)))
    [f] = run_check(ID, state)
    assert f.status == Status.WARN
    assert any("only partly admitted from 127.0.4.0/24" in e for e in f.evidence)


def test_ip_targets_subnet_not_admitted_fails():
    pol = netpol(ingress=[{"from": [{"ipBlock": {"cidr": "127.0.1.0/24"}}]}])
    state = with_lb_subnet(base(pol, svc=service(annotations=IP_TARGETS)))
    [f] = run_check(ID, state)
    assert f.status == Status.FAIL
    assert "127.0.4.0/24" in f.summary


def test_ip_targets_without_network_data_only_warn_on_a_guess():
    pol = netpol(ingress=[{"from": [{"ipBlock": {"cidr": "127.0.200.0/24"}}]}])
    [f] = run_check(ID, base(pol, svc=service(annotations=IP_TARGETS)))
    assert f.status == Status.WARN
    assert any("no VPC/subnet data was read" in e for e in f.evidence)


def test_tencent_direct_access_needs_100_64():
    svc = service(annotations=TKE_DIRECT)
    [f] = run_check(ID, base(netpol(ingress=[{"from": [{"ipBlock": {"cidr": "127.0.0.0/8"}}]}]), svc=svc))
    assert f.status == Status.FAIL
    assert "100.64.0.0/10" in f.summary
    [f] = run_check(ID, base(netpol(ingress=[{"from": [{"ipBlock": {"cidr": "100.64.0.0/10"}}]}]), svc=svc))
    assert f.status == Status.PASS


def test_host_network_pods_are_not_isolated():
    p = pod("web-1")
    p["spec"]["hostNetwork"] = True
    state = make_state(service(), node("node-1"), p, netpol())
    [f] = run_check(ID, state)
    assert f.status == Status.PASS
    assert any("hostNetwork" in e for e in f.evidence)


def test_error_skip_and_odd_input():
    state = base()
    state.read_errors["k8s.networkpolicies"] = "forbidden: cannot list networkpolicies.networking.k8s.io"
    [f] = run_check(ID, state, odd=True)
    assert f.status == Status.ERROR and "networkpolicies" in f.next_step
    [f] = run_check(ID, make_state(service(), pod("web-1"), reads={"k8s.service", "k8s.pods"}), odd=True)
    assert f.status == Status.SKIP and "not read in this diagnosis" in f.summary
    odd = netpol(ingress=[{"from": [{"ipBlock": {"cidr": "not-a-cidr", "except": ["x"]}}], "ports": [None, {"port": None}]}])
    [f] = run_check(ID, base(odd), odd=True)
    assert f.status == Status.FAIL


def test_empty_rule_admits_everyone():
    [f] = run_check(ID, base(netpol(ingress=[{}])))
    assert f.status == Status.PASS
    assert any("ingress[0] from anywhere on all ports" in e for e in f.evidence)


def test_clusterip_without_ingress_is_not_applicable_but_with_alb_ingress_is():
    from tests.factories import ingress

    [f] = run_check(ID, base(netpol(), svc=service(type="ClusterIP")))
    assert f.status == Status.SKIP and "no load balancer" in f.summary
    ing = ingress(annotations={"alb.ingress.kubernetes.io/target-type": "ip"})
    state = with_lb_subnet(base(netpol(), ing, svc=service(type="ClusterIP")))
    [f] = run_check(ID, state)
    assert f.status == Status.FAIL
    assert "127.0.4.0/24" in f.summary


def test_tencent_nodeport_mode_needs_the_node_ips_not_100_64():
    svc = service(annotations={"service.kubernetes.io/qcloud-loadbalancer-internal-subnetid": "subnet-x"})
    [f] = run_check(ID, base(netpol(ingress=[{"from": [{"ipBlock": {"cidr": "127.0.1.0/24"}}]}]), svc=svc))
    assert f.status == Status.PASS
    assert any("kube-proxy forwards to the pod from the node IPs" in e for e in f.evidence)


def test_tencent_vip_source_when_listener_uses_source_ip_type_0():
    state = base(netpol(ingress=[{"from": [{"ipBlock": {"cidr": "100.64.0.0/10"}}]}]), svc=service(annotations=TKE_DIRECT))
    state.tencent.load_balancers = [{"LoadBalancerId": "lb-1", "LoadBalancerVips": ["127.0.7.7"]}]
    state.tencent.listeners = {"lb-1": [{"ListenerId": "lbl-1", "Protocol": "TCP", "Port": 80,
                                         "HealthCheck": {"HealthSwitch": 1, "SourceIpType": 0}}]}
    [f] = run_check(ID, state)
    assert f.status == Status.FAIL
    assert "127.0.7.7/32" in f.summary
    assert any("CLB lb-1 VIP (listener SourceIpType 0)" in e for e in f.evidence)


def test_instance_targets_with_local_policy_use_the_lb_subnets():
    svc = service(external_traffic_policy="Local")
    pol = netpol(ingress=[{"from": [{"ipBlock": {"cidr": "127.0.1.0/24"}}]}])  # node IPs only
    [f] = run_check(ID, with_lb_subnet(base(pol, svc=svc)))
    assert f.status == Status.FAIL
    assert "127.0.4.0/24" in f.summary
    assert any("externalTrafficPolicy Local: no SNAT" in e for e in f.evidence)
