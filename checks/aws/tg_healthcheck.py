"""AWS-TG-HEALTHCHECK: the target group's health check vs the annotations and vs what the probe saw."""

from __future__ import annotations

from typing import Any

from checks.aws._common import (
    descriptions,
    no_target_groups,
    region_flag,
    service_port_entry,
    tg_lb_kind,
    tg_name,
)
from checks.k8s._lbfacts import annotate_command, controller_step, service_owner
from checks.model import Finding, Status
from checks.providers.aws import ALB_ANN, SVC_ANN, is_lbc_service
from checks.providers.aws.mapping import TAG_ING_RESOURCE, service_target_groups
from checks.providers.base import code_accepted
from checks.registry import check
from checks.state import ProbeResult, State, annotations, meta
from checks.values import as_dict, as_int, as_list, as_str

CHECK = "AWS-TG-HEALTHCHECK"

# annotation suffix -> (target group field, how to read it)
_SVC_FIELDS = {
    "healthcheck-protocol": "HealthCheckProtocol",
    "healthcheck-port": "HealthCheckPort",
    "healthcheck-path": "HealthCheckPath",
    "healthcheck-success-codes": "Matcher.HttpCode",
    "healthcheck-interval": "HealthCheckIntervalSeconds",
    "healthcheck-timeout": "HealthCheckTimeoutSeconds",
    "healthcheck-healthy-threshold": "HealthyThresholdCount",
    "healthcheck-unhealthy-threshold": "UnhealthyThresholdCount",
}
_ALB_FIELDS = {
    "healthcheck-protocol": "HealthCheckProtocol",
    "healthcheck-port": "HealthCheckPort",
    "healthcheck-path": "HealthCheckPath",
    "success-codes": "Matcher.HttpCode",
    "healthcheck-interval-seconds": "HealthCheckIntervalSeconds",
    "healthcheck-timeout-seconds": "HealthCheckTimeoutSeconds",
    "healthy-threshold-count": "HealthyThresholdCount",
    "unhealthy-threshold-count": "UnhealthyThresholdCount",
}


@check(
    CHECK,
    title="The target group's health check is the one the annotations ask for, and the app passes it",
    seed="Verify the health check settings of the target group",
    reads=("aws.elbv2",),
    uses=("aws.target_health", "k8s.service", "k8s.ingresses", "k8s.pods", "probe"),
    severity=55,
)
def tg_healthcheck(state: State) -> list[Finding]:
    """Annotations are a request; the target group is what the load balancer really does.

    When they differ the controller did not apply the change (permissions, a rejected value),
    so editing annotations further changes nothing. When the probe, sent with the target
    group's own settings, gets a code the matcher rejects or answers slower than its timeout,
    the health check itself is wrong, not the app.
    """
    skip = no_target_groups(state, CHECK)
    if skip:
        return [skip]
    findings: list[Finding] = []
    summary_lines: list[str] = []
    for tg, _how in service_target_groups(state):
        name = tg_name(tg)
        summary_lines.append(f"{name}: {_describe(tg)}")
        source, wanted = _annotated(state, tg)
        diffs = []
        for key, (field, value) in wanted.items():
            have = _field(tg, field)
            if not _same(field, value, have):
                shown = "is not set" if have is None else f"= '{have}'"
                diffs.append(f"{source} {key}='{value}' but target group {name} {field} {shown}")
        if diffs:
            findings.append(
                Finding(
                    CHECK,
                    Status.WARN,
                    f"Target group {name} does not run the health check the annotations ask for: the controller has not applied them",
                    evidence=diffs,
                    next_step=controller_step(state),
                    cause="controller",
                    supports=("controller",),
                )
            )
        findings.extend(_probe_findings(state, tg))
        port_finding = _port_finding(state, tg)
        if port_finding:
            findings.append(port_finding)
    if findings:
        return findings
    return [
        Finding(
            CHECK,
            Status.PASS,
            "The target groups run the annotated health checks"
            + (" and the probe passed them" if any(p.kind == "http" for p in state.probes) else ""),
            evidence=summary_lines,
            next_step=f"aws elbv2 describe-target-groups{region_flag(state)} --target-group-arns "
            + " ".join(as_str(tg.get("TargetGroupArn")) for tg, _ in service_target_groups(state)),
        )
    ]


