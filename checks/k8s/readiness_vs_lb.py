"""K8S-READINESS-VS-LB: the pods' readiness probe and the load balancer's health check ask for the same thing.

Why it matters: Kubernetes and the load balancer judge the same pods with two different
probes. When the readiness probe asks `GET /healthz` on port 8080 and the load balancer asks
`GET /` (its default) or another port, the pods are Ready, the Endpoints are full, and every
target is still unhealthy: the classic "everything in Kubernetes is green" incident. The
load balancer's side comes from `lbview.health_checks` (the target group or CLB listener as
read from the cloud, else the annotations and the controller's defaults).

For ALB Ingresses, K8S-ALB-INGRESS owns the claim and the fix (the path lives on the Ingress);
this check then adds the pod-side evidence as support. For NLB Services it is the claimant and
offers FIX-NLB-ANNOTATION (`...-healthcheck-path`); for TKE it names the TkeServiceConfig field.
"""

from __future__ import annotations

from typing import Any

from checks.k8s._lbfacts import (
    alb_ingresses,
    annotate_command,
    as_dict,
    as_int,
    as_list,
    name_of,
    norm_path,
    path_evidence,
    pod_ready,
    readiness_paths,
    readiness_probes,
    spec_of,
    traffic_container_ports,
)
from checks.lbview import detect_cloud, health_checks, target_type
from checks.model import Finding, FixPlan, ObjectRef, Status
from checks.providers.aws import SVC_ANN
from checks.providers.base import HealthCheck
from checks.registry import check
from checks.state import State, meta

ID = "K8S-READINESS-VS-LB"


def _nlb_fix(state: State, values: dict[str, str]) -> FixPlan:
    svc = state.service or {}
    full = {SVC_ANN + k: v for k, v in values.items()}
    return FixPlan(
        id="FIX-NLB-ANNOTATION",
        title="Set " + ", ".join(f"{k}={v}" for k, v in full.items()) + f" on Service {state.target.ref} (the app's readiness probe)",
        patch={"metadata": {"annotations": full}},
        command=annotate_command("svc", svc, dict(full)),
        target=ObjectRef(kind="Service", name=state.target.service, namespace=state.target.namespace, resource_version=meta(svc).get("resourceVersion")),
        patch_type="merge",
        tradeoff="The NLB target group's health check is modified in place; targets turn healthy after the healthy-threshold count of passing checks.",
    )


def _kube_proxy_answers(state: State, hc: HealthCheck) -> bool:
    """externalTrafficPolicy Local with instance targets: kube-proxy's healthCheckNodePort answers, not the app."""
    spec = spec_of(state.service)
    if spec.get("externalTrafficPolicy") != "Local" or hc.target_type != "instance":
        return False
    hcnp = as_int(spec.get("healthCheckNodePort"))
    if hcnp is not None and as_int(hc.port) == hcnp:
        return True
    # Annotation-derived view of a Local Service without an explicit port: the controllers use healthCheckNodePort.
    return hc.source.startswith("Service annotations") and SVC_ANN + "healthcheck-port" not in state.service_annotations


def _target_address(state: State, hc: HealthCheck) -> str:
    """An address the load balancer checks: a ready pod (ip targets) or a node (instance targets)."""
    if hc.target_type == "ip":
        return next((str(as_dict(p.get("status")).get("podIP")) for p in state.selected_pods
                     if pod_ready(p) and as_dict(p.get("status")).get("podIP")), "<pod-ip>")
    for node in state.nodes:
        for a in as_list(as_dict(node.get("status")).get("addresses")):
            if as_dict(a).get("type") == "InternalIP" and as_dict(a).get("address"):
                return str(as_dict(a)["address"])
    return "<node-ip>"


def _check_port(state: State, hc: HealthCheck) -> str:
    """The port the check reaches: its own number, else the traffic port (container port or NodePort)."""
    if as_int(hc.port) is not None:
        return str(hc.port)
    spec = spec_of(state.service)
    ports = [p for p in as_list(spec.get("ports")) if isinstance(p, dict)]
    if hc.target_type == "ip":
        return str(min(traffic_container_ports(state), default="<port>"))
    return str(next((p.get("nodePort") for p in ports if p.get("nodePort")), "<node-port>"))


