"""K8S-ALB-INGRESS: the ALB Ingress(es) routing to the Service are valid and probe what the app serves.

Why it matters: an ALB's target group health check is built from the Ingress annotations
(`alb.ingress.kubernetes.io/healthcheck-*`, `success-codes`, `target-type`), with controller
defaults where they are absent: `GET /` expecting `200` on the traffic port. Apps that answer
`/` with 404, a login redirect (302) or 401 and serve their health on `/healthz` therefore
have every target unhealthy while their own readiness probes pass (seed 001, "Check ingress
annotations"). Invalid values, a backend port the Service does not have, or instance targets
on a ClusterIP Service make the controller refuse to build the load balancer at all.
"""

from __future__ import annotations

from typing import Any

from checks.k8s._lbfacts import (
    alb_ingresses,
    annotate_command,
    as_dict,
    as_int,
    as_list,
    ingress_class,
    name_of,
    norm_path,
    path_evidence,
    pod_ready,
    readiness_paths,
    readiness_probes,
    ref,
    service_ports,
    spec_of,
    traffic_container_ports,
)
from checks.model import Finding, FixPlan, ObjectRef, Status
from checks.providers.aws import ALB_ANN
from checks.providers.base import parse_success_codes
from checks.registry import check
from checks.state import State, annotations, meta

ID = "K8S-ALB-INGRESS"

# Target-group annotations the controller also reads from the Service, where they win.
TG_KEYS = (
    "target-type", "backend-protocol", "backend-protocol-version", "healthcheck-protocol", "healthcheck-port",
    "healthcheck-path", "healthcheck-interval-seconds", "healthcheck-timeout-seconds",
    "healthy-threshold-count", "unhealthy-threshold-count", "success-codes",
)
RANGES = {
    "healthcheck-interval-seconds": (5, 300),
    "healthcheck-timeout-seconds": (2, 120),
    "healthy-threshold-count": (2, 10),
    "unhealthy-threshold-count": (2, 10),
}
REDIRECT_OR_AUTH = {301, 302, 303, 307, 308, 401, 403}


class _Settings:
    """The effective target-group annotations of one Ingress (Service annotations take precedence)."""

    def __init__(self, state: State, ing: dict[str, Any]) -> None:
        self.ing = ing
        self.ing_ann = annotations(ing)
        self.svc_ann = state.service_annotations

    def get(self, key: str) -> tuple[str | None, str]:
        """(value, where) for `alb.ingress.kubernetes.io/<key>`."""
        full = ALB_ANN + key
        if key in TG_KEYS and isinstance(self.svc_ann.get(full), str):
            return self.svc_ann[full].strip(), f"Service {full}"
        v = self.ing_ann.get(full)
        if isinstance(v, str):
            return v.strip(), f"Ingress {ref(self.ing)} {full}"
        return None, ""


def _ingress_ref(ing: dict[str, Any]) -> ObjectRef:
    m = meta(ing)
    return ObjectRef(
        kind="Ingress",
        name=name_of(ing),
        namespace=m.get("namespace"),
        api_version=str(ing.get("apiVersion") or "networking.k8s.io/v1"),
        resource_version=m.get("resourceVersion"),
    )


def _annotation_fix(ing: dict[str, Any], values: dict[str, str], title: str) -> FixPlan:
    full = {ALB_ANN + k: v for k, v in values.items()}
    return FixPlan(
        id="FIX-HEALTHCHECK-PATH",
        title=title,
        patch={"metadata": {"annotations": full}},
        command=annotate_command("ingress", ing, dict(full)),
        target=_ingress_ref(ing),
        patch_type="merge",
        tradeoff="The controller updates the target group within a reconcile (the Ingress's events say if it could not); targets turn healthy "
        "after the healthy-threshold count of passing checks.",
    )


def _backends(ing: dict[str, Any], service: str) -> list[tuple[str, Any]]:
    """(where, port ref dict/legacy value) of every backend of the Ingress naming `service`."""
    out: list[tuple[str, Any]] = []
    spec = spec_of(ing)

    def add(where: str, backend: Any) -> None:
        b = as_dict(backend)
        svc = as_dict(b.get("service"))
        if svc.get("name") == service:
            out.append((where, as_dict(svc.get("port"))))
        elif b.get("serviceName") == service:
            out.append((where, b.get("servicePort")))

    add("spec.defaultBackend", spec.get("defaultBackend") or spec.get("backend"))
    for rule in as_list(spec.get("rules")):
        host = as_dict(rule).get("host") or "*"
        for path in as_list(as_dict(as_dict(rule).get("http")).get("paths")):
            p = as_dict(path)
            add(f"rule host {host} path {p.get('path') or '/'}", p.get("backend"))
    return out