def _describe(tg: dict[str, Any]) -> str:
    path = f" {tg.get('HealthCheckPath')}" if tg.get("HealthCheckPath") else ""
    codes = as_dict(tg.get("Matcher")).get("HttpCode")
    return (
        f"{(tg.get('HealthCheckProtocol') or '?')} port {(tg.get('HealthCheckPort') or '?')}{path}"
        + (f" matcher {codes}" if codes else "")
        + f", every {(tg.get('HealthCheckIntervalSeconds') or '?')} s, timeout {(tg.get('HealthCheckTimeoutSeconds') or '?')} s, "
        f"healthy after {(tg.get('HealthyThresholdCount') or '?')}, unhealthy after {(tg.get('UnhealthyThresholdCount') or '?')}"
    )


def _field(tg: dict[str, Any], field: str) -> Any:
    if field == "Matcher.HttpCode":
        return (tg.get("Matcher") or {}).get("HttpCode")
    return tg.get(field)


def _same(field: str, wanted: str, have: Any) -> bool:
    if have is None:
        return False
    w, h = str(wanted).strip(), str(have).strip()
    if field == "HealthCheckProtocol":
        return w.upper() == h.upper()
    if field == "Matcher.HttpCode":
        return w.replace(" ", "") == h.replace(" ", "")
    if field in ("HealthCheckPort",):
        return w.lower() == h.lower()
    if field == "HealthCheckPath":
        return w == h
    return as_int(w) == as_int(h)


def _annotated(state: State, tg: dict[str, Any]) -> tuple[str, dict[str, tuple[str, str]]]:
    """(where, {annotation: (field, value)}) for the fields set explicitly for this target group."""
    svc_ann = state.service_annotations
    if tg_lb_kind(state, tg) == "application":
        ing = _ingress_for(state, tg)
        ann = dict(annotations(ing)) if ing else {}
        ann.update({k: v for k, v in svc_ann.items() if k.startswith(ALB_ANN)})  # Service-level overrides
        where = f"Ingress {meta(ing).get('name')}" if ing else f"Service {state.target.service}"
        wanted = {ALB_ANN + k: (f, ann[ALB_ANN + k]) for k, f in _ALB_FIELDS.items() if ann.get(ALB_ANN + k)}
        return where, wanted
    wanted = {
        SVC_ANN + k: (f, svc_ann[SVC_ANN + k]) for k, f in _SVC_FIELDS.items() if svc_ann.get(SVC_ANN + k)
    }
    if not is_lbc_service(state):
        # the in-tree provider has no success-codes annotation (K8S-LB-OWNER reports it as ignored)
        wanted.pop(SVC_ANN + "healthcheck-success-codes", None)
    port = wanted.get(SVC_ANN + "healthcheck-port")
    if port and as_int(port[1]) is None and port[1] != "traffic-port":
        wanted.pop(SVC_ANN + "healthcheck-port")  # a named port: resolved by the controller, not compared
    return f"Service {state.target.service}", wanted


def _ingress_for(state: State, tg: dict[str, Any]) -> dict[str, Any] | None:
    res = (state.aws.tags.get(tg.get("TargetGroupArn") or "") or {}).get(TAG_ING_RESOURCE, "")
    for ing in state.ingresses:
        if res.startswith(f"{state.target.namespace}/{meta(ing).get('name')}-{state.target.service}:"):
            return ing
    return state.ingresses[0] if state.ingresses else None


def _tg_addresses(state: State, tg: dict[str, Any]) -> set[str]:
    """Addresses a probe of this target group's targets would use (pod IPs, node IPs)."""
    out: set[str] = set()
    for d in descriptions(state, tg):
        tid = str((d.get("Target") or {}).get("Id") or "")
        out.add(tid)
        if tid.startswith("i-"):
            node = state.node_by_address(tid)
            for a in ((node or {}).get("status") or {}).get("addresses") or []:
                out.add(a.get("address"))
    return out


