"""AWS: NLBs and ALBs made by the AWS Load Balancer Controller or the in-tree cloud provider.

The load-balancer views read the target group as the AWS CLI prints it when it was read, else the
Service/Ingress annotations with the controller's documented defaults.
"""

from __future__ import annotations

from typing import Any

from checks.providers.base import HealthCheck, ProbeSource, Source, cidr, external_traffic_local
from checks.state import AwsState, State, annotations
from checks.values import as_dict, as_float, as_int, as_list, as_str

SVC_ANN = "service.beta.kubernetes.io/aws-load-balancer-"
ALB_ANN = "alb.ingress.kubernetes.io/"
# describe-target-health does not print the group's ARN; --query adds it, so the saved file says
# which target group it describes (DESIGN.md's dump contract) without editing it by hand.
TARGET_HEALTH_DUMP = (
    "aws elbv2 describe-target-health{region} --target-group-arn {tg} --output json"
    " --query \"{{TargetGroupArn: '{tg}', TargetHealthDescriptions: TargetHealthDescriptions}}\""
)
AWS_READS = ("aws.elbv2", "aws.target_health", "aws.ec2_network", "aws.instances", "aws.dhcp")


def aws_target_type(state: State) -> str:
    """`ip` or `instance` for the Service's NLB (absent annotation means instance, as the seed says)."""
    for tg in state.aws.target_groups:
        if isinstance(tg, dict) and tg.get("TargetType") in ("ip", "instance"):
            return tg["TargetType"]
    ann = state.service_annotations
    if ann.get(SVC_ANN + "type") == "nlb-ip":
        return "ip"
    tt = ann.get(SVC_ANN + "nlb-target-type")
    if tt:
        return tt.strip().lower()
    for ing in state.ingresses:
        tt = annotations(ing).get(ALB_ANN + "target-type")
        if tt:
            return tt.strip().lower()
    return "instance"


def is_lbc_service(state: State) -> bool:
    """Does the AWS Load Balancer Controller (not the in-tree provider) own this Service's NLB?"""
    svc = state.service or {}
    spec = svc.get("spec") or {}
    if (spec.get("loadBalancerClass") or "").startswith("service.k8s.aws/"):
        return True
    lb_type = state.service_annotations.get(SVC_ANN + "type", "")
    return lb_type in ("external", "nlb-ip")


def _from_target_group(state: State, tg: dict[str, Any]) -> HealthCheck:
    protocol = as_str(tg.get("HealthCheckProtocol"), "TCP").upper()
    port = tg.get("HealthCheckPort")
    return HealthCheck(
        source=f"target group {as_str(tg.get('TargetGroupName')) or as_str(tg.get('TargetGroupArn'), '?')}",
        protocol=protocol,
        port=str(port) if isinstance(port, (str, int)) and str(port) else "traffic-port",
        path=as_str(tg.get("HealthCheckPath")),
        success_codes=as_str(as_dict(tg.get("Matcher")).get("HttpCode"))
        or ("200" if protocol.startswith("HTTP") else ""),
        timeout_s=as_float(tg.get("HealthCheckTimeoutSeconds"), 5),
        interval_s=as_float(tg.get("HealthCheckIntervalSeconds"), 30),
        healthy_threshold=as_int(tg.get("HealthyThresholdCount"), 5),
        unhealthy_threshold=as_int(tg.get("UnhealthyThresholdCount"), 2),
        target_type=as_str(tg.get("TargetType")) or aws_target_type(state),
        listener=as_str(tg.get("TargetGroupArn")),
    )


def _from_ingress(state: State, ing: dict[str, Any]) -> HealthCheck:
    ann = annotations(ing)
    protocol = (ann.get(ALB_ANN + "healthcheck-protocol") or "HTTP").upper()
    return HealthCheck(
        source=f"Ingress {ing['metadata'].get('namespace')}/{ing['metadata'].get('name')} annotations (controller defaults where absent)",
        protocol=protocol,
        port=ann.get(ALB_ANN + "healthcheck-port") or "traffic-port",
        path=ann.get(ALB_ANN + "healthcheck-path") or "/",
        success_codes=ann.get(ALB_ANN + "success-codes") or "200",
        timeout_s=float(as_int(ann.get(ALB_ANN + "healthcheck-timeout-seconds"), 5)),
        interval_s=float(as_int(ann.get(ALB_ANN + "healthcheck-interval-seconds"), 15)),
        healthy_threshold=as_int(ann.get(ALB_ANN + "healthy-threshold-count"), 2),
        unhealthy_threshold=as_int(ann.get(ALB_ANN + "unhealthy-threshold-count"), 2),
        target_type=(ann.get(ALB_ANN + "target-type") or "instance").lower(),
    )