def _port_exists(state: State, port_ref: Any) -> tuple[bool, str]:
    ports = service_ports(state)
    if isinstance(port_ref, dict):
        number, pname = as_int(port_ref.get("number")), port_ref.get("name")
    else:
        number, pname = as_int(port_ref), (port_ref if isinstance(port_ref, str) and as_int(port_ref) is None else None)
    if number is not None:
        return any(as_int(p.get("port")) == number for p in ports), str(number)
    if isinstance(pname, str) and pname:
        return any(p.get("name") == pname for p in ports), f"'{pname}'"
    return False, "<no port>"


def _fmt_ports(state: State) -> str:
    return ", ".join(f"{p.get('port')}" + (f" ({p.get('name')})" if p.get("name") else "") for p in service_ports(state)) or "none"


def _validate(state: State, ing: dict[str, Any], s: _Settings) -> list[Finding]:
    """Annotation syntax and ranges, target type vs Service type, scheme, backends."""
    out: list[Finding] = []
    iref = ref(ing)
    svc = state.service or {}
    svc_type = spec_of(svc).get("type") or "ClusterIP"
    describe = f"kubectl -n {meta(ing).get('namespace')} describe ingress {name_of(ing)}"

    def bad(summary: str, evidence: list[str], next_step: str, cause: str = "healthcheck-settings") -> None:
        out.append(Finding(ID, Status.FAIL, summary, evidence=evidence, next_step=next_step, cause=cause))

    tt, where = s.get("target-type")
    tt_eff = (tt or "instance").lower()
    if tt is not None and tt_eff not in ("instance", "ip"):
        bad(
            f"Ingress {iref}: target-type '{tt}' is not valid (instance or ip); the controller will not build the target group",
            [f"{where} = {tt!r}"],
            f"kubectl -n {meta(ing).get('namespace')} annotate ingress {name_of(ing)} {ALB_ANN}target-type=ip --overwrite "
            "(ip needs the VPC CNI; use instance for a NodePort Service)",
            cause="controller",
        )
    elif tt_eff == "instance" and svc_type not in ("NodePort", "LoadBalancer"):
        bad(
            f"Ingress {iref} uses instance targets ({'annotation' if tt else 'the default'}) but Service {state.target.ref} is {svc_type}: "
            "the controller needs a NodePort to register nodes, so the ALB has no targets",
            [
                f"{where} = {tt!r}" if tt else f"Ingress {iref}: {ALB_ANN}target-type absent -> instance (controller default)",
                f"Service {state.target.ref} spec.type = {svc_type}",
            ],
            f"kubectl -n {meta(ing).get('namespace')} annotate ingress {name_of(ing)} {ALB_ANN}target-type=ip --overwrite "
            f"(pod IPs as targets), or: kubectl -n {state.target.namespace} patch svc {state.target.service} -p '{{\"spec\":{{\"type\":\"NodePort\"}}}}'",
            cause="controller",
        )

    scheme_v = annotations(ing).get(ALB_ANN + "scheme")
    if isinstance(scheme_v, str) and scheme_v.strip() not in ("internal", "internet-facing"):
        bad(
            f"Ingress {iref}: scheme '{scheme_v}' is not valid (internal or internet-facing); the controller will not build the ALB",
            [f"Ingress {iref} {ALB_ANN}scheme = {scheme_v!r}"],
            f"kubectl -n {meta(ing).get('namespace')} annotate ingress {name_of(ing)} {ALB_ANN}scheme=internet-facing --overwrite (or internal)",
            cause="controller",
        )

    proto, where = s.get("healthcheck-protocol")
    if proto is not None and proto.upper() not in ("HTTP", "HTTPS"):
        bad(
            f"Ingress {iref}: healthcheck-protocol '{proto}' is not valid for an ALB (HTTP or HTTPS)",
            [f"{where} = {proto!r}"],
            f"{describe}; set {ALB_ANN}healthcheck-protocol to HTTP (or HTTPS if the app serves TLS)",
        )

    port, where = s.get("healthcheck-port")
    if port is not None and port != "traffic-port":
        n = as_int(port)
        if n is None or not 1 <= n <= 65535:
            bad(
                f"Ingress {iref}: healthcheck-port '{port}' is not valid (traffic-port or 1-65535)",
                [f"{where} = {port!r}"],
                f"kubectl -n {meta(ing).get('namespace')} annotate ingress {name_of(ing)} {ALB_ANN}healthcheck-port=traffic-port --overwrite",
            )

    path, where = s.get("healthcheck-path")
    if path is not None and not path.startswith("/"):
        bad(
            f"Ingress {iref}: healthcheck-path '{path}' must start with '/'",
            [f"{where} = {path!r}"],
            f"kubectl -n {meta(ing).get('namespace')} annotate ingress {name_of(ing)} {ALB_ANN}healthcheck-path=/{path.lstrip('/')} --overwrite",
            cause="healthcheck-path",
        )

    codes, where = s.get("success-codes")
    grpc = (s.get("backend-protocol-version")[0] or "").upper() == "GRPC"
    if codes is not None:
        lo_hi = (0, 99) if grpc else (200, 499)
        ranges = _parse_codes(codes, grpc)
        if ranges is None or any(lo < lo_hi[0] or hi > lo_hi[1] for lo, hi in ranges):
            bad(
                f"Ingress {iref}: success-codes '{codes}' is not valid (e.g. 200, 200,302 or 200-399; ALB range {lo_hi[0]}-{lo_hi[1]})",
                [f"{where} = {codes!r}"],
                f"kubectl -n {meta(ing).get('namespace')} annotate ingress {name_of(ing)} {ALB_ANN}success-codes=200 --overwrite",
            )

    values: dict[str, int] = {}
    for key, (lo, hi) in RANGES.items():
        raw, where = s.get(key)
        if raw is None:
            continue
        n = as_int(raw)
        if n is None or not lo <= n <= hi:
            bad(
                f"Ingress {iref}: {key} '{raw}' is out of range ({lo}-{hi})",
                [f"{where} = {raw!r}"],
                f"kubectl -n {meta(ing).get('namespace')} annotate ingress {name_of(ing)} {ALB_ANN}{key}={min(max(n or lo, lo), hi)} --overwrite",
            )
        else:
            values[key] = n
    interval = values.get("healthcheck-interval-seconds", 15)
    timeout = values.get("healthcheck-timeout-seconds", 5)
    if timeout >= interval and ("healthcheck-interval-seconds" in values or "healthcheck-timeout-seconds" in values):
        bad(
            f"Ingress {iref}: health-check timeout {timeout}s is not below the interval {interval}s; the target group cannot be updated",
            [f"{ALB_ANN}healthcheck-timeout-seconds = {timeout}", f"{ALB_ANN}healthcheck-interval-seconds = {interval}"],
            f"kubectl -n {meta(ing).get('namespace')} annotate ingress {name_of(ing)} {ALB_ANN}healthcheck-timeout-seconds={max(2, interval - 1)} --overwrite",
        )

    for where, port_ref in _backends(ing, state.target.service):
        exists, shown = _port_exists(state, port_ref)
        if not exists:
            bad(
                f"Ingress {iref} routes {where} to port {shown} of Service {state.target.ref}, which has no such port (ports: {_fmt_ports(state)})",
                [f"Ingress {iref} {where}: backend service {state.target.service} port {shown}", f"Service {state.target.ref} spec.ports: {_fmt_ports(state)}"],
                f"{describe}; point the backend at one of the Service ports ({_fmt_ports(state)})",
                cause="controller",
            )
    return out


