"""A local fake Kubernetes API server for tests and benchmarks.

It speaks plain HTTP on 127.0.0.1 and serves fixture objects (dicts in `kubectl get -o json`
shape) on the paths the official `kubernetes` Python client uses:

- core v1: services, pods, endpoints, nodes, events, configmaps, namespaces, `pods/{name}/log`
  (`container`, `previous`, `tailLines`)
- discovery.k8s.io/v1 endpointslices, networking.k8s.io/v1 ingresses and networkpolicies,
  apps/v1 daemonsets and deployments, elbv2.k8s.aws/v1beta1 targetgroupbindings (a custom
  resource: answer 404 as an API server without the CRD does when `absent_apis` names it)
- GET by name, namespaced and cluster-wide LIST with `labelSelector` (equality, `!=`,
  `in (...)`, `notin (...)`, exists, `!key`) and `fieldSelector` (the field labels each
  resource really supports; others get the API server's 400), `limit`/`continue` pagination
- PATCH with JSON merge patch, strategic merge patch and JSON patch, honouring `dryRun=All`
  (nothing persisted, no resourceVersion bump), a `metadata.resourceVersion` precondition in
  the patch (409 Conflict when the object moved), POST (create) and DELETE
- 403 with a real `Status` object for configured (verb, resource, namespace) triples, 404
  `Status` for missing objects and absent APIs
- `interleave(fn)`: another writer changing an object just before a client's next write (409 tests)
- a request log (with each request's User-Agent) with counters per (verb, path, query) and a latency knob (ms added to every
  request, changeable while running)

Usage::

    with FakeKubeAPI([svc, pod, ...], latency_ms=50) as api:
        client = api.api_client()          # kubernetes.client.ApiClient for api.url
        ...
        assert api.count(verb="list", resource="pods", cluster_wide=True) == 0
"""

from __future__ import annotations

import base64
import copy
import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes._loopback import LoopbackServer

DEFAULT_USER = "system:serviceaccount:lbhealth:lbhealth"


@dataclass(frozen=True)
class Resource:
    plural: str
    kind: str
    group: str  # "" for core
    version: str
    namespaced: bool
    custom: bool = False  # CRDs: LIST items keep kind/apiVersion, as the API server does
    fields: tuple[str, ...] = ()  # field labels the API server supports beyond metadata.name/namespace
    short_names: tuple[str, ...] = ()  # discovery's shortNames (`kubectl get svc`)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version


RESOURCES: tuple[Resource, ...] = (
    Resource("services", "Service", "", "v1", True, short_names=("svc",)),
    Resource(
        "pods",
        "Pod",
        "",
        "v1",
        True,
        fields=(
            "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
            "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName",
        ),
        short_names=("po",),
    ),
    Resource("endpoints", "Endpoints", "", "v1", True, short_names=("ep",)),
    Resource("nodes", "Node", "", "v1", False, fields=("spec.unschedulable",), short_names=("no",)),
    Resource(
        "events",
        "Event",
        "",
        "v1",
        True,
        fields=(
            "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
            "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
            "reason", "reportingComponent", "source", "type",
        ),
        short_names=("ev",),
    ),
    Resource("configmaps", "ConfigMap", "", "v1", True, short_names=("cm",)),
    Resource("namespaces", "Namespace", "", "v1", False, fields=("status.phase",), short_names=("ns",)),
    Resource("endpointslices", "EndpointSlice", "discovery.k8s.io", "v1", True),
    Resource("ingresses", "Ingress", "networking.k8s.io", "v1", True, short_names=("ing",)),
    Resource("networkpolicies", "NetworkPolicy", "networking.k8s.io", "v1", True, short_names=("netpol",)),
    Resource("ingressclasses", "IngressClass", "networking.k8s.io", "v1", False),
    Resource("daemonsets", "DaemonSet", "apps", "v1", True, short_names=("ds",)),
    Resource("deployments", "Deployment", "apps", "v1", True, short_names=("deploy",)),
    Resource("replicasets", "ReplicaSet", "apps", "v1", True, short_names=("rs",)),
    Resource("targetgroupbindings", "TargetGroupBinding", "elbv2.k8s.aws", "v1beta1", True, custom=True),
)
BY_KIND = {r.kind: r for r in RESOURCES}
BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}


