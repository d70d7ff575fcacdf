"""Helpers the node checks share: reading node facts, and evaluating an iptables chain for a probe.

The evaluator answers "what happens to the load balancer's probe (a NEW TCP SYN from the probe
source to port P) in chain C" by walking the parsed rules of `iptables-save` in order. It is
deliberately conservative: a rule whose matches it cannot decide (marks, ipsets, addrtype, ...)
neither accepts nor drops the probe; it is only reported as "may apply".
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from checks.model import Finding, Status
from checks.state import State

NODE_OFF = "Node checks are off (enable them with --node; they start a short-lived pod on each target node)"


def facts_with(state: State, key: str, check_id: str) -> tuple[dict[str, dict[str, Any]], list[str], Finding | None]:
    """({node: facts} holding `key`, [error lines], a skip/error finding when there is nothing to judge)."""
    have: dict[str, dict[str, Any]] = {}
    errors: list[str] = []
    for node, facts in sorted((state.node_facts or {}).items()):
        if not isinstance(facts, dict):
            continue
        if facts.get(key):
            have[str(node)] = facts
        elif facts.get("error"):
            errors.append(f"node {node}: {facts['error']}")
        elif key == "iptables" and facts.get("iptables_error"):
            errors.append(f"node {node}: {facts['iptables_error']}")
    if have:
        return have, errors, None
    if errors:
        return have, errors, Finding(check_id, Status.ERROR, "Could not read the target nodes", evidence=errors,
                                     next_step="Allow the worker to create pods (hostNetwork, NET_ADMIN) in its namespace, or run the commands on the node by hand")
    reason = state.why_not_read("node")
    if reason:
        return have, errors, Finding(check_id, Status.SKIP, f"Node facts were not read: {reason}")
    what = {"sysctl": "sysctl output", "iptables": "iptables-save output"}.get(key, key)
    return have, errors, Finding(check_id, Status.SKIP, f"No {what} was read from the target nodes")


def sysctl_of(facts: dict[str, Any]) -> dict[str, str]:
    """The facts' sysctl map with string keys and values (odd entries dropped)."""
    raw = facts.get("sysctl")
    if not isinstance(raw, dict):
        return {}
    return {k: str(v) for k, v in raw.items() if isinstance(k, str) and isinstance(v, (str, int)) and not isinstance(v, bool)}


# ---- iptables evaluation ---------------------------------------------------------------------

_RULE_STR = ("chain", "raw", "target", "source", "destination", "proto", "in_iface", "out_iface", "comment")


def _str_list(value: Any) -> list[str]:
    return [x for x in value if isinstance(x, str)] if isinstance(value, list) else []


def clean_rule(rule: Any) -> dict[str, Any] | None:
    """A parsed rule (as `parse_iptables_save` writes it, maybe read back from a dump) with sane types."""
    if not isinstance(rule, dict):
        return None
    out: dict[str, Any] = {k: (rule.get(k) if isinstance(rule.get(k), str) else None) for k in _RULE_STR}
    out["raw"] = out["raw"] or ""
    out["target"] = out["target"] or ""
    out["goto"] = rule.get("goto") is True
    out["negated"] = _str_list(rule.get("negated"))
    out["other"] = _str_list(rule.get("other"))
    out["ctstate"] = [x.upper() for x in _str_list(rule.get("ctstate"))] or None
    dports = []
    for pair in rule.get("dports") if isinstance(rule.get("dports"), list) else []:
        if isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in pair):
            dports.append((pair[0], pair[1]))
        else:
            out["other"].append(f"--dports {pair!r}")  # cannot be decided: keeps the rule 'maybe'
    out["dports"] = dports or None
    return out


def clean_iptables(ipt: Any) -> dict[str, Any]:
    """The parsed filter table with every field of the expected type (odd values dropped)."""
    ipt = ipt if isinstance(ipt, dict) else {}
    policies = ipt.get("policies") if isinstance(ipt.get("policies"), dict) else {}
    rules: dict[str, list[dict[str, Any]]] = {}
    for chain, items in (ipt.get("rules") if isinstance(ipt.get("rules"), dict) else {}).items():
        if isinstance(chain, str):
            rules[chain] = [r for r in map(clean_rule, items if isinstance(items, list) else []) if r is not None]
    return {
        "tables": _str_list(ipt.get("tables")),
        "policies": {k: v.upper() for k, v in policies.items() if isinstance(k, str) and isinstance(v, str)},
        "chains": _str_list(ipt.get("chains")),
        "rules": rules,
        "forward_jumps": _str_list(ipt.get("forward_jumps")),
    }


YES, NO, MAYBE = "yes", "no", "maybe"
_NOT_PROBE_IFACES = ("lo", "docker", "cni", "cali", "veth", "flannel", "kube-ipvs", "tunl", "cilium", "vxlan", "weave", "tke-")
_PROBE_IFACES = ("eth", "ens", "enp", "eni", "bond")


