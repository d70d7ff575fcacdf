"""AWS CLI output in a `--from` dump (`elbv2 describe-*`, `ec2 describe-*`), recognised by its keys.

The AWS provider's dump recogniser (checks/providers/aws `dump_module`): checks.collect.dump
hands it every document that is not a Kubernetes object; it fills `state.aws` and says which reads
the dump supplied.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from checks.collect.errors import DumpError
from checks.state import State
from checks.values import as_dict


class Recogniser:
    def __init__(self, state: State) -> None:
        self.state = state
        self.seen: set[str] = set()
        self._health: list[tuple[Path, dict[str, Any]]] = []  # target health names its group only in another file

    def load(self, path: Path, doc: dict[str, Any]) -> bool:
        """Take `doc` if it is AWS CLI output."""
        return _load_aws(self.state, path, doc, self.seen, self._health)

    def finish(self) -> None:
        _resolve_target_health(self.state, self._health)

    def denied(self, path: Path, answer: str | dict[str, Any]) -> bool:
        """Take the AWS CLI's error saved instead of its output (`2>&1`): that read was refused, not empty."""
        m = _CLI_ERROR.search(answer) if isinstance(answer, str) else None
        if m is None or m["op"] not in OP_READS:
            return False
        read, command = OP_READS[m["op"]]
        service = command.split()[1]
        action = ("elasticloadbalancing:" if service == "elbv2" else "ec2:") + m["op"]
        message = " ".join(m["msg"].split())[:300]
        self.state.read_errors[read] = (
            f"the AWS CLI answered {m['code']} in the dump ({path}): {message}; "
            + (f"grant IAM {action}, then " if _ACCESS.search(m["code"]) else "")
            + f"add the output of `{command}`"
        )
        return True


# `aws ... 2>&1 > file`: "An error occurred (AccessDenied) when calling the DescribeTargetHealth operation: ..."
_CLI_ERROR = re.compile(
    r"An error occurred \((?P<code>[\w.]+)\) when calling the (?P<op>\w+) operation(?: \([^)]*\))?: (?P<msg>.*)", re.S
)
_ACCESS = re.compile(r"AccessDenied|Unauthorized|AuthFailure|Forbidden")
# The operation a CLI error names -> the read it stands for, and the command that supplies it.
OP_READS: dict[str, tuple[str, str]] = {
    "DescribeTargetHealth": ("aws.target_health", "aws elbv2 describe-target-health --target-group-arn ARN"),
    **{op: ("aws.elbv2", f"aws elbv2 {cmd}") for op, cmd in (
        ("DescribeTargetGroups", "describe-target-groups"), ("DescribeLoadBalancers", "describe-load-balancers"),
        ("DescribeListeners", "describe-listeners --load-balancer-arn ARN"), ("DescribeTags", "describe-tags --resource-arns ARN"),
    )},
    **{op: ("aws.ec2_network", f"aws ec2 {cmd}") for op, cmd in (
        ("DescribeSecurityGroups", "describe-security-groups"), ("DescribeNetworkAcls", "describe-network-acls"),
        ("DescribeRouteTables", "describe-route-tables"), ("DescribeSubnets", "describe-subnets"),
    )},
    "DescribeInstances": ("aws.instances", "aws ec2 describe-instances"),
    "DescribeDhcpOptions": ("aws.dhcp", "aws ec2 describe-dhcp-options"),
    "DescribeVpcs": ("aws.dhcp", "aws ec2 describe-vpcs"),
}


# A top-level list of the AWS CLI's output -> State.aws attribute, the read it fills, and the key its
# items must carry (None: any items).
_LISTS: dict[str, tuple[str, str, str | None]] = {
    "LoadBalancers": ("load_balancers", "aws.elbv2", "LoadBalancerArn"),
    "TargetGroups": ("target_groups", "aws.elbv2", None),
    "Listeners": ("listeners", "aws.elbv2", "ListenerArn"),
    "SecurityGroups": ("security_groups", "aws.ec2_network", None),
    "NetworkAcls": ("network_acls", "aws.ec2_network", None),
    "RouteTables": ("route_tables", "aws.ec2_network", None),
    "Subnets": ("subnets", "aws.ec2_network", None),
    "DhcpOptions": ("dhcp_options", "aws.dhcp", None),
    "Vpcs": ("vpcs", "aws.dhcp", None),
}


def _load_aws(state: State, path: Path, doc: dict[str, Any], seen: set[str], pending_health) -> bool:
    aws = state.aws
    if "TargetHealthDescriptions" in doc:
        pending_health.append((path, doc))
        seen.add("aws.target_health")
        return True
    if isinstance(doc.get("TagDescriptions"), list):
        for td in doc["TagDescriptions"]:
            aws.tags[td.get("ResourceArn", "")] = {t.get("Key"): t.get("Value") for t in td.get("Tags") or []}
        seen.add("aws.elbv2")
        return True
    for key, (attr, read, id_key) in _LISTS.items():
        items = doc.get(key)
        # LoadBalancers and Listeners are Tencent output keys too: an AWS item carries its ARN
        if isinstance(items, list) and (not id_key or not items or id_key in as_dict(items[0])):
            getattr(aws, attr).extend(items)
            seen.add(read)
            return True
    if isinstance(doc.get("Reservations"), list):
        for res in doc["Reservations"]:
            aws.instances.extend(res.get("Instances") or [])
        seen.add("aws.instances")
        return True
    return False


def _resolve_target_health(state: State, pending: list[tuple[Path, dict[str, Any]]]) -> None:
    """`describe-target-health` output lacks the TG ARN; DESIGN asks for it at top level."""
    for path, doc in pending:
        arn = doc.get("TargetGroupArn")
        if not arn:
            if len(state.aws.target_groups) == 1:
                arn = state.aws.target_groups[0].get("TargetGroupArn")
            else:
                raise DumpError(
                    f'{path}: describe-target-health output without "TargetGroupArn", and the dump has '
                    f"{len(state.aws.target_groups)} target groups, so it is not known which one it describes; save "
                    "it again with: aws elbv2 describe-target-health --target-group-arn <arn> --output json "
                    "--query \"{TargetGroupArn: '<arn>', TargetHealthDescriptions: TargetHealthDescriptions}\" "
                    '(or add "TargetGroupArn": "<arn>" at its top level)'
                )
        state.aws.target_health.setdefault(arn, []).extend(doc["TargetHealthDescriptions"])
    if not state.aws.region:
        for arn in [lb.get("LoadBalancerArn", "") for lb in state.aws.load_balancers] + list(
            state.aws.target_health
        ):
            parts = (arn or "").split(":")
            if len(parts) > 4 and parts[3]:
                state.aws.region = parts[3]
                break