# ---- selectors ----------------------------------------------------------------------------


class SelectorError(ValueError):
    pass


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside parentheses (`a in (x,y),b=c`)."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def parse_label_selector(text: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """Parse the label selector syntax of the API server into (key, op, values) requirements."""
    reqs: list[tuple[str, str, tuple[str, ...]]] = []
    for part in _split_top(text or ""):
        low = part
        if " notin " in low or " in " in low:
            op = "notin" if " notin " in low else "in"
            key, _, rest = part.partition(f" {op} ")
            rest = rest.strip()
            if not (rest.startswith("(") and rest.endswith(")")):
                raise SelectorError(f"unable to parse requirement: {part!r}: found '{rest}', expected: '('")
            values = tuple(v.strip() for v in rest[1:-1].split(",") if v.strip())
            reqs.append((key.strip(), op, values))
        elif "!=" in part:
            key, _, value = part.partition("!=")
            reqs.append((key.strip(), "!=", (value.strip(),)))
        elif "==" in part:
            key, _, value = part.partition("==")
            reqs.append((key.strip(), "=", (value.strip(),)))
        elif "=" in part:
            key, _, value = part.partition("=")
            reqs.append((key.strip(), "=", (value.strip(),)))
        elif part.startswith("!"):
            reqs.append((part[1:].strip(), "!exists", ()))
        elif ">" in part or "<" in part:
            op = ">" if ">" in part else "<"
            key, _, value = part.partition(op)
            reqs.append((key.strip(), op, (value.strip(),)))
        else:
            reqs.append((part, "exists", ()))
    for key, _op, _v in reqs:
        if not key or " " in key:
            raise SelectorError(f"unable to parse requirement: invalid label key {key!r}")
    return reqs


def label_matches(reqs: list[tuple[str, str, tuple[str, ...]]], labels: dict[str, str] | None) -> bool:
    labels = labels or {}
    for key, op, values in reqs:
        present = key in labels
        value = labels.get(key)
        if op == "=" and value != values[0]:
            return False
        if op == "!=" and present and value == values[0]:
            return False
        if op == "in" and value not in values:
            return False
        if op == "notin" and present and value in values:
            return False
        if op == "exists" and not present:
            return False
        if op == "!exists" and present:
            return False
        if op in (">", "<"):
            try:
                lhs, rhs = int(value or ""), int(values[0])
            except ValueError:
                return False
            if (op == ">" and not lhs > rhs) or (op == "<" and not lhs < rhs):
                return False
    return True


def parse_field_selector(text: str) -> list[tuple[str, str, str]]:
    reqs = []
    for part in _split_top(text or ""):
        if "!=" in part:
            key, _, value = part.partition("!=")
            reqs.append((key.strip(), "!=", value.strip()))
        elif "==" in part:
            key, _, value = part.partition("==")
            reqs.append((key.strip(), "=", value.strip()))
        elif "=" in part:
            key, _, value = part.partition("=")
            reqs.append((key.strip(), "=", value.strip()))
        else:
            raise SelectorError(f"invalid selector: '{part}'; can't understand '{part}'")
    return reqs


def _field_value(obj: dict[str, Any], path: str) -> str:
    if path == "source":  # events: source.component
        return str(((obj.get("source") or {}).get("component")) or "")
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


# ---- patches ------------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: dicts merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# patchMergeKey of the list fields lbhealth's fixes touch (and their neighbours), as the
# Kubernetes OpenAPI schema declares them; Service ports are a list-map keyed by (port, protocol).
_MERGE_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",),
    "imagePullSecrets": ("name",),
    "conditions": ("type",),
    "hostAliases": ("ip",),
}


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """A strategic merge patch that is good enough for the objects lbhealth patches.

    It is a JSON merge patch, except that a list field with a patchMergeKey merges item by
    item on it, as the API server does: `_MERGE_KEYS` by field name, and `ports`, which is
    keyed by `containerPort` in a container and by (`port`, `protocol`, default TCP) in a
    Service. `$patch: delete` on an item removes it and `$patch: replace` on a dict replaces
    it. Lists without a merge key (container `args`, `command`) are replaced, as in the real
    API; `$setElementOrder`, `$retainKeys` and `$deleteFromPrimitiveList` are ignored.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and isinstance(result.get(key), list):
            result[key] = _merge_list(key, result[key], value)
        elif isinstance(value, dict):
            result[key] = strategic_merge_patch(result.get(key), value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _merge_keys(field: str, items: list[dict[str, Any]]) -> tuple[str, ...] | None:
    if field == "ports":
        return ("containerPort",) if any("containerPort" in i for i in items) else ("port", "protocol")
    return _MERGE_KEYS.get(field)


def _item_key(item: dict[str, Any], keys: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(item.get(k, "TCP" if k == "protocol" else None) for k in keys)


def _merge_list(field: str, current: list[Any], patch: list[Any]) -> list[Any]:
    items = [i for i in current + patch if isinstance(i, dict)]
    keys = _merge_keys(field, items)
    if keys is None or len(items) != len(current) + len(patch) or not patch:
        return copy.deepcopy(patch)
    out = copy.deepcopy(current)
    for item in patch:
        want = _item_key(item, keys)
        idx = next((n for n, c in enumerate(out) if _item_key(c, keys) == want), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
        elif idx is None:
            out.append({k: copy.deepcopy(v) for k, v in item.items() if k != "$patch"})
        else:
            out[idx] = strategic_merge_patch(out[idx], item)
    return out


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]


def json_patch(target: Any, ops: list[dict[str, Any]]) -> Any:
    """RFC 6902 add/remove/replace/test (what a fix might send)."""
    doc = copy.deepcopy(target)
    for op in ops:
        parts = _pointer(op["path"])
        parent: Any = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent[p]
        last = parts[-1] if parts else None
        kind = op["op"]
        if kind == "test":
            cur = parent[int(last)] if isinstance(parent, list) else parent.get(last)
            if cur != op.get("value"):
                raise ValueError(f"the test operation at {op['path']} failed")
        elif kind in ("add", "replace"):
            if isinstance(parent, list):
                if last == "-":
                    parent.append(op["value"])
                elif kind == "add":
                    parent.insert(int(last), op["value"])
                else:
                    parent[int(last)] = op["value"]
            else:
                if kind == "replace" and last not in parent:
                    raise ValueError(f"replace operation does not apply: doc is missing key: {op['path']}")
                parent[last] = op["value"]
        elif kind == "remove":
            if isinstance(parent, list):
                parent.pop(int(last))
            else:
                if last not in parent:
                    raise ValueError(f"remove operation does not apply: doc is missing key: {op['path']}")
                del parent[last]
        else:
            raise ValueError(f"unsupported JSON patch op {kind}")
    return doc


# ---- the server ---------------------------------------------------------------------------


@dataclass
class RequestRecord:
    method: str
    verb: str  # get | list | patch | create | delete | watch | discovery
    path: str
    query: dict[str, str]
    status: int
    resource: str = ""  # plural, "pods/log" for logs
    namespace: str | None = None
    name: str | None = None
    elapsed_ms: float = 0.0
    body: Any = None
    accept: str = ""
    content_type: str = ""
    user_agent: str = ""
    started: float = 0.0  # time.monotonic() when the request arrived
    finished: float = 0.0  # ... and when its answer was ready (latency included)

    @property
    def query_string(self) -> str:
        return "&".join(f"{k}={v}" for k, v in sorted(self.query.items()))

    @property
    def cluster_wide(self) -> bool:
        return self.verb == "list" and self.namespace is None


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details


class FakeKubeAPI(LoopbackServer):
    """The fake server. Objects are dicts with kind/apiVersion/metadata (as `kubectl get -o json`).

    forbidden: (verb, resource, namespace) triples answered with 403; namespace "*" matches any
    namespace, None matches only cluster-scoped / all-namespaces requests; resource "pods/log"
    for logs.
    absent_apis: group/versions the server does not serve (e.g. "elbv2.k8s.aws/v1beta1" when the
    TargetGroupBinding CRD is not installed, "discovery.k8s.io/v1" for an old cluster).
    logs: {(namespace, pod, container, previous): text}.
    latency_ms: added to every request; change it at any time.
    """

    def __init__(
        self,
        objects: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),
        *,
        latency_ms: float = 0.0,
        forbidden: set[tuple[str, str, str | None]] | None = None,
        absent_apis: set[str] | None = None,
        logs: dict[tuple[str, str, str, bool], str] | None = None,
        user: str = DEFAULT_USER,
        host: str = "127.0.0.1",
        record_bodies: bool = False,
    ) -> None:
        self.latency_ms = latency_ms
        self.forbidden = set(forbidden or ())
        self.absent_apis = set(absent_apis or ())
        self.logs = dict(logs or {})
        self.user = user
        self.host = host
        self.record_bodies = record_bodies
        self._lock = threading.RLock()
        self._store: dict[tuple[str, str | None, str], dict[str, Any]] = {}
        # (plural, namespace) -> keys and plural -> keys: a LIST scans its scope, not the store
        self._scope: dict[tuple[str, str | None], set[tuple[str, str | None, str]]] = {}
        self._plural: dict[str, set[tuple[str, str | None, str]]] = {}
        self._rv = 1000
        self.requests: list[RequestRecord] = []
        self.counters: Counter = Counter()
        self._interleaved: list[list[Any]] = []  # [method, dry_run, times left, fn]
        for obj in objects:
            self.add(obj)

    # ---- fixture management -------------------------------------------------------------

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def add(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store (or replace) an object; it gets a fresh resourceVersion, a uid and a timestamp."""
        kind = obj.get("kind")
        if kind not in BY_KIND:
            raise ValueError(f"the fake API server does not serve kind {kind!r}")
        res = BY_KIND[kind]
        obj = copy.deepcopy(obj)
        obj.setdefault("apiVersion", res.api_version)
        m = obj.setdefault("metadata", {})
        if res.namespaced:
            m.setdefault("namespace", "default")
        else:
            m.pop("namespace", None)
        m.setdefault("uid", str(uuid.uuid4()))
        m.setdefault("creationTimestamp", "2026-11-21T09:00:00Z")
        with self._lock:
            m["resourceVersion"] = self._next_rv()
            self._put((res.plural, m.get("namespace"), m["name"]), obj)
        return obj

    def _put(self, key: tuple[str, str | None, str], obj: dict[str, Any]) -> None:
        self._store[key] = obj
        self._scope.setdefault(key[:2], set()).add(key)
        self._plural.setdefault(key[0], set()).add(key)

    def _pop(self, key: tuple[str, str | None, str]) -> None:
        if self._store.pop(key, None) is not None:
            self._scope.get(key[:2], set()).discard(key)
            self._plural.get(key[0], set()).discard(key)

    def add_many(self, objects: list[dict[str, Any]]) -> None:
        for obj in objects:
            self.add(obj)

    def remove(self, kind: str, namespace: str | None, name: str) -> None:
        with self._lock:
            self._pop((BY_KIND[kind].plural, namespace, name))

    def get_object(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        with self._lock:
            obj = self._store.get((BY_KIND[kind].plural, namespace, name))
            return copy.deepcopy(obj) if obj else None

    def set_log(self, namespace: str, pod: str, container: str, text: str, previous: bool = False) -> None:
        self.logs[(namespace, pod, container, previous)] = text

    def interleave(self, fn: Any, *, method: str = "PATCH", dry_run: bool = False, times: int = 1) -> None:
        """Run `fn(api)` just before the next `times` matching requests are served: another writer
        changing the object between a client's read and its write (dry_run: match `dryRun=All` ones)."""
        with self._lock:
            self._interleaved.append([method, dry_run, times, fn])

    def _run_interleaved(self, method: str, query: dict[str, str]) -> None:
        with self._lock:
            due = []
            for hook in self._interleaved:
                if hook[0] == method and hook[1] == (query.get("dryRun") == "All") and hook[2] > 0:
                    hook[2] -= 1
                    due.append(hook[3])
        for fn in due:
            fn(self)

    # ---- request log --------------------------------------------------------------------

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()
            self.counters.clear()

    def calls(
        self,
        *,
        verb: str | None = None,
        resource: str | None = None,
        namespace: str | None = "*",
        cluster_wide: bool | None = None,
    ) -> list[RequestRecord]:
        """Requests matching every given filter (namespace "*" = any)."""
        with self._lock:
            reqs = list(self.requests)
        out = []
        for r in reqs:
            if verb is not None and r.verb != verb:
                continue
            if resource is not None and r.resource != resource:
                continue
            if namespace != "*" and r.namespace != namespace:
                continue
            if cluster_wide is not None and r.cluster_wide != cluster_wide:
                continue
            out.append(r)
        return out

    def count(self, **filters: Any) -> int:
        return len(self.calls(**filters))

    @property
    def total(self) -> int:
        with self._lock:
            return len(self.requests)

    def per_resource(self) -> Counter:
        """(verb, resource) -> count: handy for 'each kind read once' assertions."""
        return Counter((r.verb, r.resource) for r in self.calls())

    # ---- lifecycle ----------------------------------------------------------------------

    def start(self) -> FakeKubeAPI:
        fake = self

        class Handler(_Handler):
            api = fake

        self._listen(Handler, "fake-kube-api", host=self.host, queue_size=128)
        return self

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ---- clients ------------------------------------------------------------------------

    def configuration(self, pool_maxsize: int = 32):
        from kubernetes.client import Configuration

        cfg = Configuration(host=self.url)
        cfg.connection_pool_maxsize = pool_maxsize
        return cfg

    def api_client(self, pool_maxsize: int = 32):
        """A `kubernetes.client.ApiClient` pointed at this server."""
        from kubernetes.client import ApiClient

        return ApiClient(self.configuration(pool_maxsize))

    def write_kubeconfig(self, path: str, context: str = "fake") -> str:
        """Write a kubeconfig with one context named `context` pointing here; returns the path."""
        import yaml

        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": context, "user": {"token": "fake-token"}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "current-context": context,
        }
        with open(path, "w") as fh:
            yaml.safe_dump(doc, fh)
        return path

    # ---- request handling (called from the handler threads) -----------------------------

    def _forbidden(self, verb: str, resource: str, namespace: str | None) -> bool:
        for f_verb, f_res, f_ns in self.forbidden:
            if f_verb not in (verb, "*") or f_res not in (resource, "*"):
                continue
            if f_ns == "*" or f_ns == namespace:
                return True
        return False

    def _forbidden_error(self, verb: str, res: Resource | None, resource: str, namespace: str | None, name: str | None) -> ApiError:
        group = res.group if res else ""
        subject = f'{resource} "{name}"' if name else resource
        where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
        message = (
            f'{subject} is forbidden: User "{self.user}" cannot {verb} resource "{resource}" '
            f'in API group "{group}"{where}'
        )
        details: dict[str, Any] = {"kind": resource.split("/")[0]}
        if name:
            details["name"] = name
        if group:
            details["group"] = group
        return ApiError(403, "Forbidden", message, details)

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> tuple[int, str, bytes, RequestRecord]:
        parts = urlsplit(raw_path)
        path = parts.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        self._run_interleaved(method, query)
        rec = RequestRecord(
            method=method,
            verb="discovery",
            path=path,
            query=query,
            status=200,
            accept=headers.get("accept", ""),
            content_type=headers.get("content-type", ""),
            user_agent=headers.get("user-agent", ""),
        )
        try:
            status, payload = self._route(method, path, query, headers, body, rec)
        except ApiError as err:
            status = err.code
            payload = {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": err.message,
                "reason": err.reason,
                "details": err.details or {},
                "code": err.code,
            }
        rec.status = status
        if isinstance(payload, str):
            return status, "text/plain", payload.encode(), rec
        return status, "application/json", json.dumps(payload).encode(), rec

    def _route(self, method, path, query, headers, body, rec) -> tuple[int, Any]:
        segs = [s for s in path.split("/") if s]
        if segs[:1] == ["api"]:
            if len(segs) == 1:
                return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
            group, version, rest = "", segs[1], segs[2:]
        elif segs[:1] == ["apis"]:
            if len(segs) == 1:
                return 200, self._api_groups()
            if len(segs) < 3:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            group, version, rest = segs[1], segs[2], segs[3:]
        elif path in ("/version", "/healthz", "/readyz", "/livez"):
            return 200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0-fake"} if path == "/version" else "ok"
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        gv = f"{group}/{version}" if group else version
        if not rest:
            if gv in self.absent_apis or not any(r.group == group and r.version == version for r in RESOURCES):
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return 200, self._resource_list(group, version)
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        rec.namespace, rec.name = namespace, name
        rec.resource = f"{plural}/{sub}" if sub else plural
        if method == "GET":
            rec.verb = "watch" if query.get("watch") in ("true", "1") else ("get" if name else "list")
        else:
            rec.verb = {"PATCH": "patch", "POST": "create", "DELETE": "delete", "PUT": "update"}.get(method, method.lower())
        res = BY_PATH.get((group, version, plural))
        if res is None or gv in self.absent_apis:
            # an API group/version the server does not serve (e.g. a CRD that is not installed)
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if rec.verb == "watch":
            raise ApiError(405, "MethodNotAllowed", "the fake API server does not serve watches")
        if rec.verb not in ("get", "list", "patch", "create", "delete", "update"):
            raise ApiError(405, "MethodNotAllowed", f"method {method} not allowed")
        if self._forbidden(rec.verb, rec.resource, namespace):
            raise self._forbidden_error(rec.verb, res, rec.resource, namespace, name)
        if res.namespaced is False and namespace is not None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")

        if sub == "log" and res.plural == "pods" and method == "GET":
            return 200, self._pod_log(namespace, name, query)
        if sub is not None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if method == "GET" and name:
            return 200, self._get(res, namespace, name)
        if method == "GET":
            metadata_only = "as=PartialObjectMetadataList" in (headers.get("accept") or "")
            return 200, self._list(res, namespace, query, metadata_only=metadata_only)
        if method == "PATCH" and name:
            ctype = (headers.get("content-type") or "").split(";")[0].strip()
            return 200, self._patch(res, namespace, name, ctype, body, query)
        if method == "POST" and not name:
            return 201, self._create(res, namespace, body, query)
        if method == "DELETE" and name:
            return 200, self._delete(res, namespace, name, query)
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on {path}")

    def _api_groups(self) -> dict[str, Any]:
        groups: dict[str, list[str]] = {}
        for r in RESOURCES:
            if r.group and r.api_version not in self.absent_apis:
                groups.setdefault(r.group, [])
                if r.version not in groups[r.group]:
                    groups[r.group].append(r.version)
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [
                {
                    "name": g,
                    "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
                    "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]},
                }
                for g, vs in groups.items()
            ],
        }

    def _resource_list(self, group: str, version: str) -> dict[str, Any]:
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": [
                {
                    "name": r.plural,
                    "singularName": r.kind.lower(),
                    "namespaced": r.namespaced,
                    "kind": r.kind,
                    "verbs": ["create", "delete", "get", "list", "patch", "update"],
                    **({"shortNames": list(r.short_names)} if r.short_names else {}),
                }
                for r in RESOURCES
                if r.group == group and r.version == version
            ],
        }

    def _not_found(self, res: Resource, name: str) -> ApiError:
        details: dict[str, Any] = {"name": name, "kind": res.plural}
        if res.group:
            details["group"] = res.group
        prefix = f"{res.plural}.{res.group}" if res.group else res.plural
        return ApiError(404, "NotFound", f'{prefix} "{name}" not found', details)

    def _get(self, res: Resource, namespace: str | None, name: str) -> dict[str, Any]:
        with self._lock:
            obj = self._store.get((res.plural, namespace, name))
            if obj is None:
                raise self._not_found(res, name)
            return copy.deepcopy(obj)

    def _list(self, res: Resource, namespace: str | None, query: dict[str, str], *, metadata_only: bool = False) -> dict[str, Any]:
        """A LIST; `metadata_only` answers `Accept: application/json;as=PartialObjectMetadataList;...`."""
        try:
            lreqs = parse_label_selector(query.get("labelSelector", ""))
            freqs = parse_field_selector(query.get("fieldSelector", ""))
        except SelectorError as exc:
            raise ApiError(400, "BadRequest", str(exc)) from None
        allowed = {"metadata.name", "metadata.namespace", *res.fields}
        for key, _op, _v in freqs:
            if key not in allowed:
                raise ApiError(
                    400,
                    "BadRequest",
                    f'field label not supported: {key}',
                )
        with self._lock:
            rv = str(self._rv)
            scope = self._plural.get(res.plural, set()) if namespace is None else self._scope.get((res.plural, namespace), set())
            keys = sorted(scope, key=lambda k: (k[1] or "", k[2]))
            items = []
            for key in keys:
                obj = self._store[key]
                m = obj.get("metadata") or {}
                if lreqs and not label_matches(lreqs, m.get("labels")):
                    continue
                ok = True
                for fkey, op, value in freqs:
                    actual = _field_value(obj, fkey)
                    if (op == "=" and actual != value) or (op == "!=" and actual == value):
                        ok = False
                        break
                if ok:
                    items.append(obj)
            start = 0
            token = query.get("continue")
            if token:
                try:
                    state = json.loads(base64.urlsafe_b64decode(token.encode()).decode())
                    start = int(state["start"])
                except Exception:
                    raise ApiError(400, "BadRequest", "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)") from None
                rv = str(state.get("rv", rv))
            limit = int(query.get("limit") or 0)
            page = items[start : start + limit] if limit > 0 else items[start:]
            page = [copy.deepcopy(o) for o in page]
        list_meta: dict[str, Any] = {"resourceVersion": rv}
        end = start + len(page)
        if limit > 0 and end < len(items):
            list_meta["continue"] = base64.urlsafe_b64encode(json.dumps({"rv": rv, "start": end}).encode()).decode()
            list_meta["remainingItemCount"] = len(items) - end
        if metadata_only:
            items_meta = [{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata") or {}} for o in page]
            return {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "items": items_meta}
        if not res.custom:
            for o in page:  # built-in LIST items carry no kind/apiVersion
                o.pop("kind", None)
                o.pop("apiVersion", None)
        return {"kind": f"{res.kind}List", "apiVersion": res.api_version, "metadata": list_meta, "items": page}

    def _pod_log(self, namespace: str | None, name: str | None, query: dict[str, str]) -> str:
        with self._lock:
            pod = self._store.get(("pods", namespace, name or ""))
        if pod is None:
            raise self._not_found(BY_KIND["Pod"], name or "")
        containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        container = query.get("container")
        if not container:
            if len(containers) != 1:
                raise ApiError(
                    400,
                    "BadRequest",
                    f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]",
                )
            container = containers[0]
        if container not in containers:
            raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
        previous = query.get("previous") in ("true", "1", "True")
        text = self.logs.get((namespace, name, container, previous))
        if text is None:
            if previous:
                raise ApiError(400, "BadRequest", f'previous terminated container "{container}" in pod "{name}" not found')
            text = ""
        tail = query.get("tailLines")
        if tail:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-int(tail) :]) if int(tail) > 0 else ""
        return text

    def _patch(self, res, namespace, name, ctype, body, query) -> dict[str, Any]:
        try:
            patch = json.loads(body or b"null")
        except ValueError as exc:
            raise ApiError(400, "BadRequest", f"the body of the request was in an unknown format: {exc}") from None
        with self._lock:
            current = self._store.get((res.plural, namespace, name))
            if current is None:
                raise self._not_found(res, name)
            try:
                if ctype == "application/merge-patch+json":
                    new = merge_patch(current, patch)
                elif ctype == "application/strategic-merge-patch+json":
                    if res.custom:
                        raise ApiError(
                            415,
                            "UnsupportedMediaType",
                            "strategic merge patch is not supported for custom resources",
                        )
                    new = strategic_merge_patch(current, patch)
                elif ctype == "application/json-patch+json":
                    new = json_patch(current, patch)
                elif ctype == "application/apply-patch+yaml":
                    raise ApiError(415, "UnsupportedMediaType", "the fake API server does not implement server-side apply")
                else:
                    raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {ctype!r})")
            except (KeyError, IndexError, ValueError, TypeError) as exc:
                raise ApiError(422, "Invalid", f"the patch could not be applied: {exc}") from None
            # As the API server: a resourceVersion in the patched object (set by any patch type) is a
            # precondition of the update; the patch leaves it as it was unless it names one.
            wanted_rv = ((new.get("metadata") or {}) if isinstance(new, dict) else {}).get("resourceVersion")
            cur_meta = current["metadata"]
            if wanted_rv is not None and str(wanted_rv) != cur_meta["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {res.plural} "{name}": the object has been modified; '
                    "please apply your changes to the latest version and try again",
                    {"name": name, "kind": res.plural},
                )
            new.setdefault("metadata", {})
            for immutable in ("name", "namespace", "uid", "creationTimestamp"):
                if immutable in cur_meta:
                    new["metadata"][immutable] = cur_meta[immutable]
            new["kind"], new["apiVersion"] = current["kind"], current["apiVersion"]
            if query.get("dryRun") == "All":
                new["metadata"]["resourceVersion"] = cur_meta["resourceVersion"]
                return new
            if new == current:
                return copy.deepcopy(current)  # no-op patches do not bump resourceVersion
            new["metadata"]["resourceVersion"] = self._next_rv()
            if "spec" in new and new.get("spec") != current.get("spec") and "generation" in cur_meta:
                new["metadata"]["generation"] = int(cur_meta["generation"]) + 1
            self._put((res.plural, namespace, name), new)
            return copy.deepcopy(new)

    def _create(self, res, namespace, body, query) -> dict[str, Any]:
        obj = json.loads(body or b"{}")
        m = obj.setdefault("metadata", {})
        if not m.get("name") and m.get("generateName"):
            m["name"] = m["generateName"] + uuid.uuid4().hex[:5]
        if res.namespaced:
            m["namespace"] = namespace
        obj.setdefault("kind", res.kind)
        obj.setdefault("apiVersion", res.api_version)
        with self._lock:
            if (res.plural, m.get("namespace"), m.get("name")) in self._store:
                raise ApiError(409, "AlreadyExists", f'{res.plural} "{m.get("name")}" already exists', {"name": m.get("name"), "kind": res.plural})
            if query.get("dryRun") == "All":
                return obj
            return copy.deepcopy(self.add(obj))

    def _delete(self, res, namespace, name, query) -> dict[str, Any]:
        with self._lock:
            key = (res.plural, namespace, name)
            if key not in self._store:
                raise self._not_found(res, name)
            obj = copy.deepcopy(self._store[key])
            if query.get("dryRun") != "All":
                self._pop(key)
            return obj

    def _record(self, rec: RequestRecord) -> None:
        with self._lock:
            self.requests.append(rec)
            self.counters[(rec.verb, rec.path, rec.query_string)] += 1


