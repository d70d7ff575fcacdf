"""Readers shared by the load-balancer-facing Kubernetes checks (owner, Ingress, readiness vs LB).

Who owns the load balancer, which Ingresses are ALB Ingresses, what the pods' readiness probes
ask for, and whether the cloud or the worker's own probes saw the load balancer's health-check
path fail: several checks need the same answers, and they must agree, so they are read here.
Every reader tolerates missing fields, strings for numbers and named ports.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from checks.lbview import detect_cloud
from checks.providers.aws import ALB_ANN, SVC_ANN
from checks.providers.base import code_accepted
from checks.state import State, annotations, meta
from checks.values import as_dict, as_int, as_list, name_of, ref  # noqa: F401  (re-exported)

LBC_NLB_CLASS = "service.k8s.aws/nlb"
ALB_CONTROLLER = "ingress.k8s.aws/alb"
INGRESS_CLASS_ANN = "kubernetes.io/ingress.class"












def spec_of(obj: dict[str, Any] | None) -> dict[str, Any]:
    return as_dict((obj or {}).get("spec"))


def quote(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else str(value)


def shell_quote_json(obj: Any) -> str:
    """A JSON patch body in single quotes for a shell command line."""
    return "'" + json.dumps(obj, separators=(",", ":")).replace("'", "'\\''") + "'"


def pod_ready(pod: dict[str, Any]) -> bool:
    for c in as_list(as_dict(pod.get("status")).get("conditions")):
        if isinstance(c, dict) and c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def service_ports(state: State) -> list[dict[str, Any]]:
    return [p for p in as_list(spec_of(state.service).get("ports")) if isinstance(p, dict)]


# ---- who owns the load balancer ------------------------------------------------------


@dataclass(frozen=True)
class Owner:
    key: str  # lbc | in-tree-nlb | in-tree-clb | other-class | tke | unknown | none
    name: str  # person-readable controller name
    reason: str  # the field that decides it


def service_owner(state: State) -> Owner:
    """Which controller provisions the Service's load balancer (type LoadBalancer only)."""
    svc = state.service or {}
    spec = spec_of(svc)
    ann = annotations(svc)
    if spec.get("type") != "LoadBalancer":
        return Owner("none", "no controller (the Service is not type LoadBalancer)", f"spec.type={spec.get('type') or 'ClusterIP'}")
    cls = spec.get("loadBalancerClass")
    if isinstance(cls, str) and cls:
        if cls.startswith("service.k8s.aws/"):
            return Owner("lbc", "AWS Load Balancer Controller", f"spec.loadBalancerClass={cls}")
        return Owner("other-class", f"the controller implementing loadBalancerClass {cls}", f"spec.loadBalancerClass={cls}")
    cloud = detect_cloud(state)
    if cloud == "tencent":
        return Owner("tke", "TKE service controller", "TKE cluster (Tencent annotations / node provider IDs)")
    if cloud is None:
        return Owner("unknown", "the cluster's cloud controller", "no AWS/Tencent annotation, node provider ID or load balancer read")
    lb_type = str(ann.get(SVC_ANN + "type", "")).strip()
    if lb_type.lower() == "external":
        return Owner("lbc", "AWS Load Balancer Controller", f"annotation {SVC_ANN}type=external")
    if lb_type.lower() == "nlb-ip":
        return Owner("lbc", "AWS Load Balancer Controller", f"annotation {SVC_ANN}type=nlb-ip (deprecated form)")
    if lb_type.lower() == "nlb":
        return Owner("in-tree-nlb", "in-tree AWS cloud provider (NLB)", f"annotation {SVC_ANN}type=nlb")
    reason = f"annotation {SVC_ANN}type is absent" if not lb_type else f"annotation {SVC_ANN}type={lb_type} (not a value any controller knows)"
    return Owner("in-tree-clb", "in-tree AWS cloud provider (Classic Load Balancer)", reason)


def controller_step(state: State) -> str:
    """Where the controller that owns the load balancer says more (never one that is not involved):
    the AWS Load Balancer Controller's log, or the Service's events for the in-tree provider and TKE."""
    ns, name = state.target.namespace, state.target.service
    owner = service_owner(state)
    if owner.key == "lbc" or alb_ingresses(state):
        return f"kubectl logs -n kube-system deploy/aws-load-balancer-controller --since=1h | grep -i {name}"
    if owner.key in ("in-tree-nlb", "in-tree-clb"):
        return (f"kubectl describe svc {name} -n {ns}  (the {owner.name} runs in the EKS control plane: "
                "the Service's events are its whole report)")
    return f"kubectl describe svc {name} -n {ns}  (the events of the {owner.name})"


