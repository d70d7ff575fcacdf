"""K8S-NLB-ANNOTATIONS: the Service's `aws-load-balancer-healthcheck-*` annotations are in range and consistent.

Why it matters: the NLB's health check comes from these annotations (seed 000, "verify the
health-check settings"). A value out of range (threshold 1, interval 3, timeout 90), a word
where a number belongs, a timeout not below the interval, or an unknown protocol makes the AWS
API reject the target group change: the controller logs an error and the load balancer keeps
its old settings or is never created. A path on a TCP health check is silently ignored. The
target type (`ip` vs `instance`, absent means instance) decides where every other check
looks, so it is reported too. A Service without any of these annotations uses the
controller's defaults, which are valid.
"""

from __future__ import annotations

from checks.k8s._lbfacts import annotate_command, as_int, service_owner, service_ports, spec_of
from checks.lbview import detect_cloud
from checks.model import Finding, FixPlan, ObjectRef, Status
from checks.providers.aws import SVC_ANN
from checks.providers.base import parse_success_codes
from checks.registry import check
from checks.state import State, meta
from checks.values import leading_int

ID = "K8S-NLB-ANNOTATIONS"
HC = SVC_ANN + "healthcheck-"
TARGET_TYPE = SVC_ANN + "nlb-target-type"
RANGES = {"healthy-threshold": (2, 10), "unhealthy-threshold": (2, 10), "interval": (5, 300), "timeout": (2, 60)}
KNOWN = set(RANGES) | {"protocol", "port", "path", "success-codes"}
# Controller defaults (reference/protocols.md 2.8): same keys, different defaults per controller.
DEFAULTS = {
    "lbc": {"healthy-threshold": 3, "unhealthy-threshold": 3, "interval": 10, "timeout": 10},
    "in-tree-nlb": {"healthy-threshold": 3, "unhealthy-threshold": 3, "interval": 30, "timeout": 10},
    "in-tree-nlb-local": {"healthy-threshold": 2, "unhealthy-threshold": 2, "interval": 10, "timeout": 10},
    "in-tree-clb": {"healthy-threshold": 2, "unhealthy-threshold": 6, "interval": 10, "timeout": 5},
}


