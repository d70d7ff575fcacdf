"""Builders for AWS state in the shapes the AWS CLI prints (`elbv2 describe-*`, `ec2 describe-*`).

`world()` makes a consistent, healthy topology for one Service (load balancer, target group,
targets, instances with ENIs, security groups, NACLs, route tables, VPC, DHCP options); tests
then break one thing. All addresses are in 127.0.0.0/8: nothing here could ever be probed
outside loopback.
"""

from __future__ import annotations

import copy
from typing import Any

from checks.state import State
from tests import factories as f

REGION = "us-east-1"
ACCOUNT = "123456789012"
VPC_ID = "vpc-0a1b2c3d4e5f60718"
VPC_CIDR = "127.0.0.0/16"
POD_SUBNET = ("subnet-0pods000000000001", "127.0.0.0/24", "us-east-1a")
NODE_SUBNET = ("subnet-0node000000000001", "127.0.1.0/24", "us-east-1a")
NODE2_SUBNET = ("subnet-0node000000000002", "127.0.4.0/24", "us-east-1b")
LB_SUBNETS = [
    ("subnet-0lba0000000000001", "127.0.2.0/24", "us-east-1a"),
    ("subnet-0lbb0000000000001", "127.0.3.0/24", "us-east-1b"),
]
NODE_SG = "sg-0node0000000000001"
LB_SG = "sg-0lb000000000000001"
INSTANCE_1 = "i-0aaaaaaaaaaaaaaa1"
INSTANCE_2 = "i-0bbbbbbbbbbbbbbb2"


def arn(kind: str, path: str) -> str:
    return f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:{kind}/{path}"


def load_balancer(
    name: str = "k8s-shop-web-0123456789",
    *,
    type: str = "network",
    security_groups: list[str] | None = None,
    subnets: list[tuple[str, str, str]] | None = None,
    scheme: str = "internet-facing",
    state: str = "active",
) -> dict[str, Any]:
    subnets = LB_SUBNETS if subnets is None else subnets
    short = "net" if type == "network" else "app"
    lb: dict[str, Any] = {
        "LoadBalancerArn": arn("loadbalancer", f"{short}/{name}/0123456789abcdef"),
        "DNSName": dns_name(name, type),
        "CanonicalHostedZoneId": "Z26RNL4JYFTOTI",
        "CreatedTime": "2026-11-20T10:00:00.000000+00:00",
        "LoadBalancerName": name,
        "Scheme": scheme,
        "VpcId": VPC_ID,
        "State": {"Code": state},
        "Type": type,
        "AvailabilityZones": [
            {"ZoneName": az, "SubnetId": sid, "LoadBalancerAddresses": []} for sid, _, az in subnets
        ],
        "IpAddressType": "ipv4",
    }
    if security_groups is not None:
        lb["SecurityGroups"] = list(security_groups)
    return lb


def dns_name(name: str, type: str = "network") -> str:
    if type == "network":
        return f"{name}-0123456789abcdef.elb.{REGION}.amazonaws.com"
    return f"{name}-1234567890.{REGION}.elb.amazonaws.com"


def target_group(
    name: str = "k8s-shop-web-tg0123456",
    *,
    lb: dict[str, Any] | None = None,
    port: int = 80,
    protocol: str = "TCP",
    target_type: str = "ip",
    hc_protocol: str | None = None,
    hc_port: str = "traffic-port",
    hc_path: str | None = None,
    matcher: str | None = None,
    interval: int = 10,
    timeout: int = 10,
    healthy: int = 3,
    unhealthy: int = 3,
) -> dict[str, Any]:
    hc_protocol = hc_protocol or (protocol if protocol in ("HTTP", "HTTPS", "TCP") else "TCP")
    tg: dict[str, Any] = {
        "TargetGroupArn": arn("targetgroup", f"{name}/fedcba9876543210"),
        "TargetGroupName": name,
        "Protocol": protocol,
        "Port": port,
        "VpcId": VPC_ID,
        "HealthCheckProtocol": hc_protocol,
        "HealthCheckPort": hc_port,
        "HealthCheckEnabled": True,
        "HealthCheckIntervalSeconds": interval,
        "HealthCheckTimeoutSeconds": timeout,
        "HealthyThresholdCount": healthy,
        "UnhealthyThresholdCount": unhealthy,
        "LoadBalancerArns": [lb["LoadBalancerArn"]] if lb else [],
        "TargetType": target_type,
        "IpAddressType": "ipv4",
    }
    if hc_protocol.startswith("HTTP"):
        tg["HealthCheckPath"] = hc_path or "/"
        tg["Matcher"] = {"HttpCode": matcher or ("200" if protocol.startswith("HTTP") else "200-399")}
    return tg