def ingress_class(ing: dict[str, Any]) -> str | None:
    cls = spec_of(ing).get("ingressClassName")
    if isinstance(cls, str) and cls:
        return cls
    legacy = annotations(ing).get(INGRESS_CLASS_ANN)
    return legacy if isinstance(legacy, str) and legacy else None


def _ingress_class_controller(state: State, cls: str | None) -> str | None:
    """The controller of an IngressClass object, when IngressClasses were collected."""
    for ic in state.k8s.of_kind("IngressClass"):
        if cls is None:
            if str(annotations(ic).get("ingressclass.kubernetes.io/is-default-class", "")).lower() == "true":
                return str(spec_of(ic).get("controller") or "")
        elif name_of(ic) == cls:
            return str(spec_of(ic).get("controller") or "")
    return None


def is_alb_ingress(state: State, ing: dict[str, Any]) -> bool:
    """An Ingress the AWS Load Balancer Controller reconciles (class `alb` or an IngressClass of its controller).

    Without a class, the default IngressClass decides when it is known; otherwise an Ingress
    carrying `alb.ingress.kubernetes.io/*` annotations is assumed to be meant for it.
    """
    cls = ingress_class(ing)
    controller = _ingress_class_controller(state, cls)
    if controller is not None:
        return controller == ALB_CONTROLLER
    if cls is not None:
        return cls == "alb"
    return any(k.startswith(ALB_ANN) for k in annotations(ing))


def alb_ingresses(state: State) -> list[dict[str, Any]]:
    return [i for i in state.ingresses if is_alb_ingress(state, i)]


# ---- readiness probes -----------------------------------------------------------------


@dataclass(frozen=True)
class Readiness:
    pod: str
    container: str
    path: str
    port: int | None  # resolved number (named ports via the container's ports)
    port_raw: Any
    scheme: str
    pod_ready: bool
    host: str = ""  # the Host header the probe sends (httpHeaders), "" for none


def _serving(container: dict[str, Any], target_ports: list[Any]) -> bool:
    for p in as_list(container.get("ports")):
        if not isinstance(p, dict):
            continue
        for tp in target_ports:
            n = as_int(tp)
            if (n is not None and as_int(p.get("containerPort")) == n) or (isinstance(tp, str) and tp and p.get("name") == tp):
                return True
    return False


def resolve_container_port(container: dict[str, Any], port: Any) -> int | None:
    n = as_int(port)
    if n is not None:
        return n
    if isinstance(port, str):
        for p in as_list(container.get("ports")):
            if isinstance(p, dict) and p.get("name") == port:
                return as_int(p.get("containerPort"))
    return None


def readiness_probes(state: State) -> list[Readiness]:
    """HTTP readiness probes of the selected pods' containers that serve the Service.

    A sidecar's probe says nothing about the app, so when some container declares the
    Service's targetPort only those containers count.
    """
    target_ports = [p.get("targetPort", p.get("port")) for p in service_ports(state)]
    out: list[Readiness] = []
    for pod in state.selected_pods:
        containers = [c for c in as_list(spec_of(pod).get("containers")) if isinstance(c, dict)]
        serving = [c for c in containers if _serving(c, target_ports)] or containers
        for c in serving:
            http = as_dict(as_dict(c.get("readinessProbe")).get("httpGet"))
            if not http:
                continue
            path = http.get("path")
            path = path if isinstance(path, str) and path else "/"
            out.append(
                Readiness(
                    pod=name_of(pod),
                    container=str(c.get("name") or "?"),
                    path=path,
                    port=resolve_container_port(c, http.get("port")),
                    port_raw=http.get("port"),
                    scheme=str(http.get("scheme") or "HTTP").upper(),
                    pod_ready=pod_ready(pod),
                    host=next(
                        (str(h.get("value") or "") for h in as_list(http.get("httpHeaders"))
                         if isinstance(h, dict) and str(h.get("name") or "").lower() == "host"),
                        "",
                    ),
                )
            )
    return out


