"""Builders for Tencent Cloud state in tccli/SDK JSON shapes, and whole TKE scenarios.

Every address a probe could reach is in 127.0.0.0/8. 100.64.0.0/10 and 0.0.0.0/0 appear only
as rule data (CIDRs), never as a destination.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from checks.state import State
from tests import factories as f

VIP = "127.0.0.50"
LB_ID = "lb-web"
LISTENER_ID = "lbl-80"
NODE_SG = "sg-node"
ENI_SG = "sg-eni"
CLB_SG = "sg-clb"
SUBNET = "subnet-nodes"
VPC = "vpc-1"
NODES = (("node-1", "127.0.1.1", "ins-node1"), ("node-2", "127.0.1.2", "ins-node2"))
PODS = (("web-1", "127.0.0.2", "node-1", "eni-web1"), ("web-2", "127.0.0.3", "node-2", "eni-web2"))
NODE_PORT = 30080
LB_ID_ANN = "service.kubernetes.io/loadbalance-id"
DIRECT_ANN = "service.cloud.tencent.com/direct-access"


def health_check(**overrides: Any) -> dict[str, Any]:
    hc = {
        "HealthSwitch": 1,
        "TimeOut": 2,
        "IntervalTime": 5,
        "HealthNum": 3,
        "UnHealthNum": 3,
        "HttpCode": 31,
        "HttpCheckPath": "",
        "HttpCheckDomain": "",
        "HttpCheckMethod": "HEAD",
        "CheckPort": None,
        "CheckType": "TCP",
        "HttpVersion": "",
        "SourceIpType": 1,
    }
    hc.update(overrides)
    return hc


def clb(
    lb_id: str = LB_ID,
    *,
    vips: tuple[str, ...] = (VIP,),
    type: str = "INTERNAL",
    vpc: str = VPC,
    sgs: tuple[str, ...] = (),
    tags: dict[str, str] | None = None,
    snat_pro: bool = False,
    snat_ips: tuple[str, ...] = (),
    pass_to_target: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    lb = {
        "LoadBalancerId": lb_id,
        "LoadBalancerName": f"{lb_id}-name",
        "LoadBalancerType": type,
        "Forward": 1,
        "LoadBalancerVips": list(vips),
        "Status": 1,
        "VpcId": vpc,
        "SubnetId": SUBNET if type == "INTERNAL" else "",
        "SecureGroups": list(sgs),
        "Tags": [{"TagKey": k, "TagValue": v} for k, v in (tags or {}).items()],
        "LoadBalancerPassToTarget": pass_to_target,
        "SnatPro": snat_pro,
        "SnatIps": [{"SubnetId": SUBNET, "Ip": ip} for ip in snat_ips],
        "AddressIPVersion": "ipv4",
    }
    lb.update(extra)
    return lb


def listener(
    listener_id: str = LISTENER_ID,
    *,
    protocol: str = "TCP",
    port: int = 80,
    hc: dict[str, Any] | None = None,
    rules: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    lst: dict[str, Any] = {
        "ListenerId": listener_id,
        "ListenerName": f"TCP-{port}",
        "Protocol": protocol,
        "Port": port,
        "Scheduler": "WRR",
        "TargetType": "NODE",
        "EndPort": 0,
    }
    if protocol in ("HTTP", "HTTPS"):
        lst["Rules"] = rules if rules is not None else [rule()]
    else:
        lst["HealthCheck"] = hc if hc is not None else health_check()
    lst.update(extra)
    return lst


def rule(
    location_id: str = "loc-1",
    *,
    domain: str = "shop.example",
    url: str = "/",
    hc: dict[str, Any] | None = None,
    forward_type: str = "HTTP",
) -> dict[str, Any]:
    return {
        "LocationId": location_id,
        "Domain": domain,
        "Url": url,
        "ForwardType": forward_type,
        "HealthCheck": hc if hc is not None else health_check(CheckType="HTTP", HttpCheckPath="/", HttpCode=31),
    }


def backend(ip: str, port: int, *, type: str = "CVM", instance_id: str = "", eni_id: str = "") -> dict[str, Any]:
    return {
        "Type": type,
        "InstanceId": instance_id,
        "Port": port,
        "Weight": 10,
        "PrivateIpAddresses": [ip],
        "PublicIpAddresses": [],
        "InstanceName": instance_id or ip,
        "EniId": eni_id or None,
        "RegisteredTime": "2026-11-21 10:00:00",
    }


def listener_targets(listener: dict[str, Any], backends: list[dict[str, Any]]) -> dict[str, Any]:
    """DescribeTargets' ListenerBackend for an L4 listener, or each L7 rule with the same backends."""
    out: dict[str, Any] = {"ListenerId": listener["ListenerId"], "Protocol": listener["Protocol"], "Port": listener["Port"]}
    if listener["Protocol"] in ("HTTP", "HTTPS"):
        out["Rules"] = [
            {"LocationId": r["LocationId"], "Domain": r["Domain"], "Url": r["Url"], "Targets": copy.deepcopy(backends)}
            for r in listener.get("Rules") or []
        ]
    else:
        out["Targets"] = copy.deepcopy(backends)
    return out