def _parse_codes(spec: str, grpc: bool) -> list[tuple[int, int]] | None:
    if not grpc:
        return parse_success_codes(spec)
    out = []
    for part in spec.split(","):
        lo, _, hi = part.strip().partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            return None
        out.append((int(lo), int(hi or lo)))
    return out or None


def _lb_path(state: State, s: _Settings) -> tuple[str, str, str, list[str]]:
    """(path the ALB probes, success codes, where it comes from, notes)."""
    notes: list[str] = []
    ann_path, where = s.get("healthcheck-path")
    path = norm_path(ann_path) if ann_path and ann_path.startswith("/") else "/"
    source = where if ann_path else f"Ingress {ref(s.ing)}: {ALB_ANN}healthcheck-path absent -> / (controller default)"
    codes, cwhere = s.get("success-codes")
    codes = codes or "200"
    tg_paths = {
        norm_path(tg.get("HealthCheckPath"))
        for tg in state.aws.target_groups
        if str(tg.get("HealthCheckProtocol") or "").upper().startswith("HTTP")
    }
    if len(tg_paths) == 1 and next(iter(tg_paths)) != path:
        tg_path = next(iter(tg_paths))
        notes.append(f"target group HealthCheckPath = {tg_path} while the annotations say {path}: the controller has not applied them yet")
        path, source = tg_path, "target group HealthCheckPath (as read from AWS)"
    return path, codes, source, notes


