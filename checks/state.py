"""The collected state of one diagnosis, and the derived views checks share.

Everything here is plain data in the shapes the APIs print: Kubernetes objects as
`kubectl get -o json` prints them (camelCase dicts), AWS as the AWS CLI / boto3 prints
responses, Tencent as tccli prints the `Response` object. Live collectors and dump files
therefore fill the same structures, and a check cannot tell them apart.

`read_errors` records reads that failed ("k8s.events" -> "forbidden: ..."), so a check can
return `error` naming the missing permission instead of concluding from missing data.
`reads_done` records which reads happened at all, so "no NetworkPolicy" is not confused
with "NetworkPolicies were not read".
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from checks.model import Target


def labels_match(selector: dict[str, str] | None, labels: dict[str, str] | None) -> bool:
    """Service-style equality selector. An empty/absent selector selects nothing here."""
    if not selector or not isinstance(selector, dict):
        return False
    if not isinstance(labels, dict):
        labels = {}
    return all(labels.get(k) == v for k, v in selector.items())


def label_selector_matches(selector: dict[str, Any] | None, labels: dict[str, str] | None) -> bool:
    """A metav1.LabelSelector (matchLabels + matchExpressions). `{}` selects everything."""
    if selector is None:
        return False
    labels = labels or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def meta(obj: dict[str, Any]) -> dict[str, Any]:
    m = obj.get("metadata") if isinstance(obj, dict) else None
    return m if isinstance(m, dict) else {}


def annotations(obj: dict[str, Any] | None) -> dict[str, str]:
    return (meta(obj).get("annotations") or {}) if obj else {}


class _KindIndex:
    """Positions of one kind's objects by (namespace, name) and by namespace, plus lazy derived maps.

    Built from the bucket (the list in `KubeState.objects[kind]`) and valid while that very list
    keeps the length it had: code that replaces or shortens a bucket (tests do) gets a fresh
    index on the next query. Objects are replaced through `KubeState.add`, never edited in place.
    """

    __slots__ = ("bucket", "size", "by_key", "by_ns", "by_name", "derived")

    def __init__(self, bucket: list[dict[str, Any]]) -> None:
        self.bucket = bucket
        self.size = 0
        self.by_key: dict[tuple[Any, Any], int] = {}
        self.by_ns: dict[Any, list[int]] = {}
        self.by_name: dict[Any, list[int]] = {}
        self.derived: dict[Any, Any] = {}  # label maps per namespace and the address map, built on first use
        for obj in bucket:
            self.append(obj)

    def valid_for(self, bucket: list[dict[str, Any]] | None) -> bool:
        return bucket is self.bucket and len(bucket) == self.size

    def append(self, obj: dict[str, Any]) -> None:
        m = meta(obj)
        ns, name = m.get("namespace"), m.get("name")
        pos = self.size
        self.size += 1
        if (ns, name) in self.by_key:  # a bucket filled by hand with duplicates: the last one wins
            old = self.by_key[(ns, name)]
            self.by_ns[ns].remove(old)
            self.by_name[name].remove(old)
        self.by_key[(ns, name)] = pos
        self.by_ns.setdefault(ns, []).append(pos)
        self.by_name.setdefault(name, []).append(pos)
        self.derived.clear()


@dataclass
class KubeState:
    """A bag of Kubernetes objects, indexed by kind. Checks query it; collectors fill it.

    `objects[kind]` is a plain list in the order objects arrived. Lookups by (namespace, name),
    by namespace, by label and by pod IP go through per-kind indexes instead of scanning: a dump
    of a 10,000-pod cluster used to cost O(pods^2) to load (18 s) because every add scanned the
    bucket. Collector threads add while a cloud thread reads, so index upkeep holds a lock.
    """

    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # (namespace, pod, container, previous) -> log tail
    logs: dict[tuple[str, str, str, bool], str] = field(default_factory=dict)
    _indexes: dict[str, _KindIndex] = field(default_factory=dict, init=False, repr=False, compare=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False, compare=False)

    def _index(self, kind: str) -> _KindIndex | None:
        bucket = self.objects.get(kind)
        if bucket is None:
            return None
        with self._lock:
            ix = self._indexes.get(kind)
            if ix is None or not ix.valid_for(bucket):
                ix = self._indexes[kind] = _KindIndex(bucket)
            return ix

    def add(self, obj: dict[str, Any]) -> None:
        """Add or replace (same kind, namespace and name) one object."""
        kind = obj.get("kind") or ""
        if not kind:
            return
        with self._lock:
            bucket = self.objects.setdefault(kind, [])
            ix = self._index(kind)
            assert ix is not None
            m = meta(obj)
            pos = ix.by_key.get((m.get("namespace"), m.get("name")))
            if pos is not None:
                bucket[pos] = obj
                ix.derived.clear()
            else:
                bucket.append(obj)
                ix.append(obj)

    def of_kind(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        items = self.objects.get(kind, [])
        if namespace is None:
            return list(items)
        ix = self._index(kind)
        return [items[i] for i in ix.by_ns.get(namespace, ())] if ix else []

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        ix = self._index(kind)
        if ix is None:
            return None
        items = self.objects[kind]
        if namespace is not None:
            pos = ix.by_key.get((namespace, name))
            return items[pos] if pos is not None else None
        positions = ix.by_name.get(name)
        return items[positions[0]] if positions else None

    def select(self, kind: str, namespace: str, selector: dict[str, str] | None) -> list[dict[str, Any]]:
        """Objects of `kind` in `namespace` whose labels carry every key=value of `selector`.

        An empty or absent selector selects nothing (Service semantics). Uses a (label, value)
        index of the namespace, built when the namespace is first asked about: a dump of a whole
        cluster pays for the namespaces a diagnosis looks at, not for all of them.
        """
        if not selector or not isinstance(selector, dict):
            return []
        ix = self._index(kind)
        if ix is None:
            return []
        items = self.objects[kind]
        with self._lock:
            labels = ix.derived.get(("labels", namespace))
            if labels is None:
                labels = ix.derived[("labels", namespace)] = _label_index(items, ix.by_ns.get(namespace, ()))
        found: set[int] | None = None
        for key, value in selector.items():
            if not isinstance(value, str):
                return [o for o in self.of_kind(kind, namespace) if labels_match(selector, meta(o).get("labels"))]
            hits = labels.get((key, value), set())
            found = set(hits) if found is None else found & hits
            if not found:
                return []
        return [items[i] for i in sorted(found or ())]

    def pods_by_ip(self, ip: str) -> list[dict[str, Any]]:
        """Pods (in arrival order) whose status.podIP or status.podIPs name `ip`."""
        ix = self._index("Pod")
        if ix is None:
            return []
        items = self.objects["Pod"]
        with self._lock:
            by_ip = ix.derived.get("ips")
            if by_ip is None:
                by_ip = ix.derived["ips"] = _ip_index(items)
        return [items[i] for i in by_ip.get(ip, ())]

    def all_objects(self) -> list[dict[str, Any]]:
        return [o for items in self.objects.values() for o in items]


def _label_index(items: list[dict[str, Any]], positions: Iterable[int]) -> dict[tuple[str, str], set[int]]:
    """(label, value) -> positions, over the objects at `positions` (one namespace's)."""
    index: dict[tuple[str, str], set[int]] = {}
    for pos in positions:
        labels = meta(items[pos]).get("labels")
        if not isinstance(labels, dict):
            continue
        for key, value in labels.items():
            if isinstance(value, str):
                index.setdefault((key, value), set()).add(pos)
    return index


def _ip_index(items: list[dict[str, Any]]) -> dict[str, list[int]]:
    index: dict[str, list[int]] = {}
    for pos, pod in enumerate(items):
        st = pod.get("status") if isinstance(pod, dict) else None
        if not isinstance(st, dict):
            continue
        ips = {st.get("podIP")} | {x.get("ip") for x in st.get("podIPs") or [] if isinstance(x, dict)}
        for ip in ips:
            if isinstance(ip, str):
                index.setdefault(ip, []).append(pos)
    return index


@dataclass
class AwsState:
    """ELBv2 and EC2 state as the AWS CLI prints it (`TargetHealthDescriptions` keyed by TG ARN)."""

    region: str | None = None
    load_balancers: list[dict[str, Any]] = field(default_factory=list)
    target_groups: list[dict[str, Any]] = field(default_factory=list)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)  # ARN -> {key: value}
    listeners: list[dict[str, Any]] = field(default_factory=list)
    target_health: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    security_groups: list[dict[str, Any]] = field(default_factory=list)
    network_acls: list[dict[str, Any]] = field(default_factory=list)
    route_tables: list[dict[str, Any]] = field(default_factory=list)
    subnets: list[dict[str, Any]] = field(default_factory=list)
    instances: list[dict[str, Any]] = field(default_factory=list)  # flattened from Reservations
    dhcp_options: list[dict[str, Any]] = field(default_factory=list)
    vpcs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.load_balancers or self.target_groups or self.target_health)


