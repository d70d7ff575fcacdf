"""The live Kubernetes collector: the only code that calls the Kubernetes API to read.

It reads what the selected checks declare (`k8s.*` reads), each kind once, namespace- and
selector-scoped, with independent calls in parallel:

wave 1 (parallel, needs only the target's name):
    GET service; LIST endpointslices ?labelSelector=kubernetes.io/service-name=<svc> (GET
    endpoints only when the EndpointSlice API is absent); LIST ingresses, LIST events
    ?fieldSelector=type=Warning, LIST networkpolicies, LIST targetgroupbindings (404 = CRD not
    installed) in the namespace; LIST nodes; GET kube-system daemonset kube-proxy + LIST
    kube-system pods ?labelSelector=k8s-app=kube-proxy
wave 2 (parallel, needs the Service):
    LIST pods in the namespace ?labelSelector=<the Service's selector> (never a cluster-wide
    pod list); GET kube-system deployment aws-load-balancer-controller only for an AWS load
    balancer; LIST services cluster-wide only when the Service does not exist (suggestions)
wave 3 (parallel, only when a finding will need it):
    LIST pods in the namespace (limit 500) when the selector matches no pod (the near miss);
    previous logs (tailLines=20) of at most 3 restarted / CrashLoopBackOff containers; the
    controller's logs (tailLines=200) when it is unhealthy or Warning events point at it;
    kube-proxy logs of not-ready kube-proxy pods on the target nodes.

Responses are read with `_preload_content=False` and `json.loads`, so objects keep the exact
`kubectl get -o json` shape (camelCase); LIST items get back the kind/apiVersion that LIST
responses leave out. Every call is counted in `state.api_calls["k8s"]`.

A read that fails (403, 404 of an API, 5xx, timeout) is recorded in `state.read_errors`
with what to grant or fix; an API server that cannot be reached at all, or no configuration,
raises `CollectError` (the CLI exits 3).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from checks.collect.errors import CollectError
from checks.state import State, annotations, meta

log = logging.getLogger(__name__)

KUBE_SYSTEM = "kube-system"
KUBE_PROXY = "kube-proxy"
KUBE_PROXY_SELECTOR = "k8s-app=kube-proxy"
LBC_NAME = "aws-load-balancer-controller"
LBC_DEFAULT_SELECTOR = "app.kubernetes.io/name=aws-load-balancer-controller"
TGB_GROUP, TGB_VERSION, TGB_PLURAL = "elbv2.k8s.aws", "v1beta1", "targetgroupbindings"

JSON = "application/json"
PAGE = 500  # items per LIST page
NAMES_PAGE = 5000  # metadata-only pages (Service names for suggestions) are small
# Ask for metadata only (names, namespaces, labels): what the close-name suggestions need.
PARTIAL_METADATA = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
MAX_PAGES = 20  # a selector-scoped list larger than 10,000 items is truncated (and said so)
MAX_PREVIOUS_LOGS = 3
MAX_KUBE_PROXY_LOGS = 3
PREVIOUS_TAIL = 20
LBC_TAIL = 200
KUBE_PROXY_TAIL = 50
POOL_SIZE = 32  # urllib3 connections: enough for every parallel call of a wave (and a few jobs)
DEFAULT_TIMEOUT = (3.05, 30.0)  # (connect, read) seconds, per call

K8S_READS = frozenset(
    {
        "k8s.service", "k8s.pods", "k8s.namespace_pods", "k8s.services", "k8s.endpoints",
        "k8s.nodes", "k8s.ingresses", "k8s.events", "k8s.networkpolicies",
        "k8s.targetgroupbindings", "k8s.kube_proxy", "k8s.lbc", "k8s.logs",
    }
)

# Warning events that point at the AWS Load Balancer Controller (its reasons and the AWS errors it reports).
LBC_EVENT_REASONS = ("FailedDeployModel", "FailedBuildModel", "FailedNetworkReconcile", "FailedCleanup", "BackendNotFound")
LBC_EVENT_WORDS = ("aws-load-balancer-controller", "AccessDenied", "UnauthorizedOperation", "elasticloadbalancing:")


# ---- client construction ------------------------------------------------------------------


def api_path(
    resource: str, namespace: str | None = None, name: str | None = None, *, group: str = "", version: str = "v1", sub: str | None = None
) -> str:
    """The REST path of a resource: /api/v1/... for the core group, /apis/GROUP/VERSION/... otherwise."""
    parts = ["api", version] if not group else ["apis", group, version]
    if namespace is not None:
        parts += ["namespaces", quote(namespace, safe="")]
    parts.append(resource)
    if name is not None:
        parts.append(quote(name, safe=""))
    if sub is not None:
        parts.append(sub)
    return "/" + "/".join(parts)


def make_api_client(context: str | None = None, *, pool_maxsize: int = POOL_SIZE) -> Any:
    """A `kubernetes.client.ApiClient` from the kubeconfig (`context`) or the in-cluster config.

    In-cluster config is used when no context is asked for, KUBECONFIG is not set and the
    process runs in a pod; otherwise the kubeconfig (KUBECONFIG or ~/.kube/config).
    """
    from kubernetes import client, config

    cfg = client.Configuration()
    in_cluster = context is None and not os.environ.get("KUBECONFIG") and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    try:
        if in_cluster:
            config.load_incluster_config(client_configuration=cfg)
        else:
            # KUBECONFIG read now, not when the kubernetes package was imported (its default)
            config.load_kube_config(config_file=os.environ.get("KUBECONFIG") or None, context=context, client_configuration=cfg)
    except Exception as exc:  # ConfigException, FileNotFoundError, a bad YAML file, ...
        where = f"context '{context}' of the kubeconfig" if context else ("the in-cluster service account" if in_cluster else "the kubeconfig")
        raise CollectError(
            f"no usable Kubernetes configuration ({where}): {exc} — set KUBECONFIG, pass --context, or run the worker in the cluster"
        ) from exc
    cfg.connection_pool_maxsize = max(pool_maxsize, cfg.connection_pool_maxsize or 0)
    return client.ApiClient(cfg)


def api_host(api_client: Any) -> str:
    try:
        return str(api_client.configuration.host)
    except AttributeError:
        return "<unknown>"


# ---- errors ---------------------------------------------------------------------------------


class Unreachable(Exception):
    """A call that never got an HTTP answer (connection refused, DNS, TLS, timeout)."""


def _status_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        data = json.loads(body) if body else {}
        if isinstance(data, dict) and data.get("message"):
            return str(data["message"])
    except (TypeError, ValueError):
        pass
    return (str(body).strip()[:200] if body else "") or str(getattr(exc, "reason", "") or exc)


def describe_error(exc: Exception, verb: str, resource: str, group: str, namespace: str | None) -> str:
    """One line a person can act on: for 403 the exact RBAC verb, resource, group and namespace."""
    status = getattr(exc, "status", None)
    grp = group or "core"
    where = f"in namespace {namespace}" if namespace else "at cluster scope"
    if status == 403:
        role = "" if namespace else " in a ClusterRole"
        return f"forbidden: cannot {verb} {resource} {where} — grant RBAC verb '{verb}' on resource '{resource}' (group {grp}){role}"
    if status == 401:
        return "unauthorized: the API server rejected the credentials (HTTP 401) — refresh the kubeconfig or the service account token"
    if status == 404:
        return f"not found: {_status_message(exc)}"
    if isinstance(exc, Unreachable):
        return f"no answer from the API server: {exc}"
    if status:
        return f"HTTP {status} from the API server on {verb} {resource} {where}: {_status_message(exc)}"
    return f"{type(exc).__name__}: {exc}"


def _reason_text(exc: Exception) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = str(reason)
    for needle, short in (
        ("Connection refused", "connection refused"),
        ("Name or service not known", "the host name does not resolve"),
        ("nodename nor servname", "the host name does not resolve"),
        ("timed out", "timed out"),
        ("CERTIFICATE_VERIFY_FAILED", "TLS certificate verification failed"),
    ):
        if needle in text:
            return short
    return text[:300]


# ---- results --------------------------------------------------------------------------------


@dataclass
class _Result:
    read: str
    objects: list[dict[str, Any]] = field(default_factory=list)
    error: Exception | None = None
    verb: str = "list"
    resource: str = ""
    group: str = ""
    namespace: str | None = None
    truncated: bool = False
    log_key: tuple[str, str, str, bool] | None = None
    log_text: str | None = None

    @property
    def status(self) -> int | None:
        return getattr(self.error, "status", None) if self.error else None

    @property
    def not_found(self) -> bool:
        return self.status == 404

    def describe(self) -> str:
        assert self.error is not None
        return describe_error(self.error, self.verb, self.resource, self.group, self.namespace)


# ---- the collector --------------------------------------------------------------------------


class KubeCollector:
    """Reads the `k8s.*` state of one diagnosis into `state`. Call wave1(), then wave2()."""

    def __init__(
        self,
        state: State,
        reads: Iterable[str],
        api_client: Any,
        *,
        executor: Executor | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        self.state = state
        self.reads = set(reads) & K8S_READS
        self.api_client = api_client
        self.timeout = timeout
        self._own_executor = executor is None
        self.executor = executor or ThreadPoolExecutor(max_workers=12, thread_name_prefix="k8s-read")
        self._lock = threading.Lock()
        self.ns = state.target.namespace
        self.name = state.target.service
        self.service_found: bool | None = None
        self.kube_proxy_pods: list[dict[str, Any]] = []
        self.lbc_deployment: dict[str, Any] | None = None

    def close(self) -> None:
        if self._own_executor:
            self.executor.shutdown(wait=False)

    # ---- low level ----------------------------------------------------------------------

    def _count(self) -> None:
        with self._lock:
            self.state.api_calls["k8s"] += 1

    def _raw(self, path: str, query: dict[str, Any] | None = None, accept: str = JSON) -> bytes:
        """One GET through the ApiClient (its kubeconfig auth, token refresh and TLS), body unparsed.

        The typed API classes (CoreV1Api, ...) are not used: importing them builds the client's
        pydantic models, about 0.8 s of a CLI run, to read JSON the State keeps as dicts anyway.
        Non-2xx answers raise the client's ApiException; urllib3 errors become Unreachable.
        """
        import urllib3
        from kubernetes.client.exceptions import ApiException

        self._count()
        params = [(k, v) for k, v in (query or {}).items() if v is not None]
        try:
            request = self.api_client.param_serialize(
                "GET", path, query_params=params, header_params={"Accept": accept}, auth_settings=["BearerToken"]
            )
            resp = self.api_client.call_api(*request, _request_timeout=self.timeout)
        except urllib3.exceptions.HTTPError as exc:
            raise Unreachable(_reason_text(exc)) from exc
        try:
            data = resp.read()
        finally:
            resp.response.release_conn()
        if not 200 <= resp.status <= 299:  # the client's own exception for the status (NotFoundException, ...)
            raise ApiException.from_response(http_resp=resp, body=None, data=None)
        return data

    def _get(self, path: str, **query: Any) -> dict[str, Any]:
        return json.loads(self._raw(path, query))

    def _list(
        self,
        path: str,
        *,
        max_pages: int = MAX_PAGES,
        limit: int = PAGE,
        as_kind: tuple[str, str] | None = None,
        accept: str = JSON,
        **query: Any,
    ) -> tuple[list[dict[str, Any]], bool]:
        """LIST with `limit`/`continue`; items get kind/apiVersion back. Returns (items, truncated).

        `as_kind` (kind, apiVersion) names metadata-only items (PartialObjectMetadata) by what they are.
        """
        items: list[dict[str, Any]] = []
        token: str | None = None
        for _ in range(max_pages):
            data = json.loads(self._raw(path, {**query, "limit": limit, "continue": token}, accept))
            kind = str(data.get("kind") or "")
            kind = kind[:-4] if kind.endswith("List") else kind
            api_version = data.get("apiVersion") or ""
            for item in data.get("items") or []:
                item.setdefault("kind", kind)
                item.setdefault("apiVersion", api_version)
                if as_kind and item["kind"] == "PartialObjectMetadata":
                    item["kind"], item["apiVersion"] = as_kind
                items.append(item)
            token = (data.get("metadata") or {}).get("continue") or None
            if not token:
                return items, False
        return items, True

    def _run(self, tasks: list[Callable[[], _Result]]) -> list[_Result]:
        if not tasks:
            return []
        if len(tasks) == 1:
            return [tasks[0]()]
        futures = [self.executor.submit(t) for t in tasks]
        return [f.result() for f in futures]

    def _task(self, read: str, verb: str, resource: str, group: str, namespace: str | None, body: Callable[[_Result], None]) -> Callable[[], _Result]:
        def run() -> _Result:
            res = _Result(read=read, verb=verb, resource=resource, group=group, namespace=namespace)
            try:
                body(res)
            except Unreachable as exc:
                res.error = exc
            except Exception as exc:  # ApiException and anything unexpected: recorded, never raised
                if getattr(exc, "status", None) is None and type(exc).__name__ != "ApiException":
                    log.warning("k8s read %s failed", read, exc_info=True)
                res.error = exc
            return res

        return run

    # ---- merging results into state (main thread only) ----------------------------------

    def _add_objects(self, objects: list[dict[str, Any]]) -> None:
        for obj in objects:
            self.state.k8s.add(obj)

    def _merge(self, results: list[_Result], *, tolerate_404: bool = False) -> None:
        for r in results:
            self._add_objects(r.objects)
            if r.log_key is not None and r.log_text is not None:
                self.state.k8s.logs[r.log_key] = r.log_text
            if r.error is not None and not (tolerate_404 and r.not_found):
                self.state.read_errors.setdefault(r.read, r.describe())
            self.state.reads_done.add(r.read)
            if r.truncated:
                log.warning("k8s read %s truncated after %d items", r.read, len(r.objects))

    # ---- wave 1 -------------------------------------------------------------------------

    def wave1(self) -> None:
        """Everything that needs only the target's namespace and name, in parallel."""
        if not self.reads:
            return
        ns, name = self.ns, self.name
        tasks: list[Callable[[], _Result]] = []

        def service(r: _Result) -> None:
            r.objects = [self._get(api_path("services", ns, name))]

        tasks.append(self._task("k8s.service", "get", "services", "", ns, service))

        if "k8s.endpoints" in self.reads:

            def slices(r: _Result) -> None:
                r.objects, r.truncated = self._list(
                    api_path("endpointslices", ns, group="discovery.k8s.io"), labelSelector=f"kubernetes.io/service-name={name}"
                )

            tasks.append(self._task("k8s.endpoints", "list", "endpointslices", "discovery.k8s.io", ns, slices))

        simple = (
            ("k8s.ingresses", "ingresses", "networking.k8s.io", {}),
            ("k8s.events", "events", "", {"fieldSelector": "type=Warning", "max_pages": 1}),
            ("k8s.networkpolicies", "networkpolicies", "networking.k8s.io", {}),
        )
        for read, resource, group, kwargs in simple:
            if read in self.reads:

                def lister(r: _Result, path: str = api_path(resource, ns, group=group), kwargs: dict[str, Any] = kwargs) -> None:
                    r.objects, r.truncated = self._list(path, **kwargs)

                tasks.append(self._task(read, "list", resource, group, ns, lister))

        if "k8s.nodes" in self.reads:

            def nodes(r: _Result) -> None:
                r.objects, r.truncated = self._list(api_path("nodes"))

            tasks.append(self._task("k8s.nodes", "list", "nodes", "", None, nodes))

        if "k8s.targetgroupbindings" in self.reads:

            def tgbs(r: _Result) -> None:
                r.objects, r.truncated = self._list(api_path(TGB_PLURAL, ns, group=TGB_GROUP, version=TGB_VERSION))

            tasks.append(self._task("k8s.targetgroupbindings", "list", TGB_PLURAL, TGB_GROUP, ns, tgbs))

        if "k8s.kube_proxy" in self.reads:

            def kp_ds(r: _Result) -> None:
                r.objects = [self._get(api_path("daemonsets", KUBE_SYSTEM, KUBE_PROXY, group="apps"))]

            def kp_pods(r: _Result) -> None:
                r.objects, r.truncated = self._list(api_path("pods", KUBE_SYSTEM), labelSelector=KUBE_PROXY_SELECTOR)

            tasks.append(self._task("k8s.kube_proxy", "get", "daemonsets", "apps", KUBE_SYSTEM, kp_ds))
            tasks.append(self._task("k8s.kube_proxy", "list", "pods", "", KUBE_SYSTEM, kp_pods))

        results = self._run(tasks)
        svc = results[0]
        self._raise_if_unreachable(svc)

        endpoint_fallback = False
        for r in results:
            if r.read == "k8s.service":
                self.service_found = r.error is None
                if r.not_found:
                    r.error = None  # "not found" is a finding (K8S-SVC-EXISTS), not a failed read
            elif r.read == "k8s.endpoints" and r.not_found:
                endpoint_fallback = True  # no EndpointSlice API: read the Endpoints object in wave 2
                r.error = None
            elif r.read == "k8s.targetgroupbindings" and r.not_found:
                r.error = None  # the CRD is not installed: nothing to read
            elif r.read == "k8s.kube_proxy":
                if r.resource == "daemonsets" and r.not_found:
                    r.error = None  # kube-proxy as a DaemonSet is not installed (e.g. replaced by Cilium)
                if r.resource == "pods" and r.error is None:
                    self.kube_proxy_pods = list(r.objects)
        self._merge(results)
        if endpoint_fallback:
            self.state.reads_done.discard("k8s.endpoints")
        self._endpoint_fallback = endpoint_fallback

    def _raise_if_unreachable(self, r: _Result) -> None:
        host = api_host(self.api_client)
        if isinstance(r.error, Unreachable):
            raise CollectError(
                f"cannot reach the Kubernetes API at {host}: {r.error} — check the kube context (--context), "
                "the network or VPN to the API server, or try `kubectl cluster-info`"
            )
        if r.error is not None and r.status == 0:  # the client's wrapper around TLS failures
            reason = str(getattr(r.error, "reason", "") or r.error).splitlines()[-1][:300]
            raise CollectError(f"cannot reach the Kubernetes API at {host}: TLS error: {reason}")
        if r.status == 401:
            raise CollectError(
                f"the Kubernetes API at {host} rejected the credentials (HTTP 401: {_status_message(r.error)}) — "
                "refresh the kubeconfig or the service account token"
            )

    # ---- wave 2 and the follow-ups -------------------------------------------------------

    @property
    def service(self) -> dict[str, Any] | None:
        return self.state.service

    def aws_ish(self) -> bool:
        """An AWS load balancer fronts (or should front) the Service, so the controller matters.

        AWS annotations or `loadBalancerClass: service.k8s.aws/*` on the Service, an ELB hostname
        in its or its Ingresses' status, an Ingress of class `alb` or with `alb.ingress...`
        annotations, a TargetGroupBinding naming it, or a LoadBalancer Service on EC2 nodes.
        """
        svc = self.service or {}
        spec = svc.get("spec") or {}
        if (spec.get("loadBalancerClass") or "").startswith("service.k8s.aws/"):
            return True
        if any(k.startswith(("service.beta.kubernetes.io/aws-", "service.kubernetes.io/aws-")) for k in annotations(svc)):
            return True
        fronts = [svc, *self.state.ingresses]
        for obj in fronts:
            for lb in ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
                if (lb.get("hostname") or "").endswith((".elb.amazonaws.com", ".elb.amazonaws.com.cn")):
                    return True
        for ing in self.state.ingresses:
            cls = (ing.get("spec") or {}).get("ingressClassName") or annotations(ing).get("kubernetes.io/ingress.class", "")
            if cls == "alb" or any(k.startswith("alb.ingress.kubernetes.io/") for k in annotations(ing)):
                return True
        for tgb in self.state.k8s.of_kind("TargetGroupBinding", self.ns):
            if (((tgb.get("spec") or {}).get("serviceRef") or {}).get("name")) == self.name:
                return True
        if spec.get("type") == "LoadBalancer":
            return any(((n.get("spec") or {}).get("providerID") or "").startswith("aws://") for n in self.state.nodes)
        return False

    def wave2(self) -> None:
        """Reads that need the Service (parallel), then the conditional follow-ups (parallel)."""
        if not self.reads:
            return
        ns = self.ns
        tasks: list[Callable[[], _Result]] = []
        svc = self.service
        selector = ((svc or {}).get("spec") or {}).get("selector") or {}

        if svc is None and self.service_found is False and "k8s.services" in self.reads:

            def services(r: _Result) -> None:
                # names only matter: metadata-only pages, so 10,000 Services cost 2 small calls
                r.objects, r.truncated = self._list(
                    api_path("services"),
                    limit=NAMES_PAGE,
                    max_pages=4,
                    as_kind=("Service", "v1"),
                    accept=PARTIAL_METADATA,
                )

            tasks.append(self._task("k8s.services", "list", "services", "", None, services))
        elif "k8s.services" in self.reads:
            self.state.skipped_reads.setdefault("k8s.services", "not needed: the Service exists" if svc else "the Service could not be read")

        pods_read = False
        if svc is not None and {"k8s.pods", "k8s.namespace_pods"} & self.reads:
            if selector:
                sel = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))

                def pods(r: _Result) -> None:
                    r.objects, r.truncated = self._list(api_path("pods", ns), labelSelector=sel)

                tasks.append(self._task("k8s.pods", "list", "pods", "", ns, pods))
                pods_read = True
            else:
                self.state.reads_done.add("k8s.pods")  # a Service without a selector selects no pod
                self.state.skipped_reads.setdefault("k8s.namespace_pods", "not needed: the Service has no selector (its endpoints are managed by hand)")

        if "k8s.lbc" in self.reads and svc is not None:
            if self.aws_ish():

                def lbc(r: _Result) -> None:
                    r.objects = [self._get(api_path("deployments", KUBE_SYSTEM, LBC_NAME, group="apps"))]

                tasks.append(self._task("k8s.lbc", "get", "deployments", "apps", KUBE_SYSTEM, lbc))
            else:
                self.state.skipped_reads.setdefault("k8s.lbc", "not an AWS load balancer: no ALB/NLB annotation, alb ingress class or ELB hostname")

        if getattr(self, "_endpoint_fallback", False):

            def endpoints(r: _Result) -> None:
                r.objects = [self._get(api_path("endpoints", ns, self.name))]

            tasks.append(self._task("k8s.endpoints", "get", "endpoints", "", ns, endpoints))

        results = self._run(tasks)
        for r in results:
            if r.read == "k8s.lbc" and r.error is None and r.objects:
                self.lbc_deployment = r.objects[0]
        self._merge(results, tolerate_404=True)  # 404: no controller / no Endpoints object
        self.followups(selector if pods_read else None)

    def _selected_pods(self, selector: dict[str, str]) -> list[dict[str, Any]]:
        return self.state.k8s.select("Pod", self.ns, selector)

    def followups(self, selector: dict[str, str] | None) -> None:
        ns = self.ns
        tasks: list[Callable[[], _Result]] = []
        selected = self._selected_pods(selector) if selector else []

        # The near miss: the selector matches no pod, so show the pods that do exist.
        if selector is not None and "k8s.namespace_pods" in self.reads:
            if not selected and "k8s.pods" not in self.state.read_errors:

                def ns_pods(r: _Result) -> None:
                    r.objects, r.truncated = self._list(api_path("pods", ns), max_pages=1)

                tasks.append(self._task("k8s.namespace_pods", "list", "pods", "", ns, ns_pods))
            elif selected:
                self.state.skipped_reads.setdefault(
                    "k8s.namespace_pods", f"not needed: the selector matches {len(selected)} pod(s)"
                )

        if "k8s.logs" in self.reads:
            tasks.extend(self._previous_log_tasks(selected))
            tasks.extend(self._lbc_log_tasks())
            tasks.extend(self._kube_proxy_log_tasks(selected))
        results = self._run(tasks)
        # Logs of containers that never restarted / were deleted meanwhile: not an error worth a finding.
        self._merge(results, tolerate_404=True)
        if "k8s.logs" in self.reads:
            self.state.reads_done.add("k8s.logs")

    def _log_task(self, read: str, pod: str, namespace: str, container: str, previous: bool, tail: int) -> Callable[[], _Result]:
        def body(r: _Result) -> None:
            try:
                data = self._raw(
                    api_path("pods", namespace, pod, sub="log"),
                    {"container": container, "previous": "true" if previous else None, "tailLines": tail},
                    accept="*/*",
                )
            except Exception as exc:
                # 400 "previous terminated container ... not found": the runtime kept no earlier log
                if getattr(exc, "status", None) == 400 and "not found" in _status_message(exc):
                    return
                raise
            r.log_key = (namespace, pod, container, previous)
            r.log_text = data.decode("utf-8", "replace")

        return self._task(read, "get", "pods/log", "", namespace, body)

    def _previous_log_tasks(self, selected: list[dict[str, Any]]) -> list[Callable[[], _Result]]:
        wanted: list[tuple[int, str, str]] = []
        for pod in selected:
            for cs in (pod.get("status") or {}).get("containerStatuses") or []:
                waiting = ((cs.get("state") or {}).get("waiting") or {}).get("reason")
                restarts = int(cs.get("restartCount") or 0)
                if restarts > 0 or waiting == "CrashLoopBackOff":
                    wanted.append((-restarts, meta(pod).get("name"), cs.get("name")))
        wanted.sort()
        return [
            self._log_task("k8s.logs", pod, self.ns, container, True, PREVIOUS_TAIL)
            for _, pod, container in wanted[:MAX_PREVIOUS_LOGS]
        ]

    def _lbc_needs_logs(self) -> bool:
        dep = self.lbc_deployment
        if dep is not None:
            spec, status = dep.get("spec") or {}, dep.get("status") or {}
            want = int(spec.get("replicas", 1) or 0)
            if want and int(status.get("readyReplicas") or 0) < want:
                return True
        for ev in self.state.k8s.of_kind("Event", self.ns):
            if ev.get("type") != "Warning":
                continue
            source = (ev.get("source") or {}).get("component") or ev.get("reportingComponent") or ""
            text = f"{ev.get('reason', '')} {ev.get('message', '')} {source}"
            if ev.get("reason") in LBC_EVENT_REASONS or any(w in text for w in LBC_EVENT_WORDS):
                return True
        return False

    def _lbc_log_tasks(self) -> list[Callable[[], _Result]]:
        if self.lbc_deployment is None or not self._lbc_needs_logs():
            return []
        match = ((self.lbc_deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        selector = ",".join(f"{k}={v}" for k, v in sorted(match.items())) or LBC_DEFAULT_SELECTOR

        def body(r: _Result) -> None:
            pods, _ = self._list(api_path("pods", KUBE_SYSTEM), labelSelector=selector, max_pages=1)
            r.objects = pods
            if not pods:
                return

            def score(p: dict[str, Any]) -> tuple[int, str]:
                ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in (p.get("status") or {}).get("conditions") or [])
                return (0 if ready else 1, meta(p).get("name") or "")

            pod = sorted(pods, key=score)[0]
            containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
            container = next((c for c in containers if c == "controller"), containers[0] if containers else "controller")
            data = self._raw(
                api_path("pods", KUBE_SYSTEM, meta(pod)["name"], sub="log"), {"container": container, "tailLines": LBC_TAIL}, accept="*/*"
            )
            r.log_key = (KUBE_SYSTEM, meta(pod)["name"], container, False)
            r.log_text = data.decode("utf-8", "replace")

        return [self._task("k8s.logs", "get", "pods/log", "", KUBE_SYSTEM, body)]

    def _target_nodes(self, selected: list[dict[str, Any]]) -> set[str] | None:
        """Nodes the load balancer sends to: every node for instance targets (None), else the pods' nodes."""
        try:
            from checks.lbview import target_type

            if target_type(self.state) == "instance" and ((self.service or {}).get("spec") or {}).get("type") in ("LoadBalancer", "NodePort"):
                return None
        except Exception:
            pass
        return {(p.get("spec") or {}).get("nodeName") for p in selected} - {None}

    def _kube_proxy_log_tasks(self, selected: list[dict[str, Any]]) -> list[Callable[[], _Result]]:
        if not self.kube_proxy_pods:
            return []
        nodes = self._target_nodes(selected)
        tasks = []
        for pod in sorted(self.kube_proxy_pods, key=lambda p: meta(p).get("name") or ""):
            node = (pod.get("spec") or {}).get("nodeName")
            if nodes is not None and node not in nodes:
                continue
            statuses = (pod.get("status") or {}).get("containerStatuses") or []
            ready = bool(statuses) and all(cs.get("ready") for cs in statuses)
            if ready:
                continue
            containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
            container = KUBE_PROXY if KUBE_PROXY in containers else (containers[0] if containers else KUBE_PROXY)
            tasks.append(self._log_task("k8s.logs", meta(pod)["name"], KUBE_SYSTEM, container, False, KUBE_PROXY_TAIL))
            if len(tasks) >= MAX_KUBE_PROXY_LOGS:
                break
        return tasks


def collect_k8s(
    state: State,
    reads: Iterable[str],
    api_client: Any = None,
    *,
    context: str | None = None,
    executor: Executor | None = None,
) -> State:
    """Both waves at once (live.collect interleaves them with the cloud collectors instead)."""
    owns_client = api_client is None
    client = api_client or make_api_client(context)
    collector = KubeCollector(state, reads, client, executor=executor)
    try:
        collector.wave1()
        collector.wave2()
    finally:
        collector.close()
        if owns_client:
            client.close()
    return state
