"""Cloud writes of FIX-SG-RULE through the SDKs' own calls, idempotently.

AWS: `ec2.authorize_security_group_ingress` (a rule that exists already answers
`InvalidPermission.Duplicate`: success). Tencent: `vpc.CreateSecurityGroupPolicies` with the
policy set's Version (`UnsupportedOperation.VersionMismatch` when the group changed since the
diagnosis; a rule that exists already answers `UnsupportedOperation.DuplicatePolicy`: success).
Rollback revokes / deletes exactly the rule that was added.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from typing import Any

from bot.fixes.base import CloudWrite
from checks.collect.live import Clients


@dataclass
class CloudResult:
    status: str  # applied | conflict | failed
    message: str


def authorize(write: CloudWrite, clients: Clients) -> CloudResult:
    if write.provider == "aws":
        return _aws("authorize_security_group_ingress", write.params, write.region, clients, write.command)
    return _tencent("CreateSecurityGroupPolicies", write.params, write.region, clients, write.command)


def _delete_params(params: dict[str, Any]) -> dict[str, Any]:
    policies = [{k: v for k, v in p.items() if k != "PolicyIndex"} for p in params["SecurityGroupPolicySet"]["Ingress"]]
    return {"SecurityGroupId": params["SecurityGroupId"], "SecurityGroupPolicySet": {"Ingress": policies}}


def revoke_command(pre_image: dict[str, Any]) -> str:
    """What a person runs to remove the rule by hand (cloud writes off)."""
    params, region = pre_image["params"], pre_image.get("region")
    flag = f" --region {region}" if region else ""
    if pre_image["provider"] == "aws":
        perms = json.dumps(params["IpPermissions"], separators=(",", ":"))
        return f"aws ec2 revoke-security-group-ingress{flag} --group-id {params['GroupId']} --ip-permissions '{perms}'"
    delete = _delete_params(params)
    body = json.dumps(delete["SecurityGroupPolicySet"], separators=(",", ":"))
    return f"tccli vpc DeleteSecurityGroupPolicies --SecurityGroupId {delete['SecurityGroupId']} --SecurityGroupPolicySet '{body}'{flag}"


def group_before_after(write: CloudWrite, clients: Clients) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The group's ingress rules now and with the new rule (for the approver's diff); `why` when not read."""
    try:
        if write.provider == "aws":
            group = write.params["GroupId"]
            sgs = _ec2(write.region, clients).describe_security_groups(GroupIds=[group])["SecurityGroups"]
            now = [_aws_rule(p) for p in (sgs[0].get("IpPermissions") or [])] if sgs else []
            return {group: now}, {group: now + [_aws_rule(p) for p in write.params["IpPermissions"]]}, ""
        client = _vpc(write.region, clients)
        if client is None:
            raise LookupError("no Tencent Cloud credentials")
        from tencentcloud.vpc.v20170312 import models

        req = models.DescribeSecurityGroupPoliciesRequest()
        req.SecurityGroupId = group = write.params["SecurityGroupId"]
        current = json.loads(client.DescribeSecurityGroupPolicies(req).to_json_string())
        now = [_tc_rule(p) for p in ((current.get("SecurityGroupPolicySet") or {}).get("Ingress") or [])]
        after = list(now)
        for pol in write.params["SecurityGroupPolicySet"]["Ingress"]:
            at = pol.get("PolicyIndex")
            after.insert(len(after) if at is None else int(at), _tc_rule(pol))
        return {group: now}, {group: after}, ""
    except Exception as exc:  # no credentials, no permission, unreachable: the diff shows the new rule alone
        return {}, copy.deepcopy(write.params), f"{type(exc).__name__}: {str(exc)[:200]}"


def _aws_rule(perm: dict[str, Any]) -> str:
    sources = [g.get("GroupId") for g in perm.get("UserIdGroupPairs") or []] + [r.get("CidrIp") for r in perm.get("IpRanges") or []]
    ports = perm.get("FromPort") if perm.get("FromPort") == perm.get("ToPort") else f"{perm.get('FromPort')}-{perm.get('ToPort')}"
    return f"{perm.get('IpProtocol')} {ports} from {', '.join(str(x) for x in sources) or '-'}"


def _tc_rule(pol: dict[str, Any]) -> str:
    desc = f" ({pol['PolicyDescription']})" if pol.get("PolicyDescription") else ""
    return f"{pol.get('Action')} {pol.get('Protocol')} {pol.get('Port')} from {pol.get('CidrBlock') or pol.get('SecurityGroupId') or '-'}{desc}"


