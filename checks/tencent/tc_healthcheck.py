"""TC-HEALTHCHECK: the listener's (or L7 rule's) HealthCheck settings against what the backend answers."""

from __future__ import annotations

import json
from dataclasses import dataclass

from checks.k8s._lbfacts import Readiness, norm_path, readiness_probes, traffic_container_ports
from checks.model import Finding, Status
from checks.providers.tencent import clb_httpcode_to_spec
from checks.registry import check
from checks.state import State
from checks.tencent._common import (
    HealthCheckRef,
    as_int,
    direct_access,
    health_check_refs,
    node_ports,
    region_flag,
    target_refs,
    tied_lbs,
)
from checks.values import as_dict, as_list

ID = "TC-HEALTHCHECK"
RANGES = {"TimeOut": (2, 60), "IntervalTime": (2, 300), "HealthNum": (2, 10), "UnHealthNum": (2, 10)}


@dataclass
class Issue:
    status: Status
    cause: str  # healthcheck-path | healthcheck-settings
    text: str
    hcr: HealthCheckRef
    change: dict


def _modify_command(state: State, hcr: HealthCheckRef, change: dict) -> str:
    body = json.dumps(change, separators=(",", ":"))
    lb, lst = hcr.ref.tied.lb_id, hcr.ref.id
    if hcr.rule is not None:
        return (
            f"tccli clb ModifyRule{region_flag(state)} --LoadBalancerId {lb} --ListenerId {lst} "
            f"--LocationId {hcr.rule.get('LocationId')} --HealthCheck '{body}'"
        )
    return f"tccli clb ModifyListener{region_flag(state)} --LoadBalancerId {lb} --ListenerId {lst} --HealthCheck '{body}'"


def _code_bit(code: int) -> int:
    cls = code // 100
    return 1 << (cls - 1) if 1 <= cls <= 5 else 0


OK_CLASSES = 2 | 4  # HttpCode bits of 2xx and 3xx: what a passing readiness probe proves the app answers
REDIRECT_OR_NOT_FOUND = 4 | 8  # 3xx and 4xx: what an app usually answers on a path it does not serve


def _ready_probes_reached(state: State, hcr: HealthCheckRef, direct: bool) -> tuple[list[Readiness], str]:
    """Passing HTTP readiness probes of Ready pods on the port the CLB's check reaches, and why
    none qualify. The CLB reaches the container port traffic goes to (NodePort -> targetPort, or
    the pod port in direct access) unless CheckPort names another; on nodes that is a node port
    whose container port is unknown here."""
    ready = [r for r in readiness_probes(state) if r.pod_ready and r.port is not None]
    if not ready:
        return [], "no Ready pod with an HTTP readiness probe: nothing proves what the app answers"
    check_port = as_int(hcr.hc.get("CheckPort"))
    if check_port not in (None, -1, 0):
        reached = {check_port} if direct else set()
    else:
        reached = traffic_container_ports(state)
    same = [r for r in ready if r.port in reached]
    if not same:
        return [], (
            f"readiness probes use port(s) {', '.join(sorted({str(r.port) for r in ready}))}, "
            f"not the port the CLB checks: they say nothing about its answer"
        )
    return same, ""