def _lb_protocol(state: State, s: _Settings) -> tuple[str, str]:
    """The protocol the ALB health-checks with, and where that was read (the controller's default is HTTP)."""
    protos = {str(tg.get("HealthCheckProtocol") or "").upper() for tg in state.aws.target_groups if tg.get("HealthCheckProtocol")}
    if len(protos) == 1:
        return next(iter(protos)), "target group HealthCheckProtocol"
    ann, where = s.get("healthcheck-protocol")
    if isinstance(ann, str) and ann.upper() in ("HTTP", "HTTPS"):
        return ann.upper(), where
    return "HTTP", f"{ALB_ANN}healthcheck-protocol absent -> HTTP (controller default)"


def _scheme_mismatch(state: State, ing: dict[str, Any], s: _Settings, probes: list, lb_path: str, codes: str) -> Finding | None:
    """The ALB checks with HTTP what the pods serve as HTTPS (or the reverse): every check fails
    at the protocol level (a TLS port answers plain HTTP with 400, or the handshake fails), whatever the path."""
    ready = [r for r in probes if r.pod_ready]
    schemes = {str(r.scheme or "HTTP").upper() for r in ready}
    proto, where = _lb_protocol(state, s)
    if len(schemes) != 1 or proto in schemes or proto not in ("HTTP", "HTTPS"):
        return None
    ev = path_evidence(state, lb_path, codes)
    if not ev.fails:
        return None
    scheme = schemes.pop()
    r0 = ready[0]
    fix = _annotation_fix(ing, {"healthcheck-protocol": scheme}, f"Set {ALB_ANN}healthcheck-protocol={scheme} on Ingress {ref(ing)} (the scheme the pods serve)")
    return Finding(
        ID,
        Status.FAIL,
        f"The ALB health-checks with {proto} but the pods of {state.target.ref} serve {scheme} (their passing readiness probes "
        f"use {scheme} on port {r0.port if r0.port is not None else r0.port_raw}): every check fails whatever the path",
        evidence=[
            f"ALB health-check protocol {proto} ({where})",
            f"readiness probe of pod {r0.pod} container {r0.container}: {scheme} GET {r0.path} on port {r0.port if r0.port is not None else r0.port_raw}; Ready",
            *ev.failing[:5],
        ],
        next_step=fix.command,
        fix=fix,
        cause="healthcheck-settings",
    )


def _pod_url(state: State, path: str, host: bool = False) -> str:
    """The URL of a ready pod on its traffic port, as the ALB's check asks it (`-H Host:` the target IP when
    `host`); placeholders only when no ready pod or port is known."""
    ip = next((str(as_dict(p.get("status")).get("podIP")) for p in state.selected_pods
               if pod_ready(p) and as_dict(p.get("status")).get("podIP")), "<pod-ip>")
    port = min(traffic_container_ports(state), default="<port>")
    return (f"-H 'Host: {ip}' " if host else "") + f"http://{ip}:{port}{path}"