def revoke(pre_image: dict[str, Any], clients: Clients) -> CloudResult:
    """Remove the rule a fix added (`pre_image` is what apply stored: provider, params, region)."""
    params = pre_image["params"]
    if pre_image["provider"] == "aws":
        return _aws("revoke_security_group_ingress", params, pre_image.get("region"), clients, revoke_command(pre_image))
    return _tencent("DeleteSecurityGroupPolicies", _delete_params(params), pre_image.get("region"), clients, revoke_command(pre_image))


# ---- AWS ----------------------------------------------------------------------------------------


def _ec2(region: str | None, clients: Clients) -> Any:
    if clients.aws_clients and "ec2" in clients.aws_clients:
        return clients.aws_clients["ec2"]
    import boto3

    from checks.collect.aws import make_config

    session = clients.aws_session or boto3.Session()
    return session.client("ec2", region_name=region or session.region_name, config=make_config())


def _aws(operation: str, params: dict[str, Any], region: str | None, clients: Clients, command: str) -> CloudResult:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    action = "ec2:" + "".join(w.capitalize() for w in operation.split("_"))
    group = params.get("GroupId")
    by_hand = f" Run it by hand: {command}" if command else ""
    try:
        getattr(_ec2(region, clients), operation)(GroupId=group, IpPermissions=params["IpPermissions"])
    except NoCredentialsError:
        return CloudResult("failed", f"no AWS credentials in the worker's environment: nothing was written.{by_hand}")
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        message = exc.response.get("Error", {}).get("Message", "")
        if code == "InvalidPermission.Duplicate" and operation.startswith("authorize"):
            return CloudResult("applied", f"the rule is already in {group} (InvalidPermission.Duplicate): nothing more to add")
        if code == "InvalidPermission.NotFound" and operation.startswith("revoke"):
            return CloudResult("applied", f"the rule is no longer in {group}: nothing to revoke")
        if code in ("UnauthorizedOperation", "AccessDenied", "AccessDeniedException"):
            return CloudResult("failed", f"permission denied: grant IAM {action} on {group} ({code}).{by_hand}")
        return CloudResult("failed", f"{action} on {group} failed ({code}: {message}).{by_hand}")
    except BotoCoreError as exc:
        return CloudResult("failed", f"{action} on {group} could not be sent ({exc}).{by_hand}")
    verb = "added the rule to" if operation.startswith("authorize") else "removed the rule from"
    return CloudResult("applied", f"{verb} {group} ({action})")


# ---- Tencent ------------------------------------------------------------------------------------


def _vpc(region: str | None, clients: Clients) -> Any:
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.vpc.v20170312 import vpc_client

    from checks.collect.tencent import _credential, _parse_endpoint

    cred = _credential(clients.tencent_credential)
    if cred is None:
        return None
    endpoint = _parse_endpoint(clients.tencent_endpoint_or_env())
    http = HttpProfile(protocol=endpoint.scheme, endpoint=endpoint.host, reqTimeout=10)
    region = region or clients.tencent_region_or_env() or os.environ.get("TENCENTCLOUD_REGION")
    return vpc_client.VpcClient(cred, region, ClientProfile(httpProfile=http))


def _tencent(action: str, params: dict[str, Any], region: str | None, clients: Clients, command: str) -> CloudResult:
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
    from tencentcloud.vpc.v20170312 import models

    req = models.DescribeSecurityGroupPoliciesRequest()
    req.SecurityGroupId = params["SecurityGroupId"]
    try:
        current = json.loads(client.DescribeSecurityGroupPolicies(req).to_json_string())
    except TencentCloudSDKException:
        return False  # cannot tell: the VersionMismatch stands as a conflict
    have = {_policy_key(p) for p in ((current.get("SecurityGroupPolicySet") or {}).get("Ingress") or [])}
    return all(_policy_key(p) in have for p in params["SecurityGroupPolicySet"]["Ingress"])


def _policy_key(p: dict[str, Any]) -> tuple[str, ...]:
    """Identity of a policy; the description names lbhealth and the CLB, so an older rule with
    the same source and port (the one a DROP shadows) is not mistaken for ours."""
    return tuple(str(p.get(k) or "") for k in ("Protocol", "Port", "CidrBlock", "Action", "PolicyDescription"))