def _probe_findings(state: State, tg: dict[str, Any]) -> list[Finding]:
    proto = as_str(tg.get("HealthCheckProtocol")).upper()
    if not proto.startswith("HTTP"):
        return []
    name = tg_name(tg)
    matcher = as_str(as_dict(tg.get("Matcher")).get("HttpCode"), "200")
    path = as_str(tg.get("HealthCheckPath"), "/")
    timeout = float(as_int(tg.get("HealthCheckTimeoutSeconds")) or 5)
    addrs = _tg_addresses(state, tg)
    probes = [
        p
        for p in state.probes
        if p.kind == "http" and (not addrs or p.address in addrs) and (p.path or "/") == path
    ]
    rejected = [
        p
        for p in probes
        if p.status_code is not None and p.status_code < 500 and not code_accepted(matcher, p.status_code)
    ]
    slow = [
        p
        for p in probes
        if p.status_code is not None
        and code_accepted(matcher, p.status_code)
        and p.elapsed_ms > timeout * 1000
    ]
    out: list[Finding] = []
    if rejected:
        codes = sorted({p.status_code for p in rejected})
        redirect = all(300 <= c < 400 for c in codes)
        hint = (
            f"add the code to the matcher (success codes '{matcher},{codes[0]}') or point the path at the page the redirect leads to"
            if redirect
            else "point the health-check path at a URL the app answers with a success code"
        )
        out.append(
            Finding(
                CHECK,
                Status.FAIL,
                f"The app answers {path} with {', '.join(map(str, codes))}, which target group {name}'s matcher {matcher} rejects: {hint}",
                evidence=[
                    f"probe {p.subject} GET http://{p.address}:{p.port}{p.path or '/'} -> {p.status_code} in {p.elapsed_ms:.0f} ms"
                    for p in rejected
                ]
                + [f"target group {name}: {_describe(tg)}"],
                next_step=_fix_hint(state, tg, path, codes, matcher, rejected[0]),
                cause="healthcheck-path",
                supports=("healthcheck-path",),
            )
        )
    if slow:
        worst = max(p.elapsed_ms for p in slow)
        out.append(
            Finding(
                CHECK,
                Status.FAIL,
                f"The app answers {path} in {worst / 1000:.1f} s but target group {name} waits only {timeout:g} s: every check times out",
                evidence=[
                    f"probe {p.subject} {p.address}:{p.port}{p.path} -> {p.status_code} in {p.elapsed_ms:.0f} ms"
                    for p in slow
                ]
                + [f"target group {name}: {_describe(tg)}"],
                next_step=_timeout_step(state, tg, int(worst / 1000) + 2),
                cause="healthcheck-settings",
                supports=("healthcheck-settings", "app-error"),
            )
        )
    return out


def _timeout_step(state: State, tg: dict[str, Any], seconds: int) -> str:
    """One command that gives the check `seconds`: on the object the controller reconciles from (a
    change made on the target group itself is reverted), with the interval above the timeout, as
    ELBv2 requires. Without a controller, on the target group."""
    interval = as_int(tg.get("HealthCheckIntervalSeconds")) or 30
    owner = service_owner(state)
    if tg_lb_kind(state, tg) == "application" and state.ingresses:
        seconds = min(120, seconds)
        values = {ALB_ANN + "healthcheck-timeout-seconds": str(seconds)}
        if interval <= seconds:
            values[ALB_ANN + "healthcheck-interval-seconds"] = str(seconds + 5)
        return annotate_command("ingress", _ingress_for(state, tg) or state.ingresses[0], values)
    if owner.key in ("lbc", "in-tree-nlb"):
        seconds = min(60 if owner.key == "in-tree-nlb" else 120, seconds)
        values = {SVC_ANN + "healthcheck-timeout": str(seconds)}
        if interval <= seconds:
            values[SVC_ANN + "healthcheck-interval"] = str(seconds + 5)
        return annotate_command("svc", state.service or {}, values)
    flags = f"--health-check-timeout-seconds {min(120, seconds)}"
    if interval <= min(120, seconds):
        flags += f" --health-check-interval-seconds {min(120, seconds) + 5}"
    return f"aws elbv2 modify-target-group{region_flag(state)} --target-group-arn {tg.get('TargetGroupArn')} {flags}"