def traffic_container_ports(state: State) -> set[int]:
    """Container ports the Service's targetPorts resolve to in the selected pods (the LB's traffic port)."""
    out: set[int] = set()
    for sp in service_ports(state):
        tp = sp.get("targetPort", sp.get("port"))
        n = as_int(tp)
        if n is not None:
            out.add(n)
            continue
        for pod in state.selected_pods:
            for c in as_list(spec_of(pod).get("containers")):
                if isinstance(c, dict):
                    r = resolve_container_port(c, tp)
                    if r is not None:
                        out.add(r)
    return out


def readiness_paths(probes: list[Readiness]) -> dict[str, list[Readiness]]:
    paths: dict[str, list[Readiness]] = {}
    for r in probes:
        paths.setdefault(r.path, []).append(r)
    return paths


# ---- did the load balancer's health-check path fail? ----------------------------------

_CODES_IN_DESCRIPTION = re.compile(r"\[([\d,\s]+)\]")


def norm_path(path: str | None) -> str:
    path = (path or "").strip()
    return path or "/"


@dataclass
class PathEvidence:
    """What the cloud and the worker's probes saw on one health-check path."""

    failing: list[str] = field(default_factory=list)
    passing: list[str] = field(default_factory=list)
    codes: set[int] = field(default_factory=set)  # status codes that were not accepted

    @property
    def fails(self) -> bool:
        return bool(self.failing)


def _tg_path(state: State, arn: str) -> str | None:
    for tg in state.aws.target_groups:
        if tg.get("TargetGroupArn") == arn:
            proto = str(tg.get("HealthCheckProtocol") or "").upper()
            return norm_path(tg.get("HealthCheckPath")) if proto.startswith("HTTP") else None
    return None


def path_evidence(state: State, path: str, success_codes: str) -> PathEvidence:
    """Failures/successes on `path`: probe results on that path, and ELB target health.

    `Target.ResponseCodeMismatch` is the load balancer saying its HTTP health check got an
    unexpected code; it counts for `path` unless the target group is known to probe another
    path. Timeouts and refused connections are network or app evidence, not path evidence.
    """
    ev = PathEvidence()
    path = norm_path(path)
    for p in state.probes:
        if p.kind != "http" or norm_path(p.path) != path or p.status_code is None:
            continue
        accepted_spec = p.expected or success_codes or "200"
        code = as_int(p.status_code)
        if code is None:
            continue
        line = f"probe {p.subject} GET {p.address}:{p.port}{path} -> {code} (the load balancer accepts {accepted_spec})"
        if code_accepted(accepted_spec, code):
            ev.passing.append(line)
        else:
            ev.failing.append(line)
            ev.codes.add(code)
    healthy = 0
    for arn, descriptions in state.aws.target_health.items():
        tg_path = _tg_path(state, arn)
        if tg_path is not None and tg_path != path:
            continue
        for d in as_list(descriptions):
            if not isinstance(d, dict):
                continue
            th = as_dict(d.get("TargetHealth"))
            target = as_dict(d.get("Target"))
            if th.get("Reason") == "Target.ResponseCodeMismatch":
                desc = str(th.get("Description") or "")
                ev.failing.append(
                    f"target group {arn.rsplit('/', 2)[-2] if arn.count('/') >= 2 else arn}: target {target.get('Id')}:{target.get('Port')} "
                    f"unhealthy, Target.ResponseCodeMismatch \"{desc}\""
                )
                m = _CODES_IN_DESCRIPTION.search(desc)
                if m:
                    ev.codes.update(int(c) for c in re.findall(r"\d{3}", m.group(1)))
            elif th.get("State") == "healthy" and tg_path is not None:
                healthy += 1
    if healthy:
        ev.passing.append(f"{healthy} target(s) healthy in target groups that check {path}")
    return ev


def extract_annotation_path(ann: dict[str, str], key: str) -> str | None:
    v = ann.get(key)
    return v.strip() if isinstance(v, str) and v.strip() else None


# ---- fix builders ------------------------------------------------------------------------


def annotate_command(kind: str, obj: dict[str, Any], values: dict[str, str | None]) -> str:
    """`kubectl annotate` that a person would type for the same change (`key-` removes)."""
    ns = meta(obj).get("namespace")
    parts = ["kubectl"]
    if ns:
        parts += ["-n", str(ns)]
    parts += ["annotate", kind, name_of(obj)]
    for k, v in values.items():
        parts.append(f"{k}-" if v is None else f"{k}={_shell_word(v)}")
    parts.append("--overwrite")
    return " ".join(parts)


def _shell_word(value: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_./:,=@%+-]+", value):
        return value
    return "'" + value.replace("'", "'\\''") + "'"