def target_health(ip: str, port: int, healthy: bool, *, detail: str | None = None, target_id: str = "") -> dict[str, Any]:
    return {
        "IP": ip,
        "Port": port,
        "HealthStatus": healthy,
        "TargetId": target_id,
        "HealthStatusDetail": detail or ("Alive" if healthy else "Dead"),
        "Weight": 10,
    }


def lb_health(lb_id: str, listener: dict[str, Any], targets: list[dict[str, Any]]) -> dict[str, Any]:
    if listener["Protocol"] in ("HTTP", "HTTPS"):
        rules = [
            {"LocationId": r["LocationId"], "Domain": r["Domain"], "Url": r["Url"], "RuleId": r["LocationId"], "Targets": copy.deepcopy(targets)}
            for r in listener.get("Rules") or []
        ]
    else:
        rules = [{"LocationId": "", "Domain": None, "Url": None, "RuleId": "", "Targets": copy.deepcopy(targets)}]
    return {
        "LoadBalancerId": lb_id,
        "LoadBalancerName": f"{lb_id}-name",
        "Listeners": [
            {"ListenerId": listener["ListenerId"], "ListenerName": "", "Protocol": listener["Protocol"], "Port": listener["Port"], "Rules": rules}
        ],
    }


def sg_rule(action: str, cidr: str, port: str = "ALL", protocol: str = "TCP", *, index: int | None = None, desc: str = "") -> dict[str, Any]:
    r = {"Protocol": protocol, "Port": port, "CidrBlock": cidr, "Action": action, "PolicyDescription": desc}
    if index is not None:
        r["PolicyIndex"] = index
    return r


def sg_policies(ingress: list[dict[str, Any]], egress: list[dict[str, Any]] | None = None, version: str = "7") -> dict[str, Any]:
    ingress = [dict(r, PolicyIndex=r.get("PolicyIndex", i)) for i, r in enumerate(ingress)]
    egress = [dict(r, PolicyIndex=r.get("PolicyIndex", i)) for i, r in enumerate(egress if egress is not None else [sg_rule("ACCEPT", "0.0.0.0/0", protocol="ALL")])]
    return {"Version": version, "Ingress": ingress, "Egress": egress}


def acl_entry(action: str, cidr: str, port: str = "ALL", protocol: str = "ALL", desc: str = "") -> dict[str, Any]:
    """A DescribeNetworkAcls entry (vpc NetworkAclEntry: `Description`, unlike a security group's `PolicyDescription`)."""
    return {"Protocol": protocol, "Port": port, "CidrBlock": cidr, "Ipv6CidrBlock": "", "Action": action, "Description": desc,
            "ModifyTime": "2026-11-20 09:00:00"}


