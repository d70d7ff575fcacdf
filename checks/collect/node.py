"""Node facts (opt-in): forwarding/rp_filter sysctls and the filter table of iptables, per target node.

Live: `collect_node_facts(state, api_client)` starts one short-lived pod per target node
(hostNetwork, so /proc/sys/net is the node's network namespace; NET_ADMIN + NET_RAW for
`iptables-save` in that namespace; nothing mounted, not privileged), waits for it to finish, reads
its log, and deletes it. Only when `state.options["node"]` is true, never offline.

Offline: `facts_from_text(text)` recognises `sysctl -a` output, `iptables-save` output, and
`netstat -anltu` / `ss -lnt` output by content, so the dump loader can put files holding them
into `state.node_facts`. A first line `# node: NAME` (the collector pod prints it) or
`# pod: NAMESPACE/NAME` names whose facts they are.

Facts shape (JSON-able, so `lbhealth snapshot` can write them)::

    {"node": "ip-10-0-1-5", "sysctl": {"net.ipv4.ip_forward": "1", ...},
     "iptables": {"policies": {...}, "chains": [...], "rules": {chain: [rule, ...]}, "forward_jumps": [...]},
     "listen": [{"proto": "tcp", "address": "127.0.0.1", "port": 80, "process": "nginx"}],
     "error": "..."}  # when reading the node failed
"""

from __future__ import annotations

import re
import shlex
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from checks.collect.probe import looks_like_listen_output, parse_listen
from checks.state import State, meta

DEFAULT_IMAGE = "registry.k8s.io/build-image/debian-iptables:bookworm-v1.0.0"
DEFAULT_NAMESPACE = "kube-system"
MAX_NODES = 10
POD_TIMEOUT_S = 60.0

# What the pod runs. `sysctl` when present, else the same keys read from /proc/sys directly.
READ_SCRIPT = r"""
echo "# node: ${NODE_NAME}"
if command -v sysctl >/dev/null 2>&1; then
  sysctl -a 2>/dev/null | grep -E 'forwarding|ip_forward|rp_filter'
else
  for f in /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/conf/*/forwarding /proc/sys/net/ipv4/conf/*/rp_filter \
           /proc/sys/net/ipv6/conf/*/forwarding; do
    [ -r "$f" ] && echo "$(echo "${f#/proc/sys/}" | tr / .) = $(cat "$f")"
  done
fi
iptables-save -t filter 2>&1 || echo "# iptables-save failed"
""".strip()


# ---- sysctl -----------------------------------------------------------------------------------

_SYSCTL = re.compile(r"^\s*([a-z0-9_]+(?:\.[\w\-/@:+]+)+)\s*=\s*(.*?)\s*$")