@dataclass
class Probe:
    source: ipaddress.IPv4Network | ipaddress.IPv6Network
    port: int
    proto: str = "tcp"


@dataclass
class Outcome:
    verdict: str  # ACCEPT | DROP | REJECT | POLICY-ACCEPT | POLICY-DROP | UNKNOWN
    rule: str = ""  # the deciding rule ("-A INPUT ...") or ":INPUT DROP"
    maybe: list[str] = field(default_factory=list)  # rules that may apply but could not be decided

    @property
    def admitted(self) -> bool:
        return self.verdict in ("ACCEPT", "POLICY-ACCEPT")


def _net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text.split(",")[0].strip(), strict=False)
    except ValueError:
        return None


def _flip(result: str, negated: bool) -> str:
    if not negated or result == MAYBE:
        return result
    return NO if result == YES else YES


def _match_source(rule: dict[str, Any], probe: Probe) -> str:
    src = rule.get("source")
    if not src:
        return YES
    results = []
    for part in str(src).split(","):
        net = _net(part)
        if net is None or net.version != probe.source.version:
            results.append(MAYBE if net is None else NO)
        elif probe.source.subnet_of(net):  # type: ignore[arg-type]
            results.append(YES)
        elif probe.source.overlaps(net):
            results.append(MAYBE)
        else:
            results.append(NO)
    best = YES if YES in results else MAYBE if MAYBE in results else NO
    return _flip(best, "source" in (rule.get("negated") or []))


def _match_iface(rule: dict[str, Any]) -> str:
    iface = rule.get("in_iface")
    if not iface:
        return YES
    name = str(iface).rstrip("+")
    if name.startswith(_NOT_PROBE_IFACES):
        result = NO
    elif name.startswith(_PROBE_IFACES) or name == "":
        result = YES
    else:
        result = MAYBE
    return _flip(result, "in_iface" in (rule.get("negated") or []))


def match(rule: dict[str, Any], probe: Probe) -> str:
    """Does this rule match the probe? yes / no / maybe."""
    results = [_match_source(rule, probe), _match_iface(rule)]
    negated = rule.get("negated") or []
    proto = rule.get("proto")
    if proto and str(proto).lower() not in ("all", "0"):
        results.append(_flip(YES if str(proto).lower() in (probe.proto, "6") else NO, "proto" in negated))
    dports = rule.get("dports")
    if dports:
        try:
            inside = any(int(lo) <= probe.port <= int(hi) for lo, hi in dports)
            results.append(_flip(YES if inside else NO, "dports" in negated))
        except (TypeError, ValueError):
            results.append(MAYBE)
    states = rule.get("ctstate")
    if states:
        results.append(_flip(YES if "NEW" in states else NO, "ctstate" in negated))
    dest = rule.get("destination")
    if dest and dest not in ("0.0.0.0/0", "::/0"):
        results.append(MAYBE)
    if rule.get("other"):
        results.append(MAYBE)
    if NO in results:
        return NO
    return MAYBE if MAYBE in results else YES


def evaluate(ipt: dict[str, Any], chain: str, probe: Probe, _depth: int = 0) -> Outcome:
    """Walk `chain` of the parsed filter table for the probe; built-in chains end in their policy."""
    rules: dict[str, list[dict[str, Any]]] = ipt.get("rules") if isinstance(ipt.get("rules"), dict) else {}
    maybe: list[str] = []
    for rule in rules.get(chain) or []:
        if not isinstance(rule, dict):
            continue
        m = match(rule, probe)
        if m == NO:
            continue
        target = str(rule.get("target") or "")
        raw = str(rule.get("raw") or "")
        if target in ("ACCEPT", "DROP", "REJECT"):
            if m == YES:
                return Outcome(target, raw, maybe)
            maybe.append(raw)
        elif target == "RETURN":
            if m == YES:
                return Outcome("RETURN", raw, maybe)
            maybe.append(raw)
        elif target in rules and _depth < 8 and target != chain:
            sub = evaluate(ipt, target, probe, _depth + 1)
            maybe += sub.maybe
            if sub.verdict in ("ACCEPT", "DROP", "REJECT"):
                if m == YES:
                    return Outcome(sub.verdict, sub.rule, maybe)
                maybe.append(sub.rule)
            elif rule.get("goto") and m == YES:
                break
    if _depth:
        return Outcome("RETURN", "", maybe)
    policies = ipt.get("policies") if isinstance(ipt.get("policies"), dict) else {}
    policy = policies.get(chain, "ACCEPT")
    return Outcome(f"POLICY-{policy}", f":{chain} {policy}", maybe)