def _cross_check(state: State, ing: dict[str, Any], s: _Settings) -> tuple[list[Finding], list[str]]:
    """The app's readiness path vs the ALB's health-check path, with what the ALB/probes saw."""
    iref = ref(ing)
    lb_path, codes, source, notes = _lb_path(state, s)
    if (s.get("backend-protocol-version")[0] or "").upper() == "GRPC":
        return [], [f"{source}; gRPC health check, path comparison not applicable"]
    probes = readiness_probes(state)
    if scheme := _scheme_mismatch(state, ing, s, probes, lb_path, codes):
        return [scheme], []
    paths = readiness_paths(probes)
    ev = path_evidence(state, lb_path, codes)
    info = [f"ALB health check: GET {lb_path}, success codes {codes} ({source})", *notes]
    svc_owned = isinstance(s.svc_ann.get(ALB_ANN + "healthcheck-path"), str)
    verify = annotate_command("ingress", ing, {ALB_ANN + "healthcheck-path": "<path the app answers with 200>"})

    # The readiness path of ready pods wins over a path some not-ready pod still uses (rollouts).
    ready_paths = sorted({r.path for r in probes if r.pod_ready}, key=lambda p: -len(paths[p]))
    app_path = ready_paths[0] if ready_paths else (max(paths, key=lambda p: len(paths[p])) if paths else None)

    if app_path is not None and norm_path(app_path) != lb_path:
        rp = paths[app_path]
        ready_pods = sorted({r.pod for r in rp if r.pod_ready})
        evidence = [
            info[0],
            *notes,
            f"readiness probe of {len(rp)} container(s) (e.g. pod {rp[0].pod} container {rp[0].container}): GET {app_path} on port "
            f"{rp[0].port if rp[0].port is not None else rp[0].port_raw}; ready pods: {', '.join(ready_pods) or 'none'}",
        ]
        app_ok = path_evidence(state, app_path, codes)
        traffic = traffic_container_ports(state)
        hc_port = s.get("healthcheck-port")[0] or "traffic-port"
        tt = (s.get("target-type")[0] or "instance").lower()
        values = {"healthcheck-path": app_path}
        fixable = not svc_owned
        r_port = rp[0].port
        if r_port is not None and traffic and r_port not in traffic and hc_port == "traffic-port":
            evidence.append(
                f"the readiness probe uses port {r_port}, not the traffic port ({', '.join(map(str, sorted(traffic)))}): the ALB must probe port {r_port} too"
            )
            if tt == "ip":
                values["healthcheck-port"] = str(r_port)
            else:
                fixable = False
                evidence.append("with instance targets the ALB reaches pods only through the NodePort: serve the health path on the traffic port, or use target-type ip")
        fix = None
        if fixable:
            fix = _annotation_fix(ing, values, f"Set {', '.join(f'{ALB_ANN}{k}={v}' for k, v in values.items())} on Ingress {iref} (the app's readiness probe)")
        next_step = (
            annotate_command("ingress", ing, {ALB_ANN + k: v for k, v in values.items()})
            if not svc_owned
            else annotate_command("svc", state.service or {}, {ALB_ANN + k: v for k, v in values.items()}) + "  (the Service annotation overrides the Ingress)"
        )
        if ev.fails and ready_pods:
            codes_text = ", ".join(str(c) for c in sorted(ev.codes)) or "an unaccepted code"
            return [
                Finding(
                    ID,
                    Status.FAIL,
                    f"The ALB health-checks {lb_path} on {state.target.ref}, which answers {codes_text}, while the app's readiness probe uses {app_path} "
                    f"and passes: targets are unhealthy because the health-check path is wrong",
                    evidence=evidence + ev.failing[:5] + app_ok.passing[:3],
                    next_step=next_step,
                    fix=fix,
                    cause="healthcheck-path",
                )
            ], []
        if ev.fails:
            return [
                Finding(
                    ID,
                    Status.WARN,
                    f"The ALB health-checks {lb_path} (answers {', '.join(str(c) for c in sorted(ev.codes)) or 'an unaccepted code'}) while readiness uses "
                    f"{app_path}, but no pod is ready on {app_path} either: fix readiness first, then align the paths",
                    evidence=evidence + ev.failing[:5],
                    next_step=f"kubectl -n {state.target.namespace} describe pods -l "
                    + ",".join(f"{k}={v}" for k, v in sorted(state.selector.items()))
                    + f"; then {next_step}",
                    fix=fix,
                    supports=("healthcheck-path", "pods-not-ready"),
                )
            ], []
        if ev.passing:
            return [], [*info, f"readiness uses {app_path}, the ALB uses {lb_path}, and {lb_path} answers as the ALB expects:", *ev.passing[:3]]
        return [
            Finding(
                ID,
                Status.WARN,
                f"The ALB health-checks {lb_path} but the app's readiness probe uses {app_path}; nothing shows yet whether {lb_path} answers {codes}. "
                f"If targets are unhealthy, set the health-check path to {app_path}",
                evidence=evidence,
                next_step=f"kubectl -n {state.target.namespace} run lbhealth-curl --rm -it --restart=Never --image=curlimages/curl -- "
                f"curl -s -o /dev/null -w '%{{http_code}}' {_pod_url(state, lb_path)}  (if it is not {codes}, set the health-check path to {app_path})",
                fix=fix,
                supports=("healthcheck-path",),
            )
        ], []

    if ev.fails:
        codes_seen = sorted(ev.codes)
        evidence = [*info, *ev.failing[:5]]
        if app_path:
            evidence.append(f"readiness probe uses the same path {app_path}")
        if codes_seen and all(c in REDIRECT_OR_AUTH for c in codes_seen):
            ranges = parse_success_codes(codes) or [(200, 200)]
            new_codes = ",".join(
                [f"{lo}-{hi}" if lo != hi else str(lo) for lo, hi in ranges] + [str(c) for c in codes_seen if not any(lo <= c <= hi for lo, hi in ranges)]
            )
            fix = None
            if not isinstance(s.svc_ann.get(ALB_ANN + "success-codes"), str):
                fix = _annotation_fix(ing, {"success-codes": new_codes}, f"Set {ALB_ANN}success-codes={new_codes} on Ingress {iref}")
            return [
                Finding(
                    ID,
                    Status.FAIL,
                    f"{lb_path} answers {', '.join(map(str, codes_seen))} (a redirect/auth answer) but the ALB only accepts {codes}: accept it, or point "
                    f"the health check at an unauthenticated path",
                    evidence=evidence,
                    next_step=annotate_command("ingress", ing, {ALB_ANN + "success-codes": new_codes}),
                    fix=fix,
                    cause="healthcheck-path",
                )
            ], []
        if not app_path and any(400 <= c < 500 for c in codes_seen):
            return [
                Finding(
                    ID,
                    Status.FAIL,
                    f"The ALB health-checks {lb_path}, which answers {', '.join(map(str, codes_seen))}; the pods declare no HTTP readiness probe "
                    "to take a working path from: set the health-check path to one the app serves with 200",
                    evidence=evidence,
                    next_step=verify,
                    cause="healthcheck-path",
                )
            ], []
        if app_path and not any(c >= 500 for c in codes_seen):
            return [
                Finding(
                    ID,
                    Status.WARN,
                    f"Readiness passes on {app_path} but the ALB gets {', '.join(map(str, codes_seen)) or 'an unaccepted code'} on the same path: "
                    "the app may answer differently to the ALB (Host header is the target IP, different port)",
                    evidence=evidence,
                    next_step=f"curl -s -o /dev/null -w '%{{http_code}}' {_pod_url(state, lb_path, host=True)}  (from a pod or host in the VPC)",
                    supports=("healthcheck-path",),
                )
            ], []
    if app_path:
        info.append(f"readiness probe uses the same path {app_path}")
    info.extend(ev.passing[:3])
    return [], info