def parse_sysctl(text: str) -> dict[str, str]:
    """`sysctl -a` (or `sysctl key ...`) output -> {key: value}. Other lines are ignored."""
    out: dict[str, str] = {}
    for line in (text or "").splitlines():
        if line.lstrip().startswith(("#", "-", "*", ":")):
            continue
        m = _SYSCTL.match(line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


# ---- iptables-save ----------------------------------------------------------------------------

BUILTIN_TARGETS = frozenset(
    {
        "ACCEPT", "DROP", "REJECT", "RETURN", "LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "CT", "NOTRACK",
        "TCPMSS", "QUEUE", "NFQUEUE", "CHECKSUM", "CLASSIFY", "TRACE", "AUDIT", "SECMARK", "CONNSECMARK",
        "DNAT", "SNAT", "MASQUERADE", "REDIRECT", "TEE", "SET", "IDLETIMER", "LED", "DSCP", "TOS", "TTL", "HL",
    }
)
# matches whose options we interpret; others are kept in "other" so evaluators stay honest
_KNOWN_MODULES = frozenset({"comment", "tcp", "udp", "conntrack", "state", "multiport"})


def _ports(spec: str) -> list[tuple[int, int]]:
    out = []
    for part in spec.split(","):
        lo, colon, hi = part.partition(":")
        try:
            a = int(lo) if lo else 0
            b = int(hi) if hi else (65535 if colon else a)
        except ValueError:
            continue
        out.append((a, b))
    return out


def parse_rule(text: str) -> dict[str, Any]:
    """One `-A CHAIN ...` line -> {chain, raw, target, goto, source, destination, proto, in_iface,
    out_iface, dports, ctstate, comment, negated: [fields], other: [unhandled matches]}."""
    raw = text.strip()
    body = re.sub(r"^\[\d+:\d+\]\s*", "", raw)
    try:
        tokens = shlex.split(body)
    except ValueError:
        tokens = body.split()
    rule: dict[str, Any] = {
        "chain": "", "raw": body, "target": "", "goto": False, "source": None, "destination": None,
        "proto": None, "in_iface": None, "out_iface": None, "dports": None, "ctstate": None,
        "comment": "", "negated": [], "other": [],
    }
    i, neg, in_target = 0, False, False
    simple = {"-s": "source", "--source": "source", "-d": "destination", "--destination": "destination",
              "-p": "proto", "--protocol": "proto", "-i": "in_iface", "--in-interface": "in_iface",
              "-o": "out_iface", "--out-interface": "out_iface"}

    def value(j: int) -> str:
        return tokens[j] if j < len(tokens) else ""

    while i < len(tokens):
        tok = tokens[i]
        if tok == "!":
            neg = True
            i += 1
            continue
        if tok in ("-A", "--append"):
            rule["chain"] = value(i + 1)
            i += 2
        elif tok in simple:
            field = simple[tok]
            rule[field] = value(i + 1)
            if neg:
                rule["negated"].append(field)
            i += 2
        elif tok in ("-j", "--jump", "-g", "--goto"):
            rule["target"] = value(i + 1)
            rule["goto"] = tok in ("-g", "--goto")
            in_target = True
            i += 2
        elif tok in ("-m", "--match"):
            mod = value(i + 1)
            if mod not in _KNOWN_MODULES:
                rule["other"].append(("! " if neg else "") + f"-m {mod}")
            i += 2
        elif tok in ("--dport", "--destination-port", "--dports", "--destination-ports") and not in_target:
            rule["dports"] = _ports(value(i + 1))
            if neg:
                rule["negated"].append("dports")
            i += 2
        elif tok in ("--ctstate", "--state") and not in_target:
            rule["ctstate"] = [s.upper() for s in value(i + 1).split(",") if s]
            if neg:
                rule["negated"].append("ctstate")
            i += 2
        elif tok == "--comment":
            rule["comment"] = value(i + 1)
            i += 2
        elif tok.startswith("-"):
            # an option we do not interpret: keep it with its values (a target's options are harmless)
            j = i + 1
            vals = []
            while j < len(tokens) and not tokens[j].startswith("-") and tokens[j] != "!":
                vals.append(tokens[j])
                j += 1
            if not in_target:
                rule["other"].append(" ".join((["!"] if neg else []) + [tok] + vals))
            i = j
        else:
            if not in_target:
                rule["other"].append(tok)
            i += 1
        neg = False
    return rule


def parse_iptables_save(text: str) -> dict[str, Any] | None:
    """The filter table of `iptables-save` output: policies, chains, rules, FORWARD's jump targets.

    None when the text holds no filter table. Other tables are only listed (`tables`).
    """
    table = None
    tables: list[str] = []
    policies: dict[str, str] = {}
    chains: list[str] = []
    rules: dict[str, list[dict[str, Any]]] = {}
    saw_filter = False
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            table = line[1:].strip()
            tables.append(table)
            saw_filter = saw_filter or table == "filter"
            continue
        if line == "COMMIT":
            table = None
            continue
        if table != "filter":
            continue
        if line.startswith(":"):
            parts = line[1:].split()
            if parts:
                name = parts[0]
                if name not in chains:
                    chains.append(name)
                if len(parts) > 1 and parts[1] != "-":
                    policies[name] = parts[1].upper()
                rules.setdefault(name, [])
            continue
        if re.match(r"^(\[\d+:\d+\]\s*)?-A\s", line):
            rule = parse_rule(line)
            if rule["chain"]:
                rules.setdefault(rule["chain"], []).append(rule)
                if rule["chain"] not in chains:
                    chains.append(rule["chain"])
    if not saw_filter:
        return None
    forward_jumps: list[str] = []
    for r in rules.get("FORWARD", []):
        t = r.get("target") or ""
        if t and t not in BUILTIN_TARGETS and t not in forward_jumps:
            forward_jumps.append(t)
    return {"tables": tables, "policies": policies, "chains": chains, "rules": rules, "forward_jumps": forward_jumps}


# ---- recognising dump files -------------------------------------------------------------------

_NAMED = re.compile(r"^#\s*(?:lbhealth node facts:\s*|)(node|pod)\s*[:=]\s*(\S+)\s*$", re.I | re.M)
_NET_SYSCTL = re.compile(r"^\s*net\.ipv[46]\.\S+\s*=\s*\S+", re.M)


def facts_from_text(text: str) -> dict[str, Any] | None:
    """Node facts from text holding sysctl, iptables-save and/or netstat/ss output; None if none of them."""
    if not text or "\x00" in text[:4096]:
        return None
    facts: dict[str, Any] = {}
    if _NET_SYSCTL.search(text):
        sysctl = {k: v for k, v in parse_sysctl(text).items() if k.startswith("net.")}
        if sysctl:
            facts["sysctl"] = sysctl
    if re.search(r"^\*filter\s*$", text, re.M) and re.search(r"^COMMIT\s*$", text, re.M):
        ipt = parse_iptables_save(text)
        if ipt:
            facts["iptables"] = ipt
    if looks_like_listen_output(text):
        listen = parse_listen(text)
        if listen:
            facts["listen"] = listen
    if not facts:
        return None
    for m in _NAMED.finditer(text):
        kind, name = m.group(1).lower(), m.group(2)
        facts.setdefault(kind, name)
    for entry in facts.get("listen", []):
        if "pod" in facts:
            entry.setdefault("pod", facts["pod"])
    return facts


# ---- live collection --------------------------------------------------------------------------


def target_nodes(state: State) -> list[str]:
    """Nodes the load balancer's targets live on: those hosting selected pods first, then (for
    instance targets) the other nodes, up to the cap."""
    from checks.lbview import target_type

    cap = int(state.options.get("node_max") or MAX_NODES)
    hosting = []
    for p in state.selected_pods:
        n = (p.get("spec") or {}).get("nodeName")
        if n and n not in hosting:
            hosting.append(n)
    names = list(hosting)
    if target_type(state) == "instance":
        names += sorted(meta(n).get("name") for n in state.nodes if meta(n).get("name") and meta(n).get("name") not in hosting)
    return names[:cap]


def reader_pod(node: str, *, image: str = DEFAULT_IMAGE, namespace: str = DEFAULT_NAMESPACE) -> dict[str, Any]:
    """The short-lived pod that reads one node's sysctls and filter table."""
    suffix = uuid.uuid4().hex[:8]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"lbhealth-node-{suffix}",
            "namespace": namespace,
            "labels": {"app.kubernetes.io/name": "lbhealth-node-reader", "app.kubernetes.io/managed-by": "lbhealth"},
            "annotations": {"lbhealth/node": node},
        },
        "spec": {
            "nodeName": node,
            "hostNetwork": True,
            "restartPolicy": "Never",
            "activeDeadlineSeconds": int(POD_TIMEOUT_S),
            "terminationGracePeriodSeconds": 0,
            "automountServiceAccountToken": False,
            # root, but nothing else: iptables-save needs NET_ADMIN in the node's network namespace,
            # and Linux gives added capabilities to uid 0 only (Kubernetes sets no ambient set). So
            # the one exception to "non-root" on lbhealth's pods: seccomp, no escalation, a read-only
            # root filesystem, every other capability dropped, no token, no volume.
            "securityContext": {"runAsUser": 0, "runAsNonRoot": False, "seccompProfile": {"type": "RuntimeDefault"}},
            "tolerations": [{"operator": "Exists"}],
            "containers": [
                {
                    "name": "read",
                    "image": image,
                    "command": ["/bin/sh", "-c", READ_SCRIPT],
                    "env": [{"name": "NODE_NAME", "value": node}],
                    "securityContext": {
                        "privileged": False,
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN", "NET_RAW"]},
                    },
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "200m", "memory": "64Mi"}},
                }
            ],
        },
    }


