"""tccli output in a `--from` dump (`clb`/`vpc`/`cvm Describe*`), recognised by its keys.

The Tencent provider's dump recogniser (checks/providers/tencent `dump_module`): checks.collect.dump
hands it every document that is not a Kubernetes object (a raw API answer already unwrapped from
its `Response`); it fills `state.tencent` and says which reads the dump supplied.
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
        self._listeners: list[tuple[Path, dict[str, Any]]] = []  # which CLB: known once every file is read

    def load(self, path: Path, doc: dict[str, Any]) -> bool:
        """Take `doc` if it is tccli output."""
        return _load_tencent(self.state, path, doc, self.seen, self._listeners)

    def finish(self) -> None:
        _resolve_listeners(self.state, self._listeners)

    def denied(self, path: Path, answer: str | dict[str, Any]) -> bool:
        """Take a Tencent Cloud error answer (`{"Response": {"Error": ...}}`) naming the action it refused."""
        err = answer if isinstance(answer, dict) else {}
        message = str(err.get("Message") or "")
        m = _ACTION.search(message)
        if m is None or m["action"] not in ACTION_READS:
            return False
        read, command = ACTION_READS[m["action"]]
        code = str(err.get("Code") or "an error")
        self.state.read_errors[read] = (
            f"Tencent Cloud answered {code} in the dump ({path}): {' '.join(message.split())[:300]}; "
            + (f"grant CAM {m['service']}:{m['action']}, then " if code.startswith(("AuthFailure", "UnauthorizedOperation")) else "")
            + f"add the output of `{command}`"
        )
        return True


# CAM's refusal names the action: "you are not authorized to perform operation (clb:DescribeTargetHealth)".
_ACTION = re.compile(r"\((?P<service>clb|vpc|cvm):(?P<action>\w+)\)")
ACTION_READS: dict[str, tuple[str, str]] = {
    "DescribeTargetHealth": ("tencent.target_health", "tccli clb DescribeTargetHealth --LoadBalancerIds '[\"LB\"]'"),
    **{a: ("tencent.clb", f"tccli clb {a}") for a in ("DescribeLoadBalancers", "DescribeListeners", "DescribeTargets")},
    **{a: ("tencent.vpc_network", f"tccli vpc {a}") for a in (
        "DescribeSecurityGroupPolicies", "DescribeNetworkAcls", "DescribeNetworkInterfaces", "DescribeSubnets")},
    "DescribeInstances": ("tencent.instances", "tccli cvm DescribeInstances"),
}


def _load_tencent(
    state: State, path: Path, doc: dict[str, Any], seen: set[str], pending_listeners: list
) -> bool:
    tc = state.tencent
    if isinstance(doc.get("LoadBalancerSet"), list):
        tc.load_balancers.extend(doc["LoadBalancerSet"])
        seen.add("tencent.clb")
        return True
    if isinstance(doc.get("LoadBalancers"), list) and "LoadBalancerId" in as_dict(next(iter(doc["LoadBalancers"]), None)):
        tc.target_health.extend(doc["LoadBalancers"])
        seen.add("tencent.target_health")
        return True
    if isinstance(doc.get("Listeners"), list):
        pending_listeners.append((path, doc))  # which CLB: known once every file is read
        seen.add("tencent.clb")
        return True
    if isinstance(doc.get("SecurityGroupPolicySet"), dict):
        sg = doc.get("SecurityGroupId")
        if not sg:
            raise DumpError(
                f'{path}: DescribeSecurityGroupPolicies output without "SecurityGroupId", so it is not known which '
                "security group it describes; save it again with: tccli vpc DescribeSecurityGroupPolicies "
                "--SecurityGroupId <sg-id> --filter \"{SecurityGroupId: '<sg-id>', SecurityGroupPolicySet: "
                'SecurityGroupPolicySet}" (or add "SecurityGroupId": "<sg-id>" at its top level)'
            )
        tc.security_group_policies[sg] = doc["SecurityGroupPolicySet"]
        seen.add("tencent.vpc_network")
        return True
    mapping = {
        "NetworkAclSet": ("network_acls", "tencent.vpc_network"),
        "NetworkInterfaceSet": ("network_interfaces", "tencent.vpc_network"),
        "SubnetSet": ("subnets", "tencent.vpc_network"),
        "InstanceSet": ("instances", "tencent.instances"),
    }
    for key, (attr, read) in mapping.items():
        if isinstance(doc.get(key), list):
            getattr(tc, attr).extend(doc[key])
            seen.add(read)
            return True
    return False


def _resolve_listeners(state: State, pending: list[tuple[Path, dict[str, Any]]]) -> None:
    tc = state.tencent
    for path, doc in pending:
        lb_id = doc.get("LoadBalancerId") or _only_lb_id(state, path)
        items = doc["Listeners"]
        is_targets = any(
            "Targets" in (i or {}) or any("Targets" in (r or {}) for r in (i or {}).get("Rules") or [])
            for i in items
        )
        (tc.targets if is_targets else tc.listeners).setdefault(lb_id, []).extend(items)


def _only_lb_id(state: State, path: Path) -> str:
    ids = {lb.get("LoadBalancerId") for lb in state.tencent.load_balancers}
    ann = state.service_annotations
    ann_id = ann.get("service.kubernetes.io/loadbalance-id") or ann.get(
        "service.kubernetes.io/tke-existed-lbid"
    )
    if len(ids) == 1:
        return next(iter(ids))
    if ann_id:
        return ann_id
    if not ids:
        return "unknown"
    raise DumpError(
        f'{path}: DescribeListeners/DescribeTargets output with several CLBs loaded; add "LoadBalancerId" at top level'
    )
