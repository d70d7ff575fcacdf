"""The types of the Kubernetes fields the checks read, enforced on objects read from dump files.

Live reads come from the API server, which cannot return a selector that is a list; a dump a
person assembled or edited can. Rejecting such a file with the object and field named ("Service
shop/web: spec.selector is a list; kubectl prints a map of label: value") tells the person what
to fix, where a check would otherwise conclude from a field it could not read.

Only the fields checks read are listed (a walk over the kubernetes client's full models costs
seconds on a 10,000-pod dump and would import them); their types are the API's
(k8s.io/api core/v1, discovery/v1, networking/v1).
"""

from __future__ import annotations

from typing import Any

from checks.values import kind_of

MAP = "a map"  # of string keys
LIST = "a list"
STR = "a string"
INT = "an integer"
BOOL = "true or false"
INT_OR_STR = "a number or a port name"
STR_MAP = "a map of string: string"

_CHECKS = {
    MAP: lambda v: isinstance(v, dict),
    LIST: lambda v: isinstance(v, list),
    STR: lambda v: isinstance(v, str),
    INT: lambda v: isinstance(v, int) and not isinstance(v, bool),
    BOOL: lambda v: isinstance(v, bool),
    INT_OR_STR: lambda v: isinstance(v, (int, str)) and not isinstance(v, bool),
    STR_MAP: lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
}

_PROBE = {"httpGet": MAP, "httpGet.path": STR, "httpGet.port": INT_OR_STR, "httpGet.scheme": STR,
          "tcpSocket.port": INT_OR_STR, "periodSeconds": INT, "timeoutSeconds": INT}
_CONTAINER = {"name": STR, "image": STR, "ports": LIST, "ports[]": MAP, "ports[].containerPort": INT,
              "ports[].name": STR, "ports[].protocol": STR, "command": LIST, "args": LIST,
              **{f"readinessProbe.{k}": v for k, v in _PROBE.items()}, "readinessProbe": MAP}
_META = {"metadata.labels": STR_MAP, "metadata.annotations": STR_MAP}

FIELDS: dict[str, dict[str, str]] = {
    "Service": {
        **_META, "spec": MAP, "spec.type": STR, "spec.selector": STR_MAP, "spec.ports": LIST, "spec.ports[]": MAP,
        "spec.ports[].port": INT, "spec.ports[].targetPort": INT_OR_STR, "spec.ports[].nodePort": INT,
        "spec.ports[].protocol": STR, "spec.ports[].name": STR, "spec.externalTrafficPolicy": STR,
        "spec.healthCheckNodePort": INT, "spec.loadBalancerSourceRanges": LIST, "spec.loadBalancerSourceRanges[]": STR,
        "spec.loadBalancerClass": STR, "status.loadBalancer.ingress": LIST, "status.loadBalancer.ingress[]": MAP,
        "status.loadBalancer.ingress[].ip": STR, "status.loadBalancer.ingress[].hostname": STR,
    },
    "Pod": {
        **_META, "spec": MAP, "spec.nodeName": STR, "spec.hostNetwork": BOOL, "spec.containers": LIST,
        "spec.containers[]": MAP, **{f"spec.containers[].{k}": v for k, v in _CONTAINER.items()},
        "spec.readinessGates": LIST, "spec.readinessGates[]": MAP, "spec.readinessGates[].conditionType": STR,
        "status.phase": STR, "status.podIP": STR, "status.podIPs": LIST, "status.podIPs[]": MAP, "status.podIPs[].ip": STR,
        "status.conditions": LIST, "status.conditions[]": MAP, "status.conditions[].type": STR,
        "status.conditions[].status": STR, "status.containerStatuses": LIST, "status.containerStatuses[]": MAP,
        "status.containerStatuses[].name": STR, "status.containerStatuses[].ready": BOOL,
        "status.containerStatuses[].restartCount": INT, "status.containerStatuses[].state": MAP,
        "status.containerStatuses[].lastState": MAP,
    },
    "Node": {
        **_META, "spec.providerID": STR, "status.addresses": LIST, "status.addresses[]": MAP,
        "status.addresses[].type": STR, "status.addresses[].address": STR, "status.conditions": LIST,
        "status.conditions[]": MAP, "status.conditions[].type": STR, "status.conditions[].status": STR,
    },
    "EndpointSlice": {
        **_META, "endpoints": LIST, "endpoints[]": MAP, "endpoints[].addresses": LIST, "endpoints[].addresses[]": STR,
        "endpoints[].conditions": MAP, "endpoints[].conditions.ready": BOOL, "endpoints[].nodeName": STR,
        "ports": LIST, "ports[]": MAP, "ports[].port": INT, "ports[].name": STR,
    },
    "Endpoints": {**_META, "subsets": LIST, "subsets[]": MAP, "subsets[].addresses": LIST, "subsets[].addresses[]": MAP,
                  "subsets[].addresses[].ip": STR, "subsets[].notReadyAddresses": LIST, "subsets[].ports": LIST},
    "Ingress": {
        **_META, "spec": MAP, "spec.ingressClassName": STR, "spec.rules": LIST, "spec.rules[]": MAP,
        "spec.rules[].host": STR, "spec.rules[].http.paths": LIST, "spec.rules[].http.paths[]": MAP,
        "spec.rules[].http.paths[].path": STR, "spec.rules[].http.paths[].backend": MAP,
        "spec.defaultBackend": MAP,
    },
    "NetworkPolicy": {**_META, "spec": MAP, "spec.podSelector": MAP, "spec.policyTypes": LIST, "spec.ingress": LIST,
                      "spec.ingress[]": MAP, "spec.ingress[].from": LIST, "spec.ingress[].ports": LIST},
    "Event": {**_META, "reason": STR, "message": STR, "note": STR, "type": STR, "count": INT,
              "involvedObject": MAP, "regarding": MAP},
    "DaemonSet": {**_META, "spec.template.spec.containers": LIST, "spec.template.spec.containers[]": MAP,
                  "status.desiredNumberScheduled": INT, "status.numberReady": INT},
    "Deployment": {**_META, "spec.replicas": INT, "status.readyReplicas": INT, "status.replicas": INT},
}