class _Handler(BaseHTTPRequestHandler):
    api: FakeKubeAPI
    protocol_version = "HTTP/1.1"  # keep-alive, as the API server; every answer has a length
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _serve(self) -> None:
        started = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, ctype, payload, rec = self.api.handle(self.command, self.path, headers, body)
        if self.api.record_bodies and body:
            try:
                rec.body = json.loads(body)
            except ValueError:
                rec.body = body
        if self.api.latency_ms:
            time.sleep(self.api.latency_ms / 1000.0)
        rec.started, rec.finished = started, time.monotonic()
        rec.elapsed_ms = (rec.finished - started) * 1000
        self.api._record(rec)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_PATCH = do_POST = do_DELETE = do_PUT = _serve


def main() -> None:
    """`python -m tests.fakes.kube_api EXAMPLE_DIR KUBECONFIG`: serve an example's `kubectl-get.yaml` as a
    live cluster on a free loopback port until interrupted; KUBECONFIG gets a context named `fake`."""
    import sys

    import yaml

    objects: list[dict[str, Any]] = []
    with open(f"{sys.argv[1]}/kubectl-get.yaml", encoding="utf-8") as fh:
        for doc in yaml.safe_load_all(fh):
            if doc:
                objects.extend(doc.get("items") or [] if doc.get("kind") == "List" else [doc])
    api = FakeKubeAPI(objects).start()
    api.write_kubeconfig(sys.argv[2])
    print(f"serving {len(objects)} objects of {sys.argv[1]} at {api.url}; kubeconfig {sys.argv[2]} (context fake)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        api.stop()


if __name__ == "__main__":
    main()