def network_acl(
    acl_id: str = "acl-1",
    *,
    subnets: tuple[str, ...] = (SUBNET,),
    ingress: list[dict[str, Any]] | None = None,
    egress: list[dict[str, Any]] | None = None,
    type: str = "TRIPLE",
) -> dict[str, Any]:
    return {
        "VpcId": VPC,
        "NetworkAclId": acl_id,
        "NetworkAclName": acl_id,
        "SubnetSet": [{"SubnetId": s, "VpcId": VPC, "CidrBlock": "127.0.0.0/16"} for s in subnets],
        "IngressEntries": ingress if ingress is not None else [acl_entry("ACCEPT", "0.0.0.0/0")],
        "EgressEntries": egress if egress is not None else [acl_entry("ACCEPT", "0.0.0.0/0")],
        "NetworkAclType": type,
    }


def instance(ins_id: str, ip: str, *, sgs: tuple[str, ...] = (NODE_SG,), subnet: str = SUBNET) -> dict[str, Any]:
    return {
        "InstanceId": ins_id,
        "InstanceName": ins_id,
        "PrivateIpAddresses": [ip],
        "SecurityGroupIds": list(sgs),
        "VirtualPrivateCloud": {"VpcId": VPC, "SubnetId": subnet},
        "InstanceState": "RUNNING",
    }


def eni(eni_id: str, ip: str, *, sgs: tuple[str, ...] = (ENI_SG,), subnet: str = SUBNET, instance_id: str = "") -> dict[str, Any]:
    return {
        "NetworkInterfaceId": eni_id,
        "VpcId": VPC,
        "SubnetId": subnet,
        "GroupSet": list(sgs),
        "PrivateIpAddressSet": [{"PrivateIpAddress": ip, "Primary": True}],
        "Attachment": {"InstanceId": instance_id},
        "NetworkInterfaceState": "AVAILABLE",
    }


@dataclass
class Scenario:
    """A TKE Service behind a CLB: the Kubernetes objects and the cloud as the APIs show them."""

    objects: list[dict[str, Any]]
    load_balancers: list[dict[str, Any]]
    listeners: dict[str, list[dict[str, Any]]]
    targets: dict[str, list[dict[str, Any]]]
    target_health: list[dict[str, Any]]
    security_group_policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    network_acls: list[dict[str, Any]] = field(default_factory=list)
    network_interfaces: list[dict[str, Any]] = field(default_factory=list)
    instances: list[dict[str, Any]] = field(default_factory=list)

    def state(self, *, reads: set[str] | None = None, **options: Any) -> State:
        """A State with every read done (unless `reads` says otherwise) and all of this loaded."""
        st = f.make_state(*self.objects, reads=reads, **options)
        tc = st.tencent
        tc.region = "ap-guangzhou"
        tc.load_balancers = copy.deepcopy(self.load_balancers)
        tc.listeners = copy.deepcopy(self.listeners)
        tc.targets = copy.deepcopy(self.targets)
        tc.target_health = copy.deepcopy(self.target_health)
        tc.security_group_policies = copy.deepcopy(self.security_group_policies)
        tc.network_acls = copy.deepcopy(self.network_acls)
        tc.network_interfaces = copy.deepcopy(self.network_interfaces)
        tc.instances = copy.deepcopy(self.instances)
        return st

    def load_into(self, cloud: Any) -> None:
        """Serve this scenario from a tests.fakes.tencent_api.FakeCloud."""
        for lb in self.load_balancers:
            lb_id = lb["LoadBalancerId"]
            health = next((h for h in self.target_health if h["LoadBalancerId"] == lb_id), None)
            cloud.add_load_balancer(
                copy.deepcopy(lb),
                listeners=copy.deepcopy(self.listeners.get(lb_id, [])),
                targets=copy.deepcopy(self.targets.get(lb_id, [])),
                health=copy.deepcopy(health),
            )
        cloud.security_groups.update(copy.deepcopy(self.security_group_policies))
        cloud.network_acls.extend(copy.deepcopy(self.network_acls))
        cloud.network_interfaces.extend(copy.deepcopy(self.network_interfaces))
        cloud.instances.extend(copy.deepcopy(self.instances))