def _readiness_issues(state: State, hcr: HealthCheckRef, path: str, mask: int, dead: bool, direct: bool) -> tuple[list[Issue], list[str]]:
    """Offline cross-layer inference: a Ready pod proves its app answers 200-399 on the readiness
    path and port, so a CLB check on that path with an HttpCode mask without 2xx/3xx, a check over
    TLS to a plain-HTTP app, or a check on another path accepting only 2xx explains Dead targets."""
    probes, why_not = _ready_probes_reached(state, hcr, direct)
    if not probes:
        return [], [f"{hcr.label}: no cross-check with readiness: {why_not}"]
    r0 = probes[0]
    codes = clb_httpcode_to_spec(mask)
    pods = sorted({r.pod for r in probes})
    fact = (
        f"readiness probe {r0.scheme} GET {r0.path} on port {r0.port} passes on {len(pods)} Ready pod(s) "
        f"(e.g. {r0.pod} container {r0.container}): the app answers 200-399 there"
    )
    label, ct = hcr.label, hcr.check_type
    domain = str(hcr.hc.get("HttpCheckDomain") or (hcr.rule or {}).get("Domain") or "")
    pod = state.k8s.get("Pod", state.target.namespace, r0.pod) or {}
    ip = (pod.get("status") or {}).get("podIP") or "<pod-ip>"
    header = f"-H 'Host: {domain}' " if domain else ""
    scheme = "https" if ct == "HTTPS" else "http"
    by_hand = (
        f"what the app answers the CLB's check, by hand from a node in the VPC: curl -X {hcr.hc.get('HttpCheckMethod') or 'HEAD'} {header}"
        f"{scheme}://{ip}:{r0.port}{path} -s -o /dev/null -w '%{{http_code}}\\n'"
    )
    same_path = norm_path(path) == norm_path(r0.path)
    status = Status.FAIL if dead else Status.WARN
    issues = []
    if ct == "HTTPS" and r0.scheme == "HTTP":
        issues.append(Issue(status, "healthcheck-settings",
                            f"{label}: CheckType HTTPS speaks TLS to port {r0.port}, where the app answers plain HTTP (its readiness probe): every check fails",
                            hcr, {"CheckType": "HTTP"}))
    if not mask & OK_CLASSES:
        issues.append(Issue(Status.FAIL if (same_path or dead) else Status.WARN, "healthcheck-settings",
                            f"{label}: HttpCode {mask} accepts only {codes}, never 2xx or 3xx, while the app answers 200-399 on {r0.path}: "
                            + ("every check fails" if same_path else "a healthy app fails the check"),
                            hcr, {"HttpCode": mask | OK_CLASSES}))
    elif same_path and not mask & 2:
        issues.append(Issue(status, "healthcheck-settings",
                            f"{label}: HttpCode {mask} accepts {codes} but not 2xx on {path}, the readiness path the app answers (usually 200) when healthy",
                            hcr, {"HttpCode": mask | 2}))
    if not same_path and not mask & REDIRECT_OR_NOT_FOUND:
        issues.append(Issue(status, "healthcheck-path",
                            f"{label}: the CLB checks {path} and accepts only {codes}, but the app's readiness path is {r0.path} on the same port: "
                            f"{path} most likely answers 404 or a redirect, so healthy pods are marked Dead",
                            hcr, {"HttpCheckPath": r0.path}))
    if r0.host and r0.host != domain:
        issues.append(Issue(Status.WARN, "healthcheck-path",
                            f"{label}: the readiness probe sends Host {r0.host}, the CLB check sends {('Host ' + domain) if domain else 'no Host'}: "
                            "an app that routes on Host may answer the CLB differently",
                            hcr, {"HttpCheckDomain": r0.host}))
    return issues, [fact, by_hand]


def _domain_matches(host: str, pattern: str) -> bool:
    host, pattern = host.lower().rstrip("."), pattern.lower().rstrip(".")
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and host.count(".") == pattern.count(".")
    return host == pattern


def _foreign_domain(hc: dict, rule: dict | None) -> str | None:
    """The rule's domain when the check's HttpCheckDomain is set to a host the rule does not serve."""
    check_host = str(hc.get("HttpCheckDomain") or "").strip()
    if not check_host or not isinstance(rule, dict):
        return None
    served = [str(d) for d in (rule.get("Domains") or [rule.get("Domain")]) if isinstance(d, str) and d.strip()]
    if not served or any(_domain_matches(check_host, d) for d in served):
        return None
    return served[0]


def _container_ports(state: State) -> set[int]:
    out = set()
    for p in state.selected_pods:
        for c in as_list(as_dict(p.get("spec")).get("containers")):
            for port in as_list(as_dict(c).get("ports")):
                n = as_int(as_dict(port).get("containerPort"))
                if n:
                    out.add(n)
    return out