# FIELDS as a tree of steps ("ports[]": every item of ports), so that each object is walked once:
# walking every path from the root built a path string per step and cost ~0.6 s for a 10,000-pod
# dump (bench/dump_size.py); the text of a path is only built for a wrong field now.
# A tree level: (key, every item of a list?, expected type or None, its test, the level below).
_Tree = tuple[tuple[str, bool, str | None, Any, "_Tree"], ...]


def _tree(fields: dict[str, str]) -> _Tree:
    root: dict[str, Any] = {}
    for path, expected in fields.items():
        node = root
        *parents, last = path.split(".")
        for step in parents:
            node = node.setdefault(step, [None, {}])[1]
        node.setdefault(last, [None, {}])[0] = expected
    return _freeze(root)


def _freeze(node: dict[str, Any]) -> _Tree:
    return tuple(
        (step.removesuffix("[]"), step.endswith("[]"), expected, _CHECKS.get(expected), _freeze(children))
        for step, (expected, children) in node.items()
    )


_TREES = {kind: _tree(fields) for kind, fields in FIELDS.items()}


def _where(trail: list[str | int]) -> str:
    text = ""
    for part in trail:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


class _Walk:
    """One object's walk: appends 'Kind ns/name: path is X; kubectl prints Y there' for each wrong field."""

    def __init__(self, kind: str, name: str) -> None:
        self.label = f"{kind} {name}"
        self.trail: list[str | int] = []
        self.problems: list[str] = []

    def visit(self, value: dict[str, Any], tree: _Tree) -> None:
        for key, many, expected, test, children in tree:
            child = value.get(key)
            if child is None:
                continue
            self.trail.append(key)
            if not many:
                self.field(child, expected, test, children)
            elif isinstance(child, list):
                for i, item in enumerate(child):
                    if item is not None:
                        self.trail.append(i)
                        self.field(item, expected, test, children)
                        self.trail.pop()
            self.trail.pop()

    def field(self, value: Any, expected: str | None, test: Any, children: _Tree) -> None:
        if expected == STR_MAP and isinstance(value, dict):
            self.string_values(value)
        elif test is not None and not test(value):
            self.problems.append(f"{self.label}: {_where(self.trail)} is {kind_of(value, 'a map')}; kubectl prints {expected} there")
        if children and isinstance(value, dict):
            self.visit(value, children)

    def string_values(self, value: dict[str, Any]) -> None:
        for k, v in value.items():
            if not isinstance(v, str):
                self.problems.append(
                    f"{self.label}: {_where(self.trail)}[{k!r}] is {kind_of(v, 'a map')}; kubectl prints a string there (quote it in YAML)"
                )


def field_type_problems(obj: dict[str, Any]) -> list[str]:
    """'Service shop/web: spec.selector is a list; kubectl prints a map of string: string', one per wrong field."""
    kind = obj.get("kind")
    tree = _TREES.get(kind) if isinstance(kind, str) else None
    if not tree:
        return []
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    name = f"{meta.get('namespace')}/{meta.get('name')}" if meta.get("namespace") else str(meta.get("name"))
    walk = _Walk(kind, name)
    walk.visit(obj, tree)
    return walk.problems