def _traffic_port_step(state: State, nlb: bool) -> str:
    """One command that points the check back at the traffic port, on the object its controller reads."""
    if nlb:
        return annotate_command("svc", state.service or {}, {SVC_ANN + "healthcheck-port": "traffic-port"})
    albs = alb_ingresses(state) if detect_cloud(state) == "aws" else []
    if albs:
        return annotate_command("ingress", albs[0], {"alb.ingress.kubernetes.io/healthcheck-port": "traffic-port"})
    if detect_cloud(state) == "tencent":
        return ("Point the CLB health check back at the backend port in the healthCheck of the Service's TkeServiceConfig "
                "(annotation service.cloud.tencent.com/tke-service-config); TC-HEALTHCHECK names the listener")
    return "Set the load balancer's health-check port to the traffic port"


def _hc_text(hc: HealthCheck) -> str:
    what = f"{hc.protocol} {hc.path}" if hc.protocol.startswith("HTTP") else hc.protocol
    return f"{what} on port {hc.port}" + (f", codes {hc.success_codes}" if hc.success_codes else "") + f" ({hc.source})"


def _port_findings(state: State, hc: HealthCheck, traffic: set[int], r_ports: set[int]) -> list[Finding]:
    """A numeric health-check port that nothing serves on the target."""
    port = as_int(hc.port)
    if port is None:
        return []
    spec = spec_of(state.service)
    if hc.target_type == "ip":
        served = traffic | r_ports
        where = "container ports " + ", ".join(map(str, sorted(served)))
    else:
        served = {as_int(p.get("nodePort")) for p in spec.get("ports") or [] if isinstance(p, dict)} | {as_int(spec.get("healthCheckNodePort"))}
        served.discard(None)
        where = "NodePorts " + ", ".join(map(str, sorted(served)))  # type: ignore[arg-type]
    if not served or port in served:
        return []
    failing = []
    for arn, descs in state.aws.target_health.items():
        for d in descs or []:
            th = (d or {}).get("TargetHealth") or {}
            if th.get("Reason") in ("Target.Timeout", "Target.FailedHealthChecks"):
                failing.append(f"target group {arn}: target {((d or {}).get('Target') or {}).get('Id')} {th.get('Reason')} {th.get('Description') or ''}".rstrip())
    for p in state.probes:
        if p.port == port and not p.ok:
            failing.append(f"probe {p.subject} {p.kind} {p.address}:{port} failed: {p.error or p.status_code}")
    summary = f"The load balancer health-checks port {port} of {state.target.ref}, where nothing is served ({where}; readiness uses {', '.join(map(str, sorted(r_ports))) or 'no port'})"
    evidence = [f"health check: {_hc_text(hc)}", f"target type {hc.target_type}: targets serve {where}", *failing[:5]]
    nlb = detect_cloud(state) == "aws" and not alb_ingresses(state)
    if failing:
        return [
            Finding(
                ID,
                Status.FAIL,
                summary + ": the checks time out or are refused",
                evidence=evidence,
                next_step=_traffic_port_step(state, nlb),
                fix=_nlb_fix(state, {"healthcheck-port": "traffic-port"}) if nlb else None,
                cause="healthcheck-port",
            )
        ]
    return [
        Finding(
            ID,
            Status.WARN,
            summary,
            evidence=evidence,
            next_step=f"nc -zv -w 5 {_target_address(state, hc)} {port}  (from a host in the VPC: does anything answer on the checked port?)",
            supports=("healthcheck-port",),
        )
    ]


