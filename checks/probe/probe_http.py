"""PROBE-HTTP: the targets answer the load balancer's own HTTP(S) health check.

The seeds' "test a health check manually" (`curl pod_IP/health_path` from a pod in the cluster),
done by the worker with the load balancer's settings: the same port, path, Host header, method
and timeout, no redirect followed. The status code is judged against the load balancer's
success codes (ALB matcher, NLB 200-399, CLB HttpCode classes), the time against its timeout.

What a failure supports, for the ranker: a 404/3xx on the LB path supports a wrong health-check
path (or an app error); a 5xx an app error; a timeout the network layers (security groups,
NetworkPolicy, kube-proxy); a refused connection a closed port (targetPort, localhost-only
listener, pods not ready).
"""

from __future__ import annotations

from checks.lbview import health_checks
from checks.model import Finding, Status
from checks.probe._common import (
    CLOSED_PORT,
    IN_CLUSTER,
    NETWORK,
    capped,
    classify,
    split,
)
from checks.probe._targets import HTTP_PROTOCOLS, curl_command, plan, target_of
from checks.registry import check
from checks.state import ProbeResult, State

ID = "PROBE-HTTP"
NEAR_TIMEOUT = 0.8  # answered within the timeout but using more than this share of it: warn


def _line(r: ProbeResult, method: str) -> str:
    what = f"{r.subject} {r.address}:{r.port}: {method} {r.path or '/'} (Host: {r.host_header})"
    if r.status_code is not None:
        out = f"{what} -> {r.status_code} in {r.elapsed_ms:g} ms"
    else:
        out = f"{what} -> {r.error or 'no answer'}"
    out += f"; the load balancer accepts {r.expected or '200-399'} within {r.timeout_s:g}s"
    if r.status_code is not None and r.error:
        out += f" ({r.error})"
    return out


def _advice(kind: str, r: ProbeResult) -> str:
    path = r.path or "/"
    if kind == "code":
        code = r.status_code or 0
        if 300 <= code < 400:
            return (f" The app redirects {path} and the load balancer does not follow redirects: health-check a path "
                    "that answers directly, or accept the 3xx code in the success codes.")
        if code >= 500:
            return f" The app fails on {path} ({code}): read its logs (`kubectl logs`) at the time of the probe."
        return (f" The app does not serve {path} with an accepted code: set the health-check path to one it answers "
                f"(or the success codes to include {code}).")
    if kind in ("timeout", "slow"):
        return (" Nothing answered within the load balancer's timeout: check the security groups / NetworkPolicies between "
                "the load balancer and the targets, kube-proxy on the node, and whether the app is overloaded.")
    if kind in ("refused", "reset"):
        return (f" Nothing accepts connections on port {r.port}: compare the Service targetPort with the container port "
                "and check that the app listens on 0.0.0.0, not 127.0.0.1.")
    if kind == "tls":
        return " TLS failed: the health check speaks HTTPS to a port that may serve plain HTTP (or the reverse)."
    return ""


def _mechanisms(kinds: set[str], codes: list[int]) -> tuple[str, tuple[str, ...]]:
    supports: list[str] = []
    cause = ""
    if "code" in kinds:
        if any(300 <= c < 500 for c in codes):
            supports += ["healthcheck-path", "app-error"]
            cause = "healthcheck-path"
        if any(c >= 500 for c in codes):
            supports.append("app-error")
            cause = cause or "app-error"
        if any(c < 300 for c in codes):  # e.g. 200 while the matcher wants 302
            supports.append("healthcheck-path")
            cause = cause or "healthcheck-path"
    if "slow" in kinds:
        supports.append("app-error")
        cause = cause or "app-error"
    if "timeout" in kinds:
        supports += list(NETWORK)
    if kinds & {"refused", "reset"}:
        supports += list(CLOSED_PORT)
    if "tls" in kinds:
        supports.append("healthcheck-port")
    return cause, tuple(dict.fromkeys(supports))


_SUMMARY = {
    "code": "answer {codes} to {method} {path}; the load balancer accepts {expected}",
    "slow": "answer {method} {path} only after the load balancer's {timeout}s timeout",
    "timeout": "do not answer {method} {path} within the load balancer's {timeout}s timeout",
    "refused": "refuse connections on port {ports}",
    "reset": "close the connection without an HTTP answer on port {ports}",
    "tls": "fail the TLS handshake on port {ports}",
    "other": "cannot be reached on port {ports}",
}


