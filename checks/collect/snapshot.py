"""Write what a live diagnosis read, in the shapes `--from` accepts (see dump.py).

One file per source: Kubernetes objects as a `List`, each AWS/Tencent response as its CLI
prints it (with the request keys `TargetGroupArn`, `LoadBalancerId` and `SecurityGroupId`
added where the response lacks them), container logs as an lbhealth `LbhealthLogs` object.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from checks.state import State


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[-80:]


def write_snapshot(state: State, directory: str | Path) -> list[Path]:
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def dump(name: str, data: Any) -> None:
        path = out / name
        path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
        written.append(path)

    objects = state.k8s.all_objects()
    if objects:
        dump("k8s.json", {"apiVersion": "v1", "kind": "List", "items": objects})
    if state.k8s.logs:
        logs = [
            {"namespace": ns, "pod": pod, "container": c, "previous": prev, "text": text}
            for (ns, pod, c, prev), text in state.k8s.logs.items()
        ]
        dump(
            "logs.json",
            {"apiVersion": "lbhealth/v1", "kind": "LbhealthLogs", "metadata": {"name": "logs"}, "logs": logs},
        )

    aws = state.aws
    for key, items in (
        ("LoadBalancers", aws.load_balancers),
        ("TargetGroups", aws.target_groups),
        ("Listeners", aws.listeners),
        ("SecurityGroups", aws.security_groups),
        ("NetworkAcls", aws.network_acls),
        ("RouteTables", aws.route_tables),
        ("Subnets", aws.subnets),
        ("DhcpOptions", aws.dhcp_options),
        ("Vpcs", aws.vpcs),
    ):
        if items:
            dump(f"aws-{key}.json", {key: items})
    if aws.tags:
        dump(
            "aws-Tags.json",
            {
                "TagDescriptions": [
                    {"ResourceArn": arn, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
                    for arn, tags in aws.tags.items()
                ]
            },
        )
    if aws.instances:
        dump("aws-Instances.json", {"Reservations": [{"Instances": aws.instances}]})
    for arn, descriptions in aws.target_health.items():
        dump(
            f"aws-TargetHealth-{_safe(arn)}.json",
            {"TargetGroupArn": arn, "TargetHealthDescriptions": descriptions},
        )

    tc = state.tencent
    if tc.load_balancers:
        dump(
            "tencent-LoadBalancers.json",
            {"LoadBalancerSet": tc.load_balancers, "TotalCount": len(tc.load_balancers)},
        )
    if tc.target_health:
        dump("tencent-TargetHealth.json", {"LoadBalancers": tc.target_health})
    for lb_id, listeners in tc.listeners.items():
        dump(f"tencent-Listeners-{_safe(lb_id)}.json", {"LoadBalancerId": lb_id, "Listeners": listeners})
    for lb_id, targets in tc.targets.items():
        dump(f"tencent-Targets-{_safe(lb_id)}.json", {"LoadBalancerId": lb_id, "Listeners": targets})
    for sg, policies in tc.security_group_policies.items():
        dump(
            f"tencent-SecurityGroupPolicies-{_safe(sg)}.json",
            {"SecurityGroupId": sg, "SecurityGroupPolicySet": policies},
        )
    for key, items in (
        ("NetworkAclSet", tc.network_acls),
        ("NetworkInterfaceSet", tc.network_interfaces),
        ("SubnetSet", tc.subnets),
        ("InstanceSet", tc.instances),
    ):
        if items:
            dump(f"tencent-{key}.json", {key: items, "TotalCount": len(items)})
    return written
