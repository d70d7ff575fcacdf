"""AWS writes of FIX-SG-RULE: `ec2.authorize_security_group_ingress(GroupId, IpPermissions)`.

A rule that exists already answers `InvalidPermission.Duplicate`: success. Rollback revokes
exactly the permissions that were added (`InvalidPermission.NotFound`: nothing left to revoke).
"""

from __future__ import annotations

import json
from typing import Any

from bot.fixes.base import CloudResult, CloudWrite, Permission, not_world, only_keys, require
from checks.model import FixPlan
from checks.providers.aws import PROVIDER

NAME = PROVIDER.name


def _ec2(region: str | None, clients: Any) -> Any:
    mine = clients.of(NAME)
    made = mine.get("clients")
    if made and "ec2" in made:
        return made["ec2"]
    import boto3

    from checks.collect.aws import make_config

    session = mine.get("session") or boto3.Session()
    return session.client("ec2", region_name=region or session.region_name, config=make_config())


def _rule(perm: dict[str, Any]) -> str:
    sources = [g.get("GroupId") for g in perm.get("UserIdGroupPairs") or []] + [r.get("CidrIp") for r in perm.get("IpRanges") or []]
    ports = perm.get("FromPort") if perm.get("FromPort") == perm.get("ToPort") else f"{perm.get('FromPort')}-{perm.get('ToPort')}"
    return f"{perm.get('IpProtocol')} {ports} from {', '.join(str(x) for x in sources) or '-'}"


def _call(operation: str, params: dict[str, Any], region: str | None, clients: Any, command: str) -> CloudResult:
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


class AwsSecurityGroups:
    provider = NAME
    checks = ("AWS-SG",)
    permissions = (
        Permission.iam("ec2:AuthorizeSecurityGroupIngress"),
        Permission.iam("ec2:RevokeSecurityGroupIngress"),
    )

    def owns(self, api_version: str) -> bool:
        return api_version == "ec2"

    def plan_write(self, plan: FixPlan, fix_id: str) -> CloudWrite:
        p = plan.patch
        require(only_keys(p, {"GroupId", "IpPermissions"}) and str(p.get("GroupId", "")).startswith("sg-"), fix_id, "GroupId and IpPermissions only")
        require(plan.target is not None and plan.target.name == p["GroupId"], fix_id, "the rule goes into the group the diagnosis named")
        perms = p["IpPermissions"]
        require(isinstance(perms, list) and bool(perms), fix_id, "no permission to add")
        for perm in perms:
            require(only_keys(perm, {"IpProtocol", "FromPort", "ToPort", "UserIdGroupPairs", "IpRanges"}), fix_id, "unexpected field in IpPermissions")
            require(perm.get("IpProtocol") in ("tcp", "udp") and isinstance(perm.get("FromPort"), int), fix_id, "one tcp/udp port range per permission")
            for r in perm.get("IpRanges") or []:
                require(not_world(r.get("CidrIp")), fix_id, "never opens a port to 0.0.0.0/0")
        return CloudWrite(NAME, "AuthorizeSecurityGroupIngress", p, plan.target.namespace, plan.command)

    def authorize(self, write: CloudWrite, clients: Any) -> CloudResult:
        return _call("authorize_security_group_ingress", write.params, write.region, clients, write.command)

    def revoke(self, pre_image: dict[str, Any], clients: Any) -> CloudResult:
        return _call("revoke_security_group_ingress", pre_image["params"], pre_image.get("region"), clients, self.revoke_command(pre_image))

    def revoke_command(self, pre_image: dict[str, Any]) -> str:
        params, region = pre_image["params"], pre_image.get("region")
        flag = f" --region {region}" if region else ""
        perms = json.dumps(params["IpPermissions"], separators=(",", ":"))
        return f"aws ec2 revoke-security-group-ingress{flag} --group-id {params['GroupId']} --ip-permissions '{perms}'"

    def rules(self, write: CloudWrite, clients: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        group = write.params["GroupId"]
        sgs = _ec2(write.region, clients).describe_security_groups(GroupIds=[group])["SecurityGroups"]
        now = [_rule(p) for p in (sgs[0].get("IpPermissions") or [])] if sgs else []
        return {group: now}, {group: now + [_rule(p) for p in write.params["IpPermissions"]]}


WRITER = AwsSecurityGroups()