def _read_node(core: Any, node: str, *, image: str, namespace: str, timeout_s: float, poll_s: float) -> tuple[dict[str, Any], int]:
    """Run the reader pod on one node and delete it. Returns (facts, API calls made)."""
    body = reader_pod(node, image=image, namespace=namespace)
    name = body["metadata"]["name"]
    calls = 0
    created = False
    facts: dict[str, Any]
    try:
        calls += 1
        core.create_namespaced_pod(namespace, body)
        created = True
        deadline = time.monotonic() + timeout_s
        phase = ""
        while True:
            calls += 1
            pod = core.read_namespaced_pod(name, namespace)
            phase = getattr(getattr(pod, "status", None), "phase", None) or ""
            if phase in ("Succeeded", "Failed") or time.monotonic() >= deadline:
                break
            time.sleep(poll_s)
        if phase not in ("Succeeded", "Failed"):
            facts = {"node": node, "error": f"reader pod {namespace}/{name} did not finish within {timeout_s:g}s (phase {phase or 'unknown'})"}
        else:
            calls += 1
            log = core.read_namespaced_pod_log(name, namespace, container="read") or ""
            facts = facts_from_text(log) or {}
            facts["node"] = node
            if "iptables" not in facts and "iptables-save failed" in log:
                facts["iptables_error"] = "iptables-save failed in the reader pod (NET_ADMIN denied by policy?)"
            if not facts.get("sysctl") and not facts.get("iptables"):
                facts["error"] = f"reader pod {namespace}/{name} printed nothing usable (phase {phase})"
    except Exception as exc:  # noqa: BLE001 - one node failing must not stop the others
        status = getattr(exc, "status", None)
        reason = getattr(exc, "reason", None) or str(exc)
        if status == 403:
            why = f"forbidden: the worker needs create/get/delete pods and get pods/log in {namespace} ({reason})"
        else:
            why = f"{type(exc).__name__}: {reason}"
        facts = {"node": node, "error": why}
    if created:
        try:
            calls += 1
            core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
        except Exception:  # noqa: BLE001,S110 - best effort; activeDeadlineSeconds bounds the pod anyway
            pass
    return facts, calls