def _from_service(state: State) -> HealthCheck:
    ann = state.service_annotations
    spec = (state.service or {}).get("spec") or {}
    local = external_traffic_local(state)
    lbc = is_lbc_service(state)
    default_protocol = "HTTP" if local else "TCP"
    protocol = (ann.get(SVC_ANN + "healthcheck-protocol") or default_protocol).upper()
    port = ann.get(SVC_ANN + "healthcheck-port") or "traffic-port"
    if local and not ann.get(SVC_ANN + "healthcheck-port") and spec.get("healthCheckNodePort"):
        port = str(spec["healthCheckNodePort"])
    default_path = "/healthz" if local else "/"
    return HealthCheck(
        source="Service annotations ("
        + ("AWS Load Balancer Controller" if lbc else "in-tree cloud provider")
        + " defaults where absent)",
        protocol=protocol,
        port=port,
        path=(ann.get(SVC_ANN + "healthcheck-path") or default_path) if protocol.startswith("HTTP") else "",
        success_codes=ann.get(SVC_ANN + "healthcheck-success-codes")
        or ("200-399" if protocol.startswith("HTTP") else ""),
        timeout_s=float(as_int(ann.get(SVC_ANN + "healthcheck-timeout"), 10 if lbc else 5)),
        interval_s=float(as_int(ann.get(SVC_ANN + "healthcheck-interval"), 10)),
        healthy_threshold=as_int(ann.get(SVC_ANN + "healthcheck-healthy-threshold"), 3 if lbc else 2),
        unhealthy_threshold=as_int(ann.get(SVC_ANN + "healthcheck-unhealthy-threshold"), 3 if lbc else 6),
        target_type=aws_target_type(state),
    )