@dataclass
class TencentState:
    """CLB/VPC/CVM state as tccli prints each `Response` (lists unwrapped, keyed where noted)."""

    region: str | None = None
    load_balancers: list[dict[str, Any]] = field(default_factory=list)  # LoadBalancerSet
    listeners: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # LB id -> Listeners
    targets: dict[str, list[dict[str, Any]]] = field(
        default_factory=dict
    )  # LB id -> DescribeTargets Listeners
    target_health: list[dict[str, Any]] = field(default_factory=list)  # LoadBalancerHealth[]
    security_group_policies: dict[str, dict[str, Any]] = field(default_factory=dict)  # sg -> PolicySet
    network_acls: list[dict[str, Any]] = field(default_factory=list)
    network_interfaces: list[dict[str, Any]] = field(default_factory=list)
    subnets: list[dict[str, Any]] = field(default_factory=list)
    instances: list[dict[str, Any]] = field(default_factory=list)  # cvm InstanceSet

    @property
    def empty(self) -> bool:
        return not (self.load_balancers or self.target_health)


@dataclass
class ProbeResult:
    """One request the worker made the way the load balancer would."""

    kind: str  # http | tcp | listen
    subject: str  # "pod shop/web-1" or "node ip-10-0-1-1"
    address: str
    port: int
    ok: bool
    path: str = ""
    host_header: str = ""
    status_code: int | None = None
    elapsed_ms: float = 0.0
    error: str = ""  # "timeout", "connection refused", ...
    expected: str = ""  # success codes the LB accepts, e.g. "200-399"
    timeout_s: float = 0.0