@check(
    ID,
    title="CLB health-check settings fit what the backend answers",
    seed="004: 响应状态码以控制台配置为准; 后端协议为 HTTPS 的场景，健康检查异常建议修改为 HTTP",
    reads=("tencent.clb",),
    uses=("tencent.target_health", "probe", "k8s.pods"),
    severity=70,
)
def tc_healthcheck(state: State) -> list[Finding]:
    """CLB marks a backend Dead when its answer's status class is not in HttpCode (a 404 on the
    path while only 2xx is accepted), when the answer takes longer than TimeOut, or when it
    probes a path/port/Host the app does not serve. TimeOut must stay below IntervalTime and the
    thresholds within 2-10. HTTPS probes to HTTPS backends fail on TLS problems the app does
    not care about: CLB's guide suggests an HTTP check there; and backends need a certificate
    only when the backend protocol itself is HTTPS. Settings come from the TKE controller
    (TkeServiceConfig), so fix them there or the controller puts them back."""
    tied = tied_lbs(state)
    refs = health_check_refs(state)
    if not refs:
        return [Finding(ID, Status.SKIP, "No CLB listener of the Service to evaluate (see TC-MAP)")]
    unhealthy_listeners = {t.listener_id for t in target_refs(state, tied) if t.healthy is False}
    probes = [p for p in state.probes if p.kind == "http" and p.status_code is not None]
    direct = direct_access(state)
    backend_ports = _container_ports(state) if direct else node_ports(state)
    issues: list[Issue] = []
    evidence: list[str] = []
    for hcr in refs:
        hc = hcr.hc
        label = hcr.label
        if not hcr.switched_on:
            issues.append(
                Issue(
                    Status.WARN,
                    "healthcheck-settings",
                    f"{label}: health check switched off (HealthSwitch 0): CLB reports Close and keeps sending traffic to failing backends",
                    hcr,
                    {"HealthSwitch": 1},
                )
            )
            continue
        timeout = as_int(hc.get("TimeOut"), 2)
        interval = as_int(hc.get("IntervalTime"), 5)
        ct = hcr.check_type
        line = (
            f"{label}: {ct} check, TimeOut {timeout} s, IntervalTime {interval} s, "
            f"HealthNum {hc.get('HealthNum', 3)}, UnHealthNum {hc.get('UnHealthNum', 3)}"
        )
        for key, (lo, hi) in RANGES.items():
            value = as_int(hc.get(key))
            if hc.get(key) is not None and (value is None or not lo <= value <= hi):
                fixed = max(lo, min(hi, value if value is not None else lo))
                issues.append(Issue(Status.FAIL, "healthcheck-settings", f"{label}: {key} {hc.get(key)!r} is outside {lo}-{hi}", hcr, {key: fixed}))
        if timeout is not None and interval is not None and timeout >= interval:
            issues.append(
                Issue(
                    Status.FAIL,
                    "healthcheck-settings",
                    f"{label}: TimeOut {timeout} s is not below IntervalTime {interval} s",
                    hcr,
                    {"TimeOut": max(2, min(interval - 1, 60)) if interval > 2 else 2, "IntervalTime": max(interval, 5)},
                )
            )
        check_port = as_int(hc.get("CheckPort"))
        if check_port not in (None, -1, 0):
            line += f", CheckPort {check_port}"
            if backend_ports and check_port not in backend_ports:
                what = "container ports" if direct else "Service nodePorts"
                issues.append(
                    Issue(
                        Status.FAIL,
                        "healthcheck-settings",
                        f"{label}: CheckPort {check_port} is none of the {what} {sorted(backend_ports)}: the probe goes where nothing listens",
                        hcr,
                        {"CheckPort": -1},
                    )
                )
        if ct in ("HTTP", "HTTPS"):
            path = hc.get("HttpCheckPath") or "/"
            mask = as_int(hc.get("HttpCode"), 31)
            if mask is None or not 1 <= mask <= 31:
                issues.append(Issue(Status.FAIL, "healthcheck-settings", f"{label}: HttpCode {hc.get('HttpCode')!r} is not a 1-31 mask", hcr, {"HttpCode": 31}))
                mask = 31
            codes = clb_httpcode_to_spec(mask)
            domain = hc.get("HttpCheckDomain") or (hcr.rule or {}).get("Domain") or ""
            line += f", {hc.get('HttpCheckMethod') or 'HEAD'} {path}" + (f" Host {domain}" if domain else "") + f", healthy codes {codes} (HttpCode {mask})"
            if not str(path).startswith("/"):
                issues.append(Issue(Status.FAIL, "healthcheck-path", f"{label}: HttpCheckPath {path!r} does not start with /", hcr, {"HttpCheckPath": "/" + str(path)}))
            if hcr.rule is None and not hc.get("HttpCheckDomain"):
                line += " (no HttpCheckDomain: the probe sends no Host the app may route on)"
            if other := _foreign_domain(hc, hcr.rule):
                issues.append(Issue(Status.FAIL if hcr.ref.id in unhealthy_listeners else Status.WARN, "healthcheck-path",
                                    f"{label}: the check sends Host {hc.get('HttpCheckDomain')}, but the rule serves {other}: an app "
                                    "that routes on Host (virtual hosts, an ingress controller) answers the check as another site, "
                                    "often 404, so healthy backends are marked Dead",
                                    hcr, {"HttpCheckDomain": other}))
            inferred, facts = _readiness_issues(state, hcr, str(path), mask, hcr.ref.id in unhealthy_listeners, direct)
            issues.extend(inferred)
            evidence.extend(facts)
            for p in probes:
                if p.path and p.path != path:
                    continue
                code = int(p.status_code or 0)
                if not mask & _code_bit(code) and code >= 500:
                    evidence.append(f"{p.subject} answers {code} on {path}: the app itself fails (not a setting)")
                elif not mask & _code_bit(code):
                    new_mask = mask | _code_bit(code)
                    issues.append(
                        Issue(
                            Status.FAIL,
                            "healthcheck-path",
                            f"{label}: {p.subject} answers {code} on {path} but the check accepts only {codes} (HttpCode {mask})",
                            hcr,
                            {"HttpCode": new_mask},
                        )
                    )
                elif timeout and p.elapsed_ms > timeout * 1000:
                    issues.append(
                        Issue(
                            Status.FAIL,
                            "healthcheck-settings",
                            f"{label}: {p.subject} answers {code} in {p.elapsed_ms:.0f} ms, above TimeOut {timeout} s",
                            hcr,
                            {"TimeOut": min(60, max(timeout + 1, int(p.elapsed_ms / 1000) + 2))},
                        )
                    )
                else:
                    evidence.append(f"{p.subject} answers {code} on {path} in {p.elapsed_ms:.0f} ms: accepted")
        forward = str((hcr.rule or {}).get("ForwardType") or "").upper()
        if hcr.ref.protocol == "HTTPS":
            if forward == "HTTPS":
                line += "; backend protocol HTTPS: backends must serve a certificate"
            else:
                line += f"; backend protocol {forward or 'HTTP'}: TLS ends at the CLB, backends need no certificate"
        elif hcr.ref.protocol == "TCP_SSL":
            line += "; TCP_SSL: TLS ends at the CLB, backends need no certificate"
        if (ct == "HTTPS" or forward == "HTTPS") and hcr.ref.id in unhealthy_listeners:
            issues.append(
                Issue(
                    Status.WARN,
                    "healthcheck-settings",
                    f"{label}: HTTPS backends fail the HTTPS health check; CLB's guide suggests an HTTP check (CheckType HTTP)",
                    hcr,
                    {"CheckType": "HTTP"},
                )
            )
        evidence.insert(0, line)
    if not probes and not any("200-399 there" in e for e in evidence):
        evidence.append("No HTTP probe result and no passing readiness probe on the checked port to compare HttpCode with")

    findings: list[Finding] = []
    tke = (
        "set it in the TkeServiceConfig of the Service (annotation service.cloud.tencent.com/tke-service-config; "
        "the TKE controller reverts manual listener changes); by hand: "
    )
    for cause in ("healthcheck-path", "healthcheck-settings"):
        mine = [i for i in issues if i.cause == cause]
        if not mine:
            continue
        status = Status.FAIL if any(i.status == Status.FAIL for i in mine) else Status.WARN
        first = next(i for i in mine if i.status == status)
        change: dict = {}
        for i in mine:
            if i.hcr is first.hcr:
                change.update(i.change)
        findings.append(
            Finding(
                ID,
                status,
                first.text,
                evidence=[i.text for i in mine if i is not first] + evidence,
                next_step=tke + _modify_command(state, first.hcr, change),
                cause=cause,
                supports=(cause,),
            )
        )
    if findings:
        return findings
    return [
        Finding(
            ID,
            Status.PASS,
            f"Health-check settings of {len(refs)} listener/rule(s) are valid" + (" and accept what the app answers" if probes else ""),
            evidence=evidence,
            next_step=f"tccli clb DescribeListeners{region_flag(state)} --LoadBalancerId {refs[0].ref.tied.lb_id}",
        )
    ]
