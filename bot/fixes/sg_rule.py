"""FIX-SG-RULE: admit the load balancer (its security group, subnets or the CLB VIP) on the port.

The plan's SecurityGroup names its cloud API (`api_version` "ec2", "vpc/2017-03-12"); the writer
of the provider that owns that API (bot/fixes/clouds/<provider>.py) checks the plan and makes
the call: AWS `ec2.authorize_security_group_ingress(GroupId, IpPermissions)`, Tencent
`vpc.CreateSecurityGroupPolicies(SecurityGroupId, SecurityGroupPolicySet)` with the policy
set's `Version`, so the API refuses when the group changed since the diagnosis. Cloud writes
run only when the operator enabled them (`cloud_writes: true`); otherwise the engine returns
the exact command. A rule that exists already counts as success (the write is idempotent).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.fixes import cloud
from bot.fixes.base import CloudWrite, PlanError
from checks.model import FixPlan

ID = "FIX-SG-RULE"
TITLE = "Admit the load balancer / probe source on the port in the security group"
CLOUD = True


def __getattr__(name: str) -> Any:
    """CHECKS and PERMISSIONS are every registered provider's writer's, asked each time: a
    provider that registers later (a plugin) needs no line here."""
    if name == "CHECKS":
        return cloud.checks()
    if name == "PERMISSIONS":
        return cloud.permissions()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def write(plan: FixPlan, now: datetime) -> CloudWrite:
    if plan.id != ID or plan.patch_type != "cloud-api" or plan.target is None or plan.target.kind != "SecurityGroup":
        raise PlanError(f"{ID} writes a security group rule through the cloud API; this plan does not")
    writer = cloud.writer_for(plan.target.api_version)
    if writer is None:
        raise PlanError(f"{ID}: unknown cloud API {plan.target.api_version!r}")
    return writer.plan_write(plan, ID)
