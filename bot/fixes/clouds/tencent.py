"""Tencent Cloud writes of FIX-SG-RULE: `vpc.CreateSecurityGroupPolicies` with the policy set's Version.

`UnsupportedOperation.VersionMismatch` when the group changed since the diagnosis (a conflict,
unless the change is our own rule from an earlier try); a rule that exists already answers
`UnsupportedOperation.DuplicatePolicy`: success. Rollback deletes exactly the policies added.
"""

from __future__ import annotations

import json
from typing import Any

from bot.fixes.base import CloudResult, CloudWrite, Permission, not_world, only_keys, require
from checks.model import FixPlan
from checks.providers.tencent import PROVIDER

NAME = PROVIDER.name


def _vpc(region: str | None, clients: Any) -> Any:
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.vpc.v20170312 import vpc_client

    from checks.collect.tencent import _credential, _parse_endpoint, endpoint_or_env, region_or_env

    mine = clients.of(NAME)
    cred = _credential(mine.get("credential"))
    if cred is None:
        return None
    endpoint = _parse_endpoint(endpoint_or_env(mine))
    http = HttpProfile(protocol=endpoint.scheme, endpoint=endpoint.host, reqTimeout=10)
    return vpc_client.VpcClient(cred, region or region_or_env(mine), ClientProfile(httpProfile=http))


def _delete_params(params: dict[str, Any]) -> dict[str, Any]:
    policies = [{k: v for k, v in p.items() if k != "PolicyIndex"} for p in params["SecurityGroupPolicySet"]["Ingress"]]
    return {"SecurityGroupId": params["SecurityGroupId"], "SecurityGroupPolicySet": {"Ingress": policies}}


def _rule(pol: dict[str, Any]) -> str:
    desc = f" ({pol['PolicyDescription']})" if pol.get("PolicyDescription") else ""
    return f"{pol.get('Action')} {pol.get('Protocol')} {pol.get('Port')} from {pol.get('CidrBlock') or pol.get('SecurityGroupId') or '-'}{desc}"


def _current(client: Any, group: str) -> list[dict[str, Any]]:
    from tencentcloud.vpc.v20170312 import models

    req = models.DescribeSecurityGroupPoliciesRequest()
    req.SecurityGroupId = group
    current = json.loads(client.DescribeSecurityGroupPolicies(req).to_json_string())
    return (current.get("SecurityGroupPolicySet") or {}).get("Ingress") or []


def _call(action: str, params: dict[str, Any], region: str | None, clients: Any, command: str) -> CloudResult:
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
    from tencentcloud.vpc.v20170312 import models

    group = params.get("SecurityGroupId")
    by_hand = f" Run it by hand: {command}" if command else ""
    client = _vpc(region, clients)
    if client is None:
        return CloudResult("failed", f"no Tencent Cloud credentials (TENCENTCLOUD_SECRET_ID/KEY): nothing was written.{by_hand}")
    request = getattr(models, f"{action}Request")()
    request.from_json_string(json.dumps(params))
    try:
        getattr(client, action)(request)
    except TencentCloudSDKException as exc:
        code, message = str(exc.get_code() or ""), str(exc.get_message() or "")[:300]
        if code == "UnsupportedOperation.DuplicatePolicy":
            return CloudResult("applied", f"the policy is already in {group} (DuplicatePolicy): nothing more to add")
        if code == "UnsupportedOperation.VersionMismatch" and action.startswith("Create") and _has_policies(client, params):
            return CloudResult("applied", f"the policy is already in {group} (added earlier): nothing more to add")
        if code == "UnsupportedOperation.VersionMismatch":
            return CloudResult("conflict", f"security group {group} changed since the diagnosis (VersionMismatch): nothing was written. Run the diagnosis again")
        if code.startswith("AuthFailure") or "CAM" in code:
            return CloudResult("failed", f"permission denied: grant CAM vpc:{action} on {group} ({code}).{by_hand}")
        return CloudResult("failed", f"vpc:{action} on {group} failed ({code}: {message}).{by_hand}")
    verb = "added the policy to" if action.startswith("Create") else "removed the policy from"
    return CloudResult("applied", f"{verb} {group} (vpc:{action})")