def thd(
    target_id: str,
    port: int = 80,
    state: str = "healthy",
    reason: str | None = None,
    description: str | None = None,
    hc_port: str | None = None,
) -> dict[str, Any]:
    """One TargetHealthDescription."""
    th: dict[str, Any] = {"State": state}
    if reason:
        th["Reason"] = reason
    if description:
        th["Description"] = description
    d: dict[str, Any] = {
        "Target": {"Id": target_id, "Port": port},
        "HealthCheckPort": hc_port or str(port),
        "TargetHealth": th,
    }
    return d


def perm(
    from_port: int | None = None,
    to_port: int | None = None,
    *,
    proto: str = "tcp",
    groups: tuple[str, ...] = (),
    cidrs: tuple[str, ...] = (),
    prefix_lists: tuple[str, ...] = (),
) -> dict[str, Any]:
    p: dict[str, Any] = {
        "IpProtocol": proto,
        "UserIdGroupPairs": [{"GroupId": g, "UserId": ACCOUNT} for g in groups],
        "IpRanges": [{"CidrIp": c} for c in cidrs],
        "Ipv6Ranges": [],
        "PrefixListIds": [{"PrefixListId": p} for p in prefix_lists],
    }
    if proto != "-1":
        p["FromPort"] = from_port if from_port is not None else 0
        p["ToPort"] = to_port if to_port is not None else p["FromPort"]
    return p