@dataclass
class State:
    target: Target
    k8s: KubeState = field(default_factory=KubeState)
    aws: AwsState = field(default_factory=AwsState)
    tencent: TencentState = field(default_factory=TencentState)
    clouds: dict[str, Any] = field(default_factory=dict)  # provider name -> its slice, for providers added later
    probes: list[ProbeResult] = field(default_factory=list)
    node_facts: dict[str, dict[str, Any]] = field(default_factory=dict)  # node -> {"sysctl": {}, ...}
    reads_done: set[str] = field(default_factory=set)
    read_errors: dict[str, str] = field(default_factory=dict)
    skipped_reads: dict[str, str] = field(default_factory=dict)  # read -> why not read (no creds, offline)
    api_calls: Counter = field(default_factory=Counter)
    options: dict[str, Any] = field(default_factory=dict)  # probe: bool, node: bool, offline: bool
    notes: list[str] = field(default_factory=list)  # what the reader wants the report to say (damaged dump parts)

    # ---- reads bookkeeping -------------------------------------------------------------

    def did_read(self, name: str) -> bool:
        return name in self.reads_done and name not in self.read_errors

    def why_not_read(self, name: str) -> str | None:
        """A person-readable reason a read is unavailable, or None if it was read."""
        if name in self.read_errors:
            return self.read_errors[name]
        if name in self.skipped_reads:
            return self.skipped_reads[name]
        if name not in self.reads_done:
            # a collector that skipped all of its reads at once ("aws.*": no credentials)
            return self.skipped_reads.get(name.split(".")[0] + ".*") or "not read in this diagnosis"
        return None

    # ---- the Service and what it selects ----------------------------------------------

    @property
    def service(self) -> dict[str, Any] | None:
        return self.k8s.get("Service", self.target.namespace, self.target.service)

    @property
    def selector(self) -> dict[str, str]:
        spec = (self.service or {}).get("spec")
        selector = spec.get("selector") if isinstance(spec, dict) else None
        return selector if isinstance(selector, dict) else {}

    @property
    def namespace_pods(self) -> list[dict[str, Any]]:
        return self.k8s.of_kind("Pod", self.target.namespace)

    @property
    def selected_pods(self) -> list[dict[str, Any]]:
        """Pods the Service selects, terminating ones excluded."""
        return [
            p
            for p in self.k8s.select("Pod", self.target.namespace, self.selector)
            if not meta(p).get("deletionTimestamp")
        ]

    @property
    def service_annotations(self) -> dict[str, str]:
        return annotations(self.service)

    @property
    def endpoint_slices(self) -> list[dict[str, Any]]:
        return [
            s
            for s in self.k8s.of_kind("EndpointSlice", self.target.namespace)
            if (meta(s).get("labels") or {}).get("kubernetes.io/service-name") == self.target.service
        ]

    @property
    def endpoints(self) -> dict[str, Any] | None:
        return self.k8s.get("Endpoints", self.target.namespace, self.target.service)

    @property
    def ingresses(self) -> list[dict[str, Any]]:
        """Ingresses in the namespace with a backend (default or rule) naming this Service."""
        return [
            i
            for i in self.k8s.of_kind("Ingress", self.target.namespace)
            if self.target.service in ingress_services(i)
        ]

    @property
    def nodes(self) -> list[dict[str, Any]]:
        return self.k8s.of_kind("Node")

    def node(self, name: str | None) -> dict[str, Any] | None:
        return self.k8s.get("Node", None, name) if name else None

    def pod_by_ip(self, ip: str) -> dict[str, Any] | None:
        for p in self.k8s.pods_by_ip(ip):
            if not (p.get("spec") or {}).get("hostNetwork"):
                return p
        return None

    def node_by_address(self, address: str) -> dict[str, Any] | None:
        """A node by internal/external IP, hostname or AWS instance ID (from spec.providerID)."""
        for n in self.nodes:
            if (n.get("spec") or {}).get("providerID", "").rsplit("/", 1)[-1] == address:
                return n
            for a in (n.get("status") or {}).get("addresses") or []:
                if a.get("address") == address:
                    return n
        return None


def ingress_services(ingress: dict[str, Any]) -> set[str]:
    """Service names an Ingress routes to (networking.k8s.io/v1 and the old extensions shape)."""
    names: set[str] = set()
    spec = ingress.get("spec") or {}

    def add(backend: Any) -> None:
        if not isinstance(backend, dict):
            return
        svc = (backend.get("service") or {}).get("name") or backend.get("serviceName")
        if svc:
            names.add(svc)

    add(spec.get("defaultBackend") or spec.get("backend"))
    for rule in spec.get("rules") or []:
        if not isinstance(rule, dict) or not isinstance(rule.get("http"), dict):
            continue
        for path in rule["http"].get("paths") or []:
            if isinstance(path, dict):
                add(path.get("backend"))
    return names