def _fix_hint(state: State, tg: dict[str, Any], path: str, codes: list[int], matcher: str, probe: ProbeResult) -> str:
    ready_path = ""
    for pod in state.selected_pods:
        for c in as_list(as_dict(pod.get("spec")).get("containers")):
            http_get = as_dict(as_dict(as_dict(c).get("readinessProbe")).get("httpGet"))
            ready_path = ready_path or as_str(http_get.get("path"))
    # The same change gets the same command as K8S-ALB-INGRESS / K8S-READINESS-VS-LB offer (one command per fix).
    if tg_lb_kind(state, tg) == "application" and state.ingresses:
        ing = _ingress_for(state, tg) or state.ingresses[0]
        if ready_path and ready_path != path:
            return annotate_command("ingress", ing, {ALB_ANN + "healthcheck-path": ready_path})
        return annotate_command("ingress", ing, {ALB_ANN + "success-codes": f"{matcher},{codes[0]}"})
    svc = state.service or {"metadata": {"name": state.target.service, "namespace": state.target.namespace}}
    if ready_path and ready_path != path:
        return annotate_command("svc", svc, {SVC_ANN + "healthcheck-path": ready_path})
    if service_owner(state).key == "in-tree-nlb":  # it reads no success-codes annotation
        return (f"curl -s -o /dev/null -w '%{{http_code}}\\n' http://{probe.address}:{probe.port}{path}  (the in-tree provider reads no "
                f"success-codes annotation: make {path} answer {matcher}, or set {SVC_ANN}healthcheck-path to a path that does)")
    return annotate_command("svc", svc, {SVC_ANN + "healthcheck-success-codes": f"{matcher},{codes[0]}"})


def _port_finding(state: State, tg: dict[str, Any]) -> Finding | None:
    """A numeric health-check port that nothing of this Service serves."""
    hc = str(tg.get("HealthCheckPort") or "traffic-port")
    port = as_int(hc)
    if port is None or port == as_int(tg.get("Port")):
        return None
    spec = (state.service or {}).get("spec") or {}
    name = tg_name(tg)
    if tg.get("TargetType") == "instance":
        served = {as_int(p.get("nodePort")) for p in spec.get("ports") or []} | {
            as_int(spec.get("healthCheckNodePort"))
        }
        what = "a NodePort or the healthCheckNodePort of the Service"
    elif tg.get("TargetType") == "ip":
        served = set()
        for pod in state.selected_pods:
            for c in as_list(as_dict(pod.get("spec")).get("containers")):
                served |= {as_int(as_dict(cp).get("containerPort")) for cp in as_list(as_dict(c).get("ports"))}
        what = "a containerPort of the selected pods"
        if not served:
            return None
    else:
        return None
    if port in served:
        return None
    entry = service_port_entry(state, tg) or {}
    if tg_lb_kind(state, tg) == "application" and state.ingresses:
        ing = meta(_ingress_for(state, tg) or state.ingresses[0]).get("name")
        fix_cmd = f"kubectl annotate ingress {ing} -n {state.target.namespace} {ALB_ANN}healthcheck-port=traffic-port --overwrite"
    else:
        fix_cmd = (
            f"kubectl annotate service {state.target.service} -n {state.target.namespace} "
            f"{SVC_ANN}healthcheck-port=traffic-port --overwrite"
        )
    return Finding(
        CHECK,
        Status.WARN,
        f"Target group {name} health-checks port {port}, which is not {what}",
        evidence=[
            f"target group {name} HealthCheckPort={hc}, traffic port {tg.get('Port')}",
            f"served ports: {sorted(p for p in served if p)}",
        ]
        + (
            [f"Service port {entry.get('name') or entry.get('port')}: targetPort {entry.get('targetPort')}"]
            if entry
            else []
        ),
        next_step=fix_cmd,
        cause="healthcheck-port",
        supports=("healthcheck-port",),
    )