def _has_policies(client: Any, params: dict[str, Any]) -> bool:
    """Every ingress policy of `params` is in the group already (same protocol, port, source, action, description).

    A retried job after a successful write finds the group's Version moved by its own rule:
    that is success, not a conflict.
    """
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

    try:
        have = {_policy_key(p) for p in _current(client, params["SecurityGroupId"])}
    except TencentCloudSDKException:
        return False  # cannot tell: the VersionMismatch stands as a conflict
    return all(_policy_key(p) in have for p in params["SecurityGroupPolicySet"]["Ingress"])


def _policy_key(p: dict[str, Any]) -> tuple[str, ...]:
    """Identity of a policy; the description names lbhealth and the CLB, so an older rule with
    the same source and port (the one a DROP shadows) is not mistaken for ours."""
    return tuple(str(p.get(k) or "") for k in ("Protocol", "Port", "CidrBlock", "Action", "PolicyDescription"))


class TencentSecurityGroups:
    provider = NAME
    checks = ("TC-SG",)
    permissions = (
        Permission.cam("vpc:CreateSecurityGroupPolicies"),
        Permission.cam("vpc:DescribeSecurityGroupPolicies"),
        Permission.cam("vpc:DeleteSecurityGroupPolicies"),
    )

    def owns(self, api_version: str) -> bool:
        return api_version.startswith("vpc/")

    def plan_write(self, plan: FixPlan, fix_id: str) -> CloudWrite:
        p = plan.patch
        require(only_keys(p, {"SecurityGroupId", "SecurityGroupPolicySet"}) and str(p.get("SecurityGroupId", "")).startswith("sg-"), fix_id, "SecurityGroupId and SecurityGroupPolicySet only")
        require(plan.target is not None and plan.target.name == p["SecurityGroupId"], fix_id, "the rule goes into the group the diagnosis named")
        pset = p["SecurityGroupPolicySet"]
        require(only_keys(pset, {"Version", "Ingress"}) and isinstance(pset.get("Ingress"), list) and pset["Ingress"], fix_id, "ingress policies only")
        for pol in pset["Ingress"]:
            require(pol.get("Action") == "ACCEPT" and not_world(pol.get("CidrBlock")), fix_id, "ACCEPT from a specific source, never 0.0.0.0/0")
        return CloudWrite(NAME, "CreateSecurityGroupPolicies", p, plan.target.namespace, plan.command)

    def authorize(self, write: CloudWrite, clients: Any) -> CloudResult:
        return _call("CreateSecurityGroupPolicies", write.params, write.region, clients, write.command)

    def revoke(self, pre_image: dict[str, Any], clients: Any) -> CloudResult:
        return _call("DeleteSecurityGroupPolicies", _delete_params(pre_image["params"]), pre_image.get("region"), clients, self.revoke_command(pre_image))

    def revoke_command(self, pre_image: dict[str, Any]) -> str:
        region = pre_image.get("region")
        flag = f" --region {region}" if region else ""
        delete = _delete_params(pre_image["params"])
        body = json.dumps(delete["SecurityGroupPolicySet"], separators=(",", ":"))
        return f"tccli vpc DeleteSecurityGroupPolicies --SecurityGroupId {delete['SecurityGroupId']} --SecurityGroupPolicySet '{body}'{flag}"

    def rules(self, write: CloudWrite, clients: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        client = _vpc(write.region, clients)
        if client is None:
            raise LookupError("no Tencent Cloud credentials")
        group = write.params["SecurityGroupId"]
        now = [_rule(p) for p in _current(client, group)]
        after = list(now)
        for pol in write.params["SecurityGroupPolicySet"]["Ingress"]:
            at = pol.get("PolicyIndex")
            after.insert(len(after) if at is None else int(at), _rule(pol))
        return {group: now}, {group: after}


WRITER = TencentSecurityGroups()