@check(
    ID,
    title="Targets answer the load balancer's HTTP health check",
    seed="Test a health check manually (curl APPLICATION_POD_IP/HEALTH_CHECK_PATH); 004: curl -H Host, HttpCode classes",
    reads=("k8s.service", "probe"),
    uses=("k8s.pods", "k8s.nodes"),
    severity=55,
)
def probe_http(state: State) -> Finding:
    """Replay the load balancer's HTTP(S) health check against each target."""
    done, skipped = split(state, "http")
    if not done:
        hcs = health_checks(state)
        if not hcs:
            return Finding(ID, Status.SKIP, "No load-balancer health check is known for this Service, so there is nothing to replay")
        if not any(hc.protocol.upper() in HTTP_PROTOCOLS for hc in hcs):
            protocols = ", ".join(sorted({hc.protocol.upper() for hc in hcs}))
            return Finding(ID, Status.SKIP, f"The load balancer's health check is {protocols}, not HTTP: see PROBE-TCP")
        why = f": {skipped[0].removeprefix('not probed: ')}" if skipped else ""
        return Finding(ID, Status.SKIP, f"No HTTP health-check target was probed{why}", evidence=skipped)

    targets, _notes = plan(state)
    planned = {id(r): target_of(r, targets) for r in done}
    method = {id(r): planned[id(r)].method for r in done}
    bad = [r for r in done if not r.ok]
    good = [r for r in done if r.ok]
    evidence = capped([_line(r, method[id(r)]) for r in bad + good]) + skipped
    evidence += [
        f"health check ({hc.source}): {hc.protocol} port {hc.port} path {hc.path or '/'} Host {hc.host or '(the target address)'}, "
        f"success codes {hc.success_codes or '200-399'}, timeout {hc.timeout_s:g}s"
        for hc in health_checks(state)
        if hc.protocol.upper() in HTTP_PROTOCOLS
    ]

    if not bad:
        slowish = [r for r in good if r.timeout_s and r.elapsed_ms > NEAR_TIMEOUT * r.timeout_s * 1000]
        codes = ", ".join(str(c) for c in sorted({r.status_code for r in good if r.status_code is not None}))
        paths = ", ".join(sorted({r.path or "/" for r in good}))
        if slowish:
            r = max(slowish, key=lambda x: x.elapsed_ms)
            return Finding(
                ID,
                Status.WARN,
                f"{len(slowish)} of {len(done)} target(s) answer {paths} close to the load balancer's {r.timeout_s:g}s timeout "
                f"(slowest {r.elapsed_ms:g} ms)",
                evidence=evidence,
                next_step=IN_CLUSTER.format(ns=state.target.namespace) + f"`{curl_command(planned[id(r)])}`; a slower answer fails the check.",
                cause="app-error",
                supports=("app-error",),
            )
        return Finding(
            ID,
            Status.PASS,
            f"All {len(done)} probed target(s) answer {paths} with {codes} within the load balancer's timeout",
            evidence=evidence,
        )

    kinds: dict[str, list[ProbeResult]] = {}
    for r in bad:
        kinds.setdefault(classify(r), []).append(r)
    main_kind = max(kinds, key=lambda k: len(kinds[k]))
    first = kinds[main_kind][0]
    codes = sorted({r.status_code for r in bad if r.status_code is not None and classify(r) == "code"})
    cause, supports = _mechanisms(set(kinds), [r.status_code for r in bad if r.status_code is not None])
    text = _SUMMARY[main_kind].format(
        codes="/".join(str(c) for c in codes) or "?",
        method=method[id(first)],
        path=first.path or "/",
        expected=first.expected or "200-399",
        timeout=f"{first.timeout_s:g}",
        ports=", ".join(str(p) for p in sorted({r.port for r in kinds[main_kind]})),
    )
    n_main = len(kinds[main_kind])
    summary = f"{n_main} of {len(done)} target(s) {text}"
    others = [f"{len(v)} {k}" for k, v in kinds.items() if k != main_kind]
    if others:
        summary += f" (also: {', '.join(others)})"
    redirect = next((r.error.split("redirect to ", 1)[1].split(" ", 1)[0] for r in bad if "redirect to " in (r.error or "")), "")
    if redirect and main_kind == "code":
        summary += f"; it redirects to {redirect}"
    step = IN_CLUSTER.format(ns=state.target.namespace) + f"`{curl_command(planned[id(first)])}`." + _advice(main_kind, first)
    return Finding(ID, Status.FAIL, summary, evidence=evidence, next_step=step, cause=cause, supports=supports)