@check(
    ID,
    title="ALB Ingress annotations and backends are valid and probe what the app serves",
    seed="Check ingress annotations",
    reads=("k8s.service", "k8s.ingresses"),
    uses=("k8s.pods", "aws.elbv2", "aws.target_health", "probe"),
    fixes=("FIX-HEALTHCHECK-PATH",),
    severity=65,
)
def alb_ingress(state: State) -> list[Finding]:
    """Validate each ALB Ingress routing to the Service and compare its health-check path with the app's."""
    ings = state.ingresses
    if not ings:
        return [Finding(ID, Status.SKIP, f"No Ingress in {state.target.namespace} routes to {state.target.service}: no ALB Ingress to check")]
    albs = alb_ingresses(state)
    if not albs:
        classes = ", ".join(f"{ref(i)} (class {ingress_class(i) or 'none'})" for i in ings)
        return [Finding(ID, Status.SKIP, f"The Ingresses routing to {state.target.service} are not ALB Ingresses: {classes}")]

    problems: list[Finding] = []
    passes: list[str] = []
    for ing in albs:
        s = _Settings(state, ing)
        found = _validate(state, ing, s)
        cross, info = _cross_check(state, ing, s)
        problems.extend(found + cross)
        if not found and not cross:
            tt = s.get("target-type")[0] or "instance (default)"
            scheme = annotations(ing).get(ALB_ANN + "scheme") or "internal (default)"
            backends = ", ".join(f"{w} -> {state.target.service}:{_port_exists(state, p)[1]}" for w, p in _backends(ing, state.target.service))
            passes.append(f"Ingress {ref(ing)}: target-type {tt}, scheme {scheme}; backends {backends or 'none'}")
            passes.extend(info)
    if problems:
        return problems
    return [
        Finding(
            ID,
            Status.PASS,
            f"ALB Ingress {', '.join(ref(i) for i in albs)}: annotations valid, backends exist, and the health check probes what the app serves",
            evidence=passes,
            next_step=f"kubectl -n {state.target.namespace} describe ingress {name_of(albs[0])}",
        )
    ]