def security_group(
    group_id: str, name: str, ingress: list[dict[str, Any]], tags: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "GroupId": group_id,
        "GroupName": name,
        "Description": name,
        "VpcId": VPC_ID,
        "OwnerId": ACCOUNT,
        "IpPermissions": ingress,
        "IpPermissionsEgress": [perm(proto="-1", cidrs=("0.0.0.0/0",))],
        "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    }


def acl_entry(
    rule: int,
    cidr: str,
    action: str = "allow",
    *,
    egress: bool = False,
    proto: str = "-1",
    ports: tuple[int, int] | None = None,
) -> dict[str, Any]:
    e: dict[str, Any] = {
        "RuleNumber": rule,
        "Protocol": proto,
        "RuleAction": action,
        "Egress": egress,
        "CidrBlock": cidr,
    }
    if ports:
        e["PortRange"] = {"From": ports[0], "To": ports[1]}
    return e


def network_acl(
    acl_id: str,
    subnets: list[str],
    entries: list[dict[str, Any]] | None = None,
    *,
    default: bool = False,
) -> dict[str, Any]:
    """A NACL; `entries` default to the AWS default ACL (allow all both ways). `*` rules are added."""
    entries = (
        entries
        if entries is not None
        else [acl_entry(100, "0.0.0.0/0"), acl_entry(100, "0.0.0.0/0", egress=True)]
    )
    entries = [
        *entries,
        acl_entry(32767, "0.0.0.0/0", "deny"),
        acl_entry(32767, "0.0.0.0/0", "deny", egress=True),
    ]
    return {
        "NetworkAclId": acl_id,
        "VpcId": VPC_ID,
        "IsDefault": default,
        "Entries": entries,
        "Associations": [
            {"NetworkAclAssociationId": f"aclassoc-{i:08x}", "NetworkAclId": acl_id, "SubnetId": s}
            for i, s in enumerate(subnets)
        ],
        "Tags": [],
        "OwnerId": ACCOUNT,
    }


def route(dest: str, target: str = "local", state: str = "active") -> dict[str, Any]:
    r: dict[str, Any] = {"DestinationCidrBlock": dest, "State": state, "Origin": "CreateRoute"}
    if target == "local":
        r.update(GatewayId="local", Origin="CreateRouteTable")
    elif target.startswith("eni-"):
        r["NetworkInterfaceId"] = target
    elif target.startswith("nat-"):
        r["NatGatewayId"] = target
    elif target.startswith("tgw-"):
        r["TransitGatewayId"] = target
    else:
        r["GatewayId"] = target
    return r


def route_table(
    rtb_id: str, subnets: list[str], routes: list[dict[str, Any]] | None = None, *, main: bool = False
) -> dict[str, Any]:
    assoc = [
        {"RouteTableAssociationId": f"rtbassoc-{i:08x}", "RouteTableId": rtb_id, "SubnetId": s, "Main": False}
        for i, s in enumerate(subnets)
    ]
    if main:
        assoc.append({"RouteTableAssociationId": "rtbassoc-main", "RouteTableId": rtb_id, "Main": True})
    return {
        "RouteTableId": rtb_id,
        "VpcId": VPC_ID,
        "Routes": routes
        if routes is not None
        else [route(VPC_CIDR), route("0.0.0.0/0", "igw-0123456789abcdef0")],
        "Associations": assoc,
        "OwnerId": ACCOUNT,
    }


def subnet(subnet_id: str, cidr: str, az: str = "us-east-1a") -> dict[str, Any]:
    return {
        "SubnetId": subnet_id,
        "CidrBlock": cidr,
        "AvailabilityZone": az,
        "VpcId": VPC_ID,
        "State": "available",
    }


def instance(
    instance_id: str,
    private_ip: str,
    subnet_id: str,
    groups: list[str],
    *,
    pod_ips: list[str] | None = None,
    pod_subnet: str | None = None,
) -> dict[str, Any]:
    """An instance as in DescribeInstances Reservations[].Instances[] (primary ENI + one for pod IPs)."""
    sgs = [{"GroupId": g, "GroupName": g} for g in groups]
    enis = [
        {
            "NetworkInterfaceId": f"eni-{instance_id[2:]}0",
            "SubnetId": subnet_id,
            "VpcId": VPC_ID,
            "PrivateIpAddress": private_ip,
            "PrivateIpAddresses": [{"PrivateIpAddress": private_ip, "Primary": True}],
            "Groups": sgs,
            "Attachment": {"DeviceIndex": 0, "Status": "attached"},
        }
    ]
    if pod_ips:
        enis.append(
            {
                "NetworkInterfaceId": f"eni-{instance_id[2:]}1",
                "SubnetId": pod_subnet or subnet_id,
                "VpcId": VPC_ID,
                "PrivateIpAddress": pod_ips[0],
                "PrivateIpAddresses": [
                    {"PrivateIpAddress": ip, "Primary": i == 0} for i, ip in enumerate(pod_ips)
                ],
                "Groups": sgs,
                "Attachment": {"DeviceIndex": 1, "Status": "attached"},
            }
        )
    return {
        "InstanceId": instance_id,
        "InstanceType": "m5.large",
        "PrivateIpAddress": private_ip,
        "PrivateDnsName": f"ip-{private_ip.replace('.', '-')}.ec2.internal",
        "SubnetId": subnet_id,
        "VpcId": VPC_ID,
        "State": {"Code": 16, "Name": "running"},
        "LaunchTime": "2026-11-20T10:00:00+00:00",
        "SecurityGroups": sgs,
        "NetworkInterfaces": enis,
        "Placement": {"AvailabilityZone": "us-east-1a"},
    }


def vpc(dhcp_options_id: str = "dopt-0123456789abcdef0", cidr: str = VPC_CIDR) -> dict[str, Any]:
    return {
        "VpcId": VPC_ID,
        "CidrBlock": cidr,
        "DhcpOptionsId": dhcp_options_id,
        "State": "available",
        "CidrBlockAssociationSet": [
            {
                "AssociationId": "vpc-cidr-assoc-1",
                "CidrBlock": cidr,
                "CidrBlockState": {"State": "associated"},
            }
        ],
        "IsDefault": False,
    }


def dhcp_options(domain: str = "ec2.internal", options_id: str = "dopt-0123456789abcdef0") -> dict[str, Any]:
    return {
        "DhcpOptionsId": options_id,
        "DhcpConfigurations": [
            {"Key": "domain-name", "Values": [{"Value": domain}]},
            {"Key": "domain-name-servers", "Values": [{"Value": "AmazonProvidedDNS"}]},
        ],
        "OwnerId": ACCOUNT,
    }


def target_group_binding(
    name: str = "k8s-shop-web-tg0123456",
    namespace: str = "shop",
    *,
    service: str = "web",
    port: int | str = 80,
    tg_arn: str | None = None,
    target_type: str = "ip",
) -> dict[str, Any]:
    return {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "TargetGroupBinding",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"service.k8s.aws/stack-name": service, "service.k8s.aws/stack-namespace": namespace},
        },
        "spec": {
            "serviceRef": {"name": service, "port": port},
            "targetGroupARN": tg_arn or arn("targetgroup", f"{name}/fedcba9876543210"),
            "targetType": target_type,
        },
    }