def tke_service(
    *,
    direct: bool = False,
    annotations: dict[str, str] | None = None,
    by_annotation: bool = True,
    ingress_ip: str | None = VIP,
    **kw: Any,
) -> dict[str, Any]:
    ann = dict(annotations or {})
    if by_annotation:
        ann.setdefault(LB_ID_ANN, LB_ID)
    if direct:
        ann[DIRECT_ANN] = "true"
    svc = f.service(annotations=ann or None, ingress_ip=ingress_ip, **kw)
    svc["metadata"]["uid"] = "uid-shop-web"
    return svc


def scenario(
    *,
    direct: bool = False,
    healthy: bool | list[bool] = True,
    detail: str | None = None,
    hc: dict[str, Any] | None = None,
    protocol: str = "TCP",
    lst: dict[str, Any] | None = None,
    lb: dict[str, Any] | None = None,
    node_rules: list[dict[str, Any]] | None = None,
    eni_rules: list[dict[str, Any]] | None = None,
    acl: dict[str, Any] | None = None,
    service_kw: dict[str, Any] | None = None,
    extra_objects: list[dict[str, Any]] | None = None,
    backend_type: str | None = None,
) -> Scenario:
    """Service shop/web (port 80 -> 80, nodePort 30080) with two pods on two nodes behind lb-web.

    NodePort mode: targets are the nodes at :30080 (CVM); direct access: the pods at :80 (ENI).
    """
    nodes = [f.node(n, internal_ip=ip, provider_id=f"qcloud:///800002/{ins}") for n, ip, ins in NODES]
    pods = [f.pod(name, ip=ip, node=node) for name, ip, node, _ in PODS]
    svc = tke_service(direct=direct, **(service_kw or {}))
    objects = [svc, *nodes, *pods, f.endpoint_slice(endpoints=[(ip, True, name, node) for name, ip, node, _ in PODS])]
    objects += extra_objects or []
    the_lb = lb if lb is not None else clb()
    the_listener = lst if lst is not None else listener(protocol=protocol, hc=hc)
    if direct:
        addrs = [(ip, 80, "", eni_id) for _, ip, _, eni_id in PODS]
        btype = backend_type or "ENI"
    else:
        addrs = [(ip, NODE_PORT, ins, "") for _, ip, ins in NODES]
        btype = backend_type or "CVM"
    flags = healthy if isinstance(healthy, list) else [healthy] * len(addrs)
    backends = [backend(ip, port, type=btype, instance_id=ins, eni_id=eni_id) for ip, port, ins, eni_id in addrs]
    health = [target_health(ip, port, ok, detail=None if ok else detail, target_id=ins) for (ip, port, ins, _), ok in zip(addrs, flags, strict=False)]
    lb_id = the_lb["LoadBalancerId"]
    return Scenario(
        objects=objects,
        load_balancers=[the_lb],
        listeners={lb_id: [the_listener]},
        targets={lb_id: [listener_targets(the_listener, backends)]},
        target_health=[lb_health(lb_id, the_listener, health)],
        security_group_policies={
            NODE_SG: sg_policies(node_rules if node_rules is not None else [sg_rule("ACCEPT", "0.0.0.0/0", "ALL", "ALL")]),
            ENI_SG: sg_policies(eni_rules if eni_rules is not None else [sg_rule("ACCEPT", "0.0.0.0/0", "ALL", "ALL")]),
        },
        network_acls=[acl if acl is not None else network_acl()],
        network_interfaces=[eni(eni_id, ip, instance_id=dict((n, i) for n, _, i in NODES)[node]) for _, ip, node, eni_id in PODS] if direct else [],
        instances=[instance(ins, ip) for _, ip, ins in NODES],
    )
