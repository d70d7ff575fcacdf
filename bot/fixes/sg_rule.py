"""FIX-SG-RULE: admit the load balancer (its security group, subnets or the CLB VIP) on the port.

AWS: `ec2.authorize_security_group_ingress(GroupId, IpPermissions)`; Tencent:
`vpc.CreateSecurityGroupPolicies(SecurityGroupId, SecurityGroupPolicySet)` with the policy
set's `Version`, so the API refuses when the group changed since the diagnosis. Cloud writes
run only when the operator enabled them (`cloud_writes: true`); otherwise the engine returns
the exact command. A rule that exists already counts as success (the write is idempotent).
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

from bot.fixes.base import CloudWrite, Permission, PlanError, only_keys, require
from checks.model import FixPlan

ID = "FIX-SG-RULE"
TITLE = "Admit the load balancer / probe source on the port in the security group"
CLOUD = True
CHECKS = ("AWS-SG", "TC-SG")
PERMISSIONS = (
    Permission.iam("ec2:AuthorizeSecurityGroupIngress"),
    Permission.iam("ec2:RevokeSecurityGroupIngress"),
    Permission.cam("vpc:CreateSecurityGroupPolicies"),
    Permission.cam("vpc:DescribeSecurityGroupPolicies"),
    Permission.cam("vpc:DeleteSecurityGroupPolicies"),
)
_WORLD = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))


def _not_world(cidr: Any) -> bool:
    try:
        return ipaddress.ip_network(str(cidr), strict=False) not in _WORLD
    except ValueError:
        return False


def _aws(plan: FixPlan) -> CloudWrite:
    p = plan.patch
    require(only_keys(p, {"GroupId", "IpPermissions"}) and str(p.get("GroupId", "")).startswith("sg-"), ID, "GroupId and IpPermissions only")
    require(plan.target is not None and plan.target.name == p["GroupId"], ID, "the rule goes into the group the diagnosis named")
    perms = p["IpPermissions"]
    require(isinstance(perms, list) and bool(perms), ID, "no permission to add")
    for perm in perms:
        require(only_keys(perm, {"IpProtocol", "FromPort", "ToPort", "UserIdGroupPairs", "IpRanges"}), ID, "unexpected field in IpPermissions")
        require(perm.get("IpProtocol") in ("tcp", "udp") and isinstance(perm.get("FromPort"), int), ID, "one tcp/udp port range per permission")
        for r in perm.get("IpRanges") or []:
            require(_not_world(r.get("CidrIp")), ID, "never opens a port to 0.0.0.0/0")
    return CloudWrite("aws", "AuthorizeSecurityGroupIngress", p, plan.target.namespace, plan.command)


def _tencent(plan: FixPlan) -> CloudWrite:
    p = plan.patch
    require(only_keys(p, {"SecurityGroupId", "SecurityGroupPolicySet"}) and str(p.get("SecurityGroupId", "")).startswith("sg-"), ID, "SecurityGroupId and SecurityGroupPolicySet only")
    require(plan.target is not None and plan.target.name == p["SecurityGroupId"], ID, "the rule goes into the group the diagnosis named")
    pset = p["SecurityGroupPolicySet"]
    require(only_keys(pset, {"Version", "Ingress"}) and isinstance(pset.get("Ingress"), list) and pset["Ingress"], ID, "ingress policies only")
    for pol in pset["Ingress"]:
        require(pol.get("Action") == "ACCEPT" and _not_world(pol.get("CidrBlock")), ID, "ACCEPT from a specific source, never 0.0.0.0/0")
    return CloudWrite("tencent", "CreateSecurityGroupPolicies", p, plan.target.namespace, plan.command)


def write(plan: FixPlan, now: datetime) -> CloudWrite:
    if plan.id != ID or plan.patch_type != "cloud-api" or plan.target is None or plan.target.kind != "SecurityGroup":
        raise PlanError(f"{ID} writes a security group rule through the cloud API; this plan does not")
    if plan.target.api_version == "ec2":
        return _aws(plan)
    if plan.target.api_version.startswith("vpc/"):
        return _tencent(plan)
    raise PlanError(f"{ID}: unknown cloud API {plan.target.api_version!r}")