@check(
    ID,
    title="NLB health-check annotations are in range and consistent",
    seed="verify health-check settings (000)",
    reads=("k8s.service",),
    fixes=("FIX-NLB-ANNOTATION",),
    severity=55,
)
def nlb_annotations(state: State) -> list[Finding]:
    """Validate every `service.beta.kubernetes.io/aws-load-balancer-healthcheck-*` value and the target type."""
    svc = state.service or {}
    spec = spec_of(svc)
    if spec.get("type") != "LoadBalancer":
        return [Finding(ID, Status.SKIP, f"Service {state.target.ref} is {spec.get('type') or 'ClusterIP'}, not LoadBalancer: no NLB of its own (an ALB Ingress is checked by K8S-ALB-INGRESS)")]
    cloud = detect_cloud(state)
    if cloud != "aws":
        return [Finding(ID, Status.SKIP, f"Not an AWS load balancer (cloud: {cloud or 'unknown'}): NLB annotations do not apply")]
    owner = service_owner(state)
    if owner.key == "other-class":
        return [Finding(ID, Status.SKIP, f"The load balancer is provisioned by {owner.name} ({owner.reason}); these annotations are not its settings")]
    ann = {str(k): str(v) for k, v in state.service_annotations.items() if v is not None}  # dumps may carry ints
    local = spec.get("externalTrafficPolicy") == "Local"
    dkey = owner.key if owner.key != "in-tree-nlb" or not local else "in-tree-nlb-local"
    defaults = DEFAULTS.get(dkey, DEFAULTS["lbc"])
    lbc = owner.key == "lbc"

    fail_ev: list[str] = []
    warn_ev: list[str] = []
    patch: dict[str, str] = {}
    effective: dict[str, int] = {}
    explicit: set[str] = set()

    for key, (lo, hi) in RANGES.items():
        full = HC + key
        raw = ann.get(full)
        if raw is None:
            effective[key] = defaults[key]
            continue
        explicit.add(key)
        n = as_int(raw)
        if n is not None and lo <= n <= hi:
            effective[key] = n
            continue
        guess = leading_int(raw)
        fixed = min(max(guess, lo), hi) if guess is not None else min(max(defaults[key], lo), hi)
        what = "is not a whole number" if n is None else f"is out of range ({lo}-{hi})"
        fail_ev.append(f"{full} = {str(raw)!r} {what} -> {fixed}")
        patch[full] = str(fixed)
        effective[key] = fixed

    timeout, interval = effective["timeout"], effective["interval"]
    both = {"timeout", "interval"} <= explicit
    if ("timeout" in explicit or "interval" in explicit) and (timeout > interval or (timeout == interval and (both or owner.key == "in-tree-clb"))):
        fixed = max(2, min(60, interval - 1))


        def told(key: str) -> str:  # quote each value as the annotation has it, not as corrected above
            if key not in explicit:
                return f"{effective[key]} s ({owner.name} default, annotation absent)"
            if HC + key in patch:
                return f"{effective[key]} s (the annotation's {ann[HC + key]!r} brought into range)"
            return f"{ann[HC + key]!r} (annotation)"

        fail_ev.append(f"{HC}timeout = {told('timeout')} is not below {HC}interval = {told('interval')} -> timeout {fixed}")
        patch[HC + "timeout"] = str(fixed)
        effective["timeout"] = fixed

    proto_raw = ann.get(HC + "protocol")
    protocol = (proto_raw or ("HTTP" if local else "TCP")).strip().upper()
    if proto_raw is not None and protocol not in ("TCP", "HTTP", "HTTPS"):
        fixed = "HTTP" if (ann.get(HC + "path") or local) else "TCP"
        fail_ev.append(f"{HC}protocol = {proto_raw!r} is not TCP, HTTP or HTTPS -> {fixed}")
        patch[HC + "protocol"] = fixed
        protocol = fixed
    if local and protocol == "TCP" and proto_raw is not None:
        warn_ev.append(
            f"{HC}protocol = {proto_raw!r} with externalTrafficPolicy Local: a TCP check on healthCheckNodePort always connects, "
            "so nodes without a pod look healthy and drop traffic (use HTTP)"
        )

    port_raw = ann.get(HC + "port")
    if port_raw is not None and port_raw.strip() != "traffic-port":
        n = as_int(port_raw)
        named = [p.get("name") for p in service_ports(state) if p.get("name")]
        if n is not None and 1 <= n <= 65535 or n is None and lbc and port_raw.strip() in named:
            pass
        else:
            why = (
                "is out of range (1-65535)" if n is not None
                else ("names no Service port (ports: " + (", ".join(map(str, named)) or "none") + ")" if lbc
                      else "is not a number; the in-tree provider accepts only traffic-port or a port number")
            )
            fail_ev.append(f"{HC}port = {port_raw!r} {why} -> traffic-port")
            patch[HC + "port"] = "traffic-port"

    path = ann.get(HC + "path")
    if path is not None:
        if protocol == "TCP":
            warn_ev.append(f"{HC}path = {path!r} but the health check is TCP ({HC}protocol {'= ' + repr(proto_raw) if proto_raw else 'absent -> TCP'}): the path is ignored")
        elif not path.strip().startswith("/"):
            fixed = "/" + path.strip().lstrip("/")
            fail_ev.append(f"{HC}path = {path!r} must start with '/' -> {fixed}")
            patch[HC + "path"] = fixed

    codes = ann.get(HC + "success-codes")
    if codes is not None:
        ranges = parse_success_codes(codes)
        if ranges is None or any(lo < 200 or hi > 599 for lo, hi in ranges):
            fail_ev.append(f"{HC}success-codes = {codes!r} is not valid (e.g. 200, 200,204 or 200-399; NLB range 200-599) -> 200-399")
            patch[HC + "success-codes"] = "200-399"
        elif protocol == "TCP":
            warn_ev.append(f"{HC}success-codes = {codes!r} but the health check is TCP: the codes are ignored")

    renames: dict[str, str | None] = {}  # a misspelt key -> the annotation meant (moved), or removed
    for key in sorted(ann):
        if key.startswith(HC) and key[len(HC):] not in KNOWN:
            close = [k for k in KNOWN if k[:4] == key[len(HC):][:4]]
            warn_ev.append(f"{key} is not an annotation any controller reads" + (f" (did you mean {HC}{close[0]}?)" if close else "") + ": it is ignored")
            if close and HC + close[0] not in ann:
                renames[HC + close[0]] = ann[key]
            renames[key] = None

    tt_raw = ann.get(TARGET_TYPE)
    tt_text = "instance (annotation absent: instance is the default)"
    if tt_raw is not None:
        tt = tt_raw.strip().lower()
        if tt in ("ip", "instance"):
            tt_text = f"{tt} ({TARGET_TYPE} = {tt_raw!r})"
            if tt != tt_raw:
                fail_ev.append(f"{TARGET_TYPE} = {tt_raw!r}: the controller expects lowercase -> {tt}")
                patch[TARGET_TYPE] = tt
        else:
            fail_ev.append(f"{TARGET_TYPE} = {tt_raw!r} is neither ip nor instance -> instance (the default)")
            patch[TARGET_TYPE] = "instance"
            tt_text = f"unknown ({TARGET_TYPE} = {tt_raw!r})"

    port_text = ann.get(HC + "port") or "traffic-port"
    hcnp = as_int(spec.get("healthCheckNodePort"))
    if local and HC + "port" not in ann:
        port_text = f"healthCheckNodePort {hcnp}" if hcnp is not None else "healthCheckNodePort"
    settings = (
        f"{protocol} on {port_text}"
        + (f" {ann.get(HC + 'path') or ('/healthz' if local else '/')}" if protocol.startswith("HTTP") else "")
        + f", every {effective['interval']} s, timeout {effective['timeout']} s, "
        f"healthy/unhealthy {effective['healthy-threshold']}/{effective['unhealthy-threshold']}"
    )
    base = [f"owner: {owner.name} ({owner.reason})", f"target type: {tt_text}", f"{'health check once fixed' if patch else 'effective health check'}: {settings}"]
    findings: list[Finding] = []
    if fail_ev:
        fix = FixPlan(
            id="FIX-NLB-ANNOTATION",
            title=f"Bring {len(patch)} health-check annotation(s) of Service {state.target.ref} into range",
            patch={"metadata": {"annotations": dict(patch)}},
            command=annotate_command("svc", svc, dict(patch)),
            target=ObjectRef(kind="Service", name=state.target.service, namespace=state.target.namespace, resource_version=meta(svc).get("resourceVersion")),
            patch_type="merge",
            tradeoff="The controller rewrites the target group's health check (the Service's events say if AWS refused it); "
            "targets are re-evaluated with the new settings.",
        )
        findings.append(
            Finding(
                ID,
                Status.FAIL,
                f"{len(fail_ev)} NLB health-check annotation(s) on {state.target.ref} are invalid, so AWS rejects the health-check settings and "
                "the load balancer keeps old or no settings",
                evidence=fail_ev + base,
                next_step=fix.command,
                fix=fix,
                cause="healthcheck-settings",
            )
        )
    if warn_ev:
        findings.append(
            Finding(
                ID,
                Status.WARN,
                f"{len(warn_ev)} NLB health-check annotation(s) on {state.target.ref} are inconsistent and silently ignored: the health check is not what they say",
                evidence=warn_ev + base,
                next_step=_warn_step(state, renames, ignored_by_tcp=any("the health check is TCP" in w or "with externalTrafficPolicy Local" in w for w in warn_ev)),
                supports=("healthcheck-settings",),
            )
        )
    if findings:
        return findings
    n_ann = sum(1 for k in ann if k.startswith(HC))
    return [
        Finding(
            ID,
            Status.PASS,
            f"NLB health-check settings of {state.target.ref} are valid ({n_ann} annotation(s), {owner.name} defaults for the rest): {settings}",
            evidence=base + [f"{k} = {ann[k]!r}" for k in sorted(ann) if k.startswith(HC)],
        )
    ]


def _warn_step(state: State, renames: dict[str, str | None], *, ignored_by_tcp: bool) -> str:
    """The step for what was actually found: move a misspelt annotation to its real name, and/or
    switch the check to HTTP when a path or codes are set on a TCP check (never an unrelated step)."""
    steps = []
    if renames:
        steps.append(annotate_command("svc", state.service or {}, renames) + "  (moves the misspelt annotation to the name the controller reads)")
    if ignored_by_tcp:
        steps.append(annotate_command("svc", state.service or {}, {HC + "protocol": "HTTP"}) + "  (if the path or codes are meant; or remove them)")
    return "; ".join(steps)