class Aws:
    name = "aws"
    title = "AWS"
    collector = "checks.collect.aws"
    dump_module = "checks.collect.aws_dump"
    shapes_module = "checks.collect.aws_shapes"
    dump_tool = "AWS CLI"
    annotation_prefixes = ("service.beta.kubernetes.io/aws-", "service.kubernetes.io/aws-")
    ingress_classes = ("alb",)
    ingress_annotation_prefixes = (ALB_ANN,)
    lb_domains = (".amazonaws.com", ".amazonaws.com.cn")
    provider_id_prefixes = ("aws://",)
    dump_evidence = "AWS load balancer output (elbv2) in the input"

    check_prefix = "AWS"
    check_package = "checks.aws"
    reads = AWS_READS
    lb_words = "AWS"
    target_health_command = "AWS: aws elbv2 describe-target-health --target-group-arn <target-group-arn>"
    target_health_read = "aws.target_health"
    alarm_mapper = "checks.collect.aws_alarm_map"
    sources = {
        "aws.elbv2": Source(
            "the load balancer and its target groups",
            ("aws elbv2 describe-load-balancers{region}", "aws elbv2 describe-target-groups{region}"),
            "IAM elasticloadbalancing:DescribeLoadBalancers and elasticloadbalancing:DescribeTargetGroups",
        ),
        "aws.target_health": Source(
            "the target health the load balancer reports",
            (TARGET_HEALTH_DUMP,),
            "IAM elasticloadbalancing:DescribeTargetHealth",
        ),
        "aws.ec2_network": Source(
            "the VPC's security groups, subnets, network ACLs and route tables",
            (
                "aws ec2 describe-security-groups{region}",
                "aws ec2 describe-subnets{region}",
                "aws ec2 describe-network-acls{region}",
                "aws ec2 describe-route-tables{region}",
            ),
            "IAM ec2:DescribeSecurityGroups, ec2:DescribeSubnets, ec2:DescribeNetworkAcls, ec2:DescribeRouteTables and ec2:DescribeVpcs",
        ),
        "aws.instances": Source(
            "the EC2 instances behind the targets", ("aws ec2 describe-instances{region}",), "IAM ec2:DescribeInstances"
        ),
        "aws.dhcp": Source(
            "the VPC's DHCP options",
            ("aws ec2 describe-vpcs{region}", "aws ec2 describe-dhcp-options{region}"),
            "IAM ec2:DescribeVpcs and ec2:DescribeDhcpOptions",
        ),
    }
    grantee = "the lbhealth worker's IAM role (deploy/iam-policy-read.json)"

    def command_fields(self, state: State) -> dict[str, str]:
        tgs = [tg.get("TargetGroupArn") for tg in state.aws.target_groups if tg.get("TargetGroupArn")]
        return {"tg": tgs[0] if len(tgs) == 1 else "<target-group-arn>"}

    def state_slice(self, state: State) -> AwsState:
        return state.aws

    def lb_address(self, state: State, ip: str) -> str:
        return ""  # NLBs and ALBs publish hostnames, not addresses

    def cluster_names(self, state: State) -> dict[str, str]:
        """Cluster names the AWS Load Balancer Controller tags its load balancers and target groups with."""
        out: dict[str, str] = {}
        for arn, tags in state.aws.tags.items():
            name = as_dict(tags).get("elbv2.k8s.aws/cluster")
            if name:
                out.setdefault(str(name), f"tag elbv2.k8s.aws/cluster on {str(arn).rsplit(':', 1)[-1]}")
        return out

    def target_type(self, state: State) -> str:
        return aws_target_type(state)

    def health_checks(self, state: State) -> list[HealthCheck]:
        if state.aws.target_groups:
            return [_from_target_group(state, tg) for tg in state.aws.target_groups if isinstance(tg, dict)]
        if state.ingresses:
            return [_from_ingress(state, i) for i in state.ingresses]
        if ((state.service or {}).get("spec") or {}).get("type") == "LoadBalancer":
            return [_from_service(state)]
        return []

    def probe_sources(self, state: State) -> tuple[list[ProbeSource], str]:
        """The load balancer's subnets when read, else the VPC CIDRs."""
        out: list[ProbeSource] = []
        subnets = {as_str(s.get("SubnetId")): s for s in state.aws.subnets if isinstance(s, dict)}
        for lb in state.aws.load_balancers:
            for az in as_list(lb.get("AvailabilityZones")) if isinstance(lb, dict) else []:
                sid = as_str(az.get("SubnetId")) if isinstance(az, dict) else ""
                if sid and (c := cidr(as_dict(subnets.get(sid)).get("CidrBlock"))) is not None:
                    out.append(ProbeSource(c, f"load balancer subnet {sid}"))
        if out:
            return out, "the load balancer's subnets"
        for vpc in state.aws.vpcs:
            if not isinstance(vpc, dict):
                continue
            cidrs = [vpc.get("CidrBlock")] + [
                a.get("CidrBlock") for a in as_list(vpc.get("CidrBlockAssociationSet")) if isinstance(a, dict)
            ]
            for c in dict.fromkeys(x for x in map(cidr, cidrs) if x):
                out.append(ProbeSource(c, f"VPC {vpc.get('VpcId')} CIDR"))
        return out, ("the VPC CIDR (the load balancer's subnets were not read)" if out else "")

    def target_health(self, state: State) -> tuple[int, int]:
        descs = [d for ds in state.aws.target_health.values() for d in ds or []]
        healthy = sum(1 for d in descs if (d.get("TargetHealth") or {}).get("State") == "healthy")
        return healthy, len(descs)

    def settle_s(self, state: State) -> float:
        spans = [
            float(tg.get("HealthCheckIntervalSeconds") or 0) * float(tg.get("HealthyThresholdCount") or 0)
            for tg in state.aws.target_groups
        ]
        return max(spans, default=0.0)

    # -- CloudWatch alarms (target group or load balancer dimensions) --------------------------------
    def alarm_key(self, alarm: dict[str, Any]) -> str:
        if alarm.get("target_groups"):
            return "aws:" + ",".join(sorted(alarm["target_groups"]))
        if alarm.get("load_balancer_arn"):
            return "aws:" + alarm["load_balancer_arn"]
        return "aws-alarm:" + (alarm.get("alarm_arn") or alarm.get("name") or "")

    def alarm_subject(self, alarm: dict[str, Any]) -> tuple[str, str]:
        if alarm.get("target_groups"):
            return "target group", ", ".join(_tg_name(a) for a in alarm["target_groups"])
        return "load balancer", alarm.get("load_balancer") or alarm.get("name") or ""

    def alarm_options(self, alarm: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"aws_target_groups": list(alarm.get("target_groups") or []), "aws_region": alarm.get("region")}
        if alarm.get("load_balancer_arn"):
            out["aws_load_balancer"] = alarm["load_balancer_arn"]
        return out


def _tg_name(arn: str) -> str:
    """arn:...:targetgroup/<name>/<hex> -> <name>"""
    parts = arn.rsplit(":", 1)[-1].split("/")
    return parts[1] if len(parts) == 3 else arn


PROVIDER = Aws()