def _path_findings(state: State, hc: HealthCheck, app_path: str, rp: list, traffic: set[int]) -> tuple[list[Finding], list[str]]:
    lb_path = norm_path(hc.path)
    ready_pods = sorted({r.pod for r in rp if r.pod_ready})
    ev = path_evidence(state, lb_path, hc.success_codes)
    cloud = detect_cloud(state)
    ingress_mode = cloud == "aws" and bool(alb_ingresses(state))
    r0 = rp[0]
    evidence = [
        f"load balancer health check: {_hc_text(hc)}",
        f"readiness probe of {len(rp)} container(s) (e.g. pod {r0.pod} container {r0.container}): {r0.scheme} GET {app_path} on port "
        f"{r0.port if r0.port is not None else r0.port_raw}; ready pods: {', '.join(ready_pods) or 'none'}",
    ]
    values = {"healthcheck-path": app_path}
    if r0.port is not None and traffic and r0.port not in traffic and hc.port == "traffic-port":
        evidence.append(f"readiness uses port {r0.port}, not the traffic port ({', '.join(map(str, sorted(traffic)))})")
        if hc.target_type == "ip":
            values["healthcheck-port"] = str(r0.port)
    if ingress_mode:
        ing = alb_ingresses(state)[0]
        where = f"Ingress {meta(ing).get('namespace')}/{name_of(ing)}"
        if ev.fails or not ev.passing:
            return [
                Finding(
                    ID,
                    Status.WARN,
                    f"Pods pass readiness on {app_path} but the ALB checks {lb_path}"
                    + (f", which fails ({', '.join(map(str, sorted(ev.codes)))})" if ev.fails else "")
                    + f": align the ALB with the readiness probe on {where} (see K8S-ALB-INGRESS for the fix)",
                    evidence=evidence + ev.failing[:5],
                    next_step=annotate_command("ingress", ing, {"alb.ingress.kubernetes.io/" + k: v for k, v in values.items()}),
                    supports=("healthcheck-path",),
                )
            ], []
        return [], [*evidence, *ev.passing[:3]]
    nlb = cloud == "aws"
    fix = _nlb_fix(state, values) if nlb else None
    if nlb:
        next_step = annotate_command("svc", state.service or {}, {SVC_ANN + k: v for k, v in values.items()})
    elif cloud == "tencent":
        next_step = (
            f"Set the CLB health-check path to {app_path} in the TkeServiceConfig referenced by service.cloud.tencent.com/tke-service-config "
            f"(spec.loadBalancer.l7Listeners[].domains[].rules[].healthCheck.httpCheckPath or l4Listeners[].healthCheck); "
            "TC-HEALTHCHECK gives the exact listener change"
        )
    else:
        next_step = f"Set the load balancer's health-check path to {app_path}"
    if ev.fails and ready_pods:
        return [
            Finding(
                ID,
                Status.FAIL,
                f"The load balancer checks {lb_path} on {state.target.ref}, which answers {', '.join(map(str, sorted(ev.codes))) or 'an unaccepted code'}, "
                f"while the pods pass readiness on {app_path}: targets are unhealthy because the health-check path is wrong",
                evidence=evidence + ev.failing[:5] + path_evidence(state, app_path, hc.success_codes).passing[:3],
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
                f"The load balancer's {lb_path} fails and no pod passes readiness on {app_path} either: fix readiness first (K8S-POD-READY), then align the paths",
                evidence=evidence + ev.failing[:5],
                next_step=f"kubectl -n {state.target.namespace} describe pods -l " + ",".join(f"{k}={v}" for k, v in sorted(state.selector.items())),
                fix=fix,
                supports=("healthcheck-path", "pods-not-ready"),
            )
        ], []
    if ev.passing:
        return [], [*evidence, f"{lb_path} answers as the load balancer expects:", *ev.passing[:3]]
    return [
        Finding(
            ID,
            Status.WARN,
            f"The load balancer checks {lb_path} but readiness uses {app_path}; no result shows yet whether {lb_path} answers {hc.success_codes or 'as expected'}",
            evidence=evidence,
            next_step=f"curl -s -o /dev/null -w '%{{http_code}}' http://{_target_address(state, hc)}:{_check_port(state, hc)}{lb_path}"
            f"  (from a host in the VPC; if it is not {hc.success_codes or '200-399'}, set the health-check path to {app_path})",
            fix=fix,
            supports=("healthcheck-path",),
        )
    ], []