def world(
    *,
    lb_type: str = "network",
    target_type: str = "ip",
    external_traffic_policy: str = "Cluster",
    health: list[dict[str, Any]] | None = None,
    service_annotations: dict[str, str] | None = None,
    extra_objects: tuple[dict[str, Any], ...] = (),
    tag_service: bool = True,
    network: bool = True,
    **state_options: Any,
) -> State:
    """A healthy Service behind an NLB (default) or ALB, with everything AWS said about it.

    ip targets: pod web-1 127.0.0.2:80 on node-1 (instance i-...1, 127.0.1.1).
    instance targets: nodes node-1 and node-2 on NodePort 30080.
    """
    lb = load_balancer(type=lb_type, security_groups=[LB_SG] if lb_type == "application" else None)
    tg_port = 80 if target_type == "ip" else 30080
    protocol = "TCP" if lb_type == "network" else "HTTP"
    hc_protocol = "HTTP" if (lb_type == "application" or external_traffic_policy == "Local") else "TCP"
    tg = target_group(
        lb=lb, port=tg_port, protocol=protocol, target_type=target_type, hc_protocol=hc_protocol
    )
    ann = {}
    if lb_type == "network":
        ann = {
            "service.beta.kubernetes.io/aws-load-balancer-type": "external",
            "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": target_type,
        }
    ann.update(service_annotations or {})
    spec_extra: dict[str, Any] = {}
    if external_traffic_policy == "Local":
        spec_extra["healthCheckNodePort"] = 32000
    svc = f.service(
        hostname=lb["DNSName"] if lb_type == "network" else None,
        annotations=ann,
        external_traffic_policy=external_traffic_policy,
        type="LoadBalancer" if lb_type == "network" else "NodePort",
        **spec_extra,
    )
    objects: list[dict[str, Any]] = [
        svc,
        f.pod("web-1", ip="127.0.0.2", node="node-1"),
        f.node("node-1", internal_ip="127.0.1.1", provider_id=f"aws:///us-east-1a/{INSTANCE_1}"),
        f.node("node-2", internal_ip="127.0.4.1", provider_id=f"aws:///us-east-1b/{INSTANCE_2}"),
        f.endpoint_slice(endpoints=[("127.0.0.2", True, "web-1", "node-1")]),
    ]
    if lb_type == "application":
        ing = f.ingress(annotations={"alb.ingress.kubernetes.io/target-type": target_type})
        ing["status"] = {"loadBalancer": {"ingress": [{"hostname": lb["DNSName"]}]}}
        objects.append(ing)
    objects.extend(extra_objects)
    state = f.make_state(*objects, **state_options)
    aws = state.aws
    aws.region = REGION
    aws.load_balancers = [lb]
    aws.target_groups = [tg]
    if tag_service:
        tags = {"elbv2.k8s.aws/cluster": "demo"}
        if lb_type == "network":
            tags.update({"service.k8s.aws/stack": "shop/web", "service.k8s.aws/resource": "shop/web:80"})
        else:
            tags.update({"ingress.k8s.aws/stack": "shop/web", "ingress.k8s.aws/resource": "shop/web-web:80"})
        aws.tags = {tg["TargetGroupArn"]: tags}
    if health is None:
        health = (
            [thd("127.0.0.2", 80)]
            if target_type == "ip"
            else [thd(INSTANCE_1, 30080), thd(INSTANCE_2, 30080)]
        )
    aws.target_health = {tg["TargetGroupArn"]: health}
    if network:
        node_sg_rules = [perm(proto="-1", groups=(NODE_SG,)), perm(0, 65535, cidrs=(VPC_CIDR,))]
        if lb_type == "application":
            node_sg_rules = [perm(proto="-1", groups=(NODE_SG,)), perm(0, 65535, groups=(LB_SG,))]
        aws.security_groups = [
            security_group(NODE_SG, "eks-nodes", node_sg_rules, {"aws:eks:cluster-name": "demo"}),
            security_group(LB_SG, "k8s-shop-web-lb", [perm(80, cidrs=("0.0.0.0/0",))]),
        ]
        aws.instances = [
            instance(
                INSTANCE_1,
                "127.0.1.1",
                NODE_SUBNET[0],
                [NODE_SG],
                pod_ips=["127.0.0.2"],
                pod_subnet=POD_SUBNET[0],
            ),
            instance(INSTANCE_2, "127.0.4.1", NODE2_SUBNET[0], [NODE_SG]),
        ]
        aws.subnets = [
            subnet(*POD_SUBNET),
            subnet(*NODE_SUBNET),
            subnet(*NODE2_SUBNET),
            *[subnet(*s) for s in LB_SUBNETS],
        ]
        aws.network_acls = [
            network_acl(
                "acl-0default000000001",
                [s[0] for s in (POD_SUBNET, NODE_SUBNET, NODE2_SUBNET, *LB_SUBNETS)],
                default=True,
            )
        ]
        aws.route_tables = [route_table("rtb-0main00000000001", [], main=True)]
        aws.vpcs = [vpc()]
        aws.dhcp_options = [dhcp_options()]
    else:
        for read in ("aws.ec2_network", "aws.instances"):
            state.skipped_reads[read] = "targets answered health checks; network path not suspected"
    return state


def tg_of(state: State) -> dict[str, Any]:
    return state.aws.target_groups[0]


def set_health(state: State, descriptions: list[dict[str, Any]]) -> None:
    state.aws.target_health[tg_of(state)["TargetGroupArn"]] = copy.deepcopy(descriptions)


def sg(state: State, group_id: str) -> dict[str, Any]:
    return next(g for g in state.aws.security_groups if g["GroupId"] == group_id)