def collect_node_facts(state: State, api_client: Any, *, poll_s: float = 1.0) -> None:
    """Fill state.node_facts for the target nodes (opt-in: options["node"])."""
    if state.options.get("offline"):
        if not state.node_facts:
            state.skipped_reads["node"] = "offline dump: node facts come only from sysctl/iptables-save files in the dump"
        else:
            state.reads_done.add("node")
        return
    if not state.options.get("node"):
        state.skipped_reads["node"] = "node checks are off (enable them with --node)"
        return
    nodes = target_nodes(state)
    if not nodes:
        state.skipped_reads["node"] = "no target node to read (no selected pod is scheduled, and no node is known)"
        return
    from kubernetes import client as k8s_client

    core = k8s_client.CoreV1Api(api_client)
    image = state.options.get("node_image") or DEFAULT_IMAGE
    namespace = state.options.get("node_namespace") or DEFAULT_NAMESPACE
    timeout_s = float(state.options.get("node_timeout") or POD_TIMEOUT_S)
    with ThreadPoolExecutor(max_workers=min(8, len(nodes)), thread_name_prefix="lbhealth-node") as pool:
        results = list(pool.map(lambda n: _read_node(core, n, image=image, namespace=namespace, timeout_s=timeout_s, poll_s=poll_s), nodes))
    for node, (facts, calls) in zip(nodes, results, strict=True):
        state.node_facts[node] = facts
        state.api_calls["k8s"] += calls
    if all("error" in f for f, _ in results):
        state.read_errors["node"] = results[0][0]["error"]
    state.reads_done.add("node")