@check(
    ID,
    title="The readiness probe and the load balancer's health check agree",
    seed="beyond",
    reads=("k8s.service", "k8s.pods"),
    uses=("k8s.ingresses", "aws.elbv2", "aws.target_health", "tencent.clb", "probe"),
    fixes=("FIX-NLB-ANNOTATION",),
    severity=60,
)
def readiness_vs_lb(state: State) -> list[Finding]:
    """Compare each pod readiness probe's path/port with what the load balancer probes."""
    if not state.selected_pods:
        return [Finding(ID, Status.SKIP, f"No pod is selected by {state.target.ref}: nothing to compare (see K8S-SELECTOR)")]
    probes = readiness_probes(state)
    if not probes:
        return [Finding(ID, Status.SKIP, "The pods have no HTTP readiness probe: there is no app health path to compare with the load balancer's")]
    hcs = health_checks(state)
    if not hcs:
        cloud = detect_cloud(state)
        reason = {
            "aws": state.why_not_read("aws.elbv2") or "no target group, Ingress or LoadBalancer Service to take them from",
            "tencent": state.why_not_read("tencent.clb") or "no CLB listener read",
        }.get(cloud or "", "the cloud could not be determined")
        return [Finding(ID, Status.SKIP, f"The load balancer's health-check settings are unknown ({reason})")]

    paths = readiness_paths(probes)
    ready_paths = sorted({r.path for r in probes if r.pod_ready}, key=lambda p: -len(paths[p]))
    app_path = ready_paths[0] if ready_paths else max(paths, key=lambda p: len(paths[p]))
    rp = paths[app_path]
    traffic = traffic_container_ports(state)
    r_ports = {r.port for r in probes if r.port is not None}

    findings: list[Finding] = []
    info: list[str] = []
    seen: set[tuple[Any, ...]] = set()
    for hc in hcs:
        key = (hc.protocol, hc.port, norm_path(hc.path), hc.success_codes, hc.target_type)
        if key in seen:
            continue
        seen.add(key)
        if _kube_proxy_answers(state, hc):
            info.append(f"{_hc_text(hc)}: externalTrafficPolicy Local, kube-proxy answers on healthCheckNodePort, not the app (see K8S-TRAFFIC-POLICY)")
            continue
        findings.extend(_port_findings(state, hc, traffic, r_ports))
        if not hc.protocol.startswith("HTTP"):
            info.append(f"{_hc_text(hc)}: a {hc.protocol} check only opens a connection; readiness path {app_path} does not matter to it")
            continue
        if norm_path(hc.path) == norm_path(app_path):
            info.append(f"{_hc_text(hc)}: same path as the readiness probe ({app_path})")
            continue
        found, more = _path_findings(state, hc, app_path, rp, traffic)
        findings.extend(found)
        info.extend(more)
    if findings:
        return findings
    mode = f"target type {target_type(state)}"
    if not any(hc.protocol.startswith("HTTP") and not _kube_proxy_answers(state, hc) for hc in hcs):
        return [
            Finding(
                ID,
                Status.PASS,
                f"The load balancer's health check does not ask the app for a path ({', '.join(sorted({hc.protocol for hc in hcs}))}"
                + (", answered by kube-proxy" if any(_kube_proxy_answers(state, hc) for hc in hcs) else "")
                + f"), so the readiness path {app_path} cannot disagree with it ({mode})",
                evidence=info,
            )
        ]
    return [
        Finding(
            ID,
            Status.PASS,
            f"The load balancer's health check agrees with the pods' readiness probe ({app_path}, {mode})",
            evidence=info,
            next_step=f"kubectl -n {state.target.namespace} get pods -l "
            + ",".join(f"{k}={v}" for k, v in sorted(state.selector.items()))
            + " -o jsonpath='{.items[*].spec.containers[*].readinessProbe}'",
        )
    ]
