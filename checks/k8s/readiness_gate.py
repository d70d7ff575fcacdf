"""K8S-READINESS-GATE: the load balancer's readiness gate on the pods is True.

Why it matters: with pod readiness gates (AWS Load Balancer Controller:
`target-health.elbv2.k8s.aws/<TargetGroupBinding>`; TKE: `cloud.tencent.com/load-balancer-backendgroup-ready`)
a pod only becomes Ready once the load balancer reports its target healthy. A gate that is
False carries the load balancer's own reason code (`Target.ResponseCodeMismatch`,
`Target.Timeout`, ...) right in the pod's conditions; a gate with no condition at all means
the controller never reported (not registered, controller down). Rollouts stall on both.
"""

from __future__ import annotations

import json
from typing import Any

from checks.k8s._lbfacts import alb_ingresses, service_owner
from checks.k8s._podfacts import as_dict, as_list, condition, fmt_selector, name_of, pod_spec, ref
from checks.lbview import detect_cloud, target_type
from checks.model import Finding, Status
from checks.registry import check
from checks.state import State
from checks.tencent._common import direct_access, tied_lbs

ID = "K8S-READINESS-GATE"
GATE_PREFIXES = ("target-health.elbv2.k8s.aws/", "target-health.alb.ingress.k8s.aws/", "cloud.tencent.com/load-balancer-backendgroup-ready")

# Load balancer reason codes (AWS DescribeTargetHealth) -> (what it means, mechanisms)
REASONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Target.ResponseCodeMismatch": ("the health check got an HTTP status outside the success codes", ("healthcheck-path", "app-error")),
    "Target.Timeout": ("the health check timed out: blocked by a security group/NACL/policy, or the app is slow", ("network-sg", "network-acl", "network-policy", "healthcheck-settings", "app-error")),
    "Target.FailedHealthChecks": ("the health check failed: refused, reset or an error answer (an NLB reports every failed check this way)",
                                  ("targetport", "listen-localhost", "app-error", "network-sg")),
    "Target.NotRegistered": ("the target is not registered in the target group", ("controller",)),
    "Target.NotInUse": ("the target's Availability Zone is not enabled on the load balancer", ("controller",)),
    "Target.DeregistrationInProgress": ("the target is being deregistered", ()),
    "Target.InvalidState": ("the target is stopped or terminated", ()),
    "Target.IpUnusable": ("the IP address is reserved for use by a load balancer", ("controller",)),
    "Target.HealthCheckDisabled": ("health checks are disabled on the target group", ("healthcheck-settings",)),
    "Elb.RegistrationInProgress": ("the target is still being registered", ()),
    "Elb.InitialHealthChecking": ("the first health checks have not finished yet", ()),
    "Elb.InternalError": ("the load balancer had an internal error", ()),
}
IN_PROGRESS = {"Elb.RegistrationInProgress", "Elb.InitialHealthChecking", "Target.DeregistrationInProgress"}


def _gates(pod: dict[str, Any]) -> list[str]:
    out = []
    for g in as_list(pod_spec(pod).get("readinessGates")):
        ctype = str(as_dict(g).get("conditionType") or "")
        if ctype.startswith(GATE_PREFIXES):
            out.append(ctype)
    return out


def _code(cond: dict[str, Any]) -> str:
    reason = str(cond.get("reason") or "")
    if reason in REASONS:
        return reason
    msg = str(cond.get("message") or "")
    return next((code for code in REASONS if code in msg), reason)


def _aws_health_command(state: State) -> str:
    """The target group's own view (what the gate mirrors); without its ARN, the bindings that name it."""
    arns = [str(tg.get("TargetGroupArn")) for tg in state.aws.target_groups if isinstance(tg, dict) and tg.get("TargetGroupArn")]
    if arns:
        parts = arns[0].split(":")
        region = f" --region {parts[3]}" if len(parts) > 3 and parts[3] else ""
        return f"aws elbv2 describe-target-health{region} --target-group-arn {arns[0]}"
    return (f"kubectl get targetgroupbinding -n {state.target.namespace} "
            "-o custom-columns=NAME:.metadata.name,SERVICE:.spec.serviceRef.name,TARGET_GROUP:.spec.targetGroupARN")


def _tke_health_command(state: State, pod: str) -> str:
    """The CLB's own view of the pod's target (what the gate mirrors), or the pod's events without a CLB id."""
    ids = [t.lb_id for t in tied_lbs(state, fallback=False)]
    if ids:
        return f"tccli clb DescribeTargetHealth --LoadBalancerIds '{json.dumps(ids[:1])}'"
    return f"kubectl describe pod {pod} -n {state.target.namespace}  (Events: the CLB's reason for the gate)"


def _no_gate_hint(state: State) -> str:
    """Where a gate would come from, said only where one can exist: the AWS Load Balancer Controller
    injects it for ip targets alone (with instance targets the load balancer sees nodes, not pods)."""
    cloud = detect_cloud(state)
    if cloud == "tencent" and not direct_access(state):
        return " (NodePort mode: the CLB targets nodes, so TKE adds no pod gate)"
    if cloud == "tencent":
        return (" (TKE adds cloud.tencent.com/load-balancer-backendgroup-ready to pods created while a direct-access "
                "Service selects them; these pods predate that)")
    if cloud != "aws":
        return ""
    if service_owner(state).key != "lbc" and not alb_ingresses(state):
        return " (only the AWS Load Balancer Controller adds one; it does not manage this load balancer)"
    if target_type(state) != "ip":
        return " (the AWS Load Balancer Controller adds one only for ip targets; these are instance targets)"
    ns = state.target.namespace
    return f" (to get one: kubectl label namespace {ns} elbv2.k8s.aws/pod-readiness-gate-inject=enabled; pods created afterwards carry it)"


@check(
    ID,
    title="Load balancer readiness gates on the pods are True",
    seed="beyond",
    reads=("k8s.service", "k8s.pods"),
    severity=45,
)
def readiness_gate(state: State) -> Finding:
    """A False target-health gate is the load balancer saying, in the pod, why the target is unhealthy."""
    ns = state.target.namespace
    pods = sorted(state.selected_pods, key=ref)
    if not pods:
        return Finding(ID, Status.SKIP, f"No pod matches selector {fmt_selector(state.selector)}; no readiness gate to read")
    gated = [(p, g) for p in pods for g in _gates(p)]
    if not gated:
        return Finding(ID, Status.SKIP, f"No load balancer readiness gate on the {len(pods)} pod(s){_no_gate_hint(state)}")

    false_gates, missing, progress, ok = [], [], [], []
    evidence: list[str] = []
    mechanisms: list[str] = []
    for pod, gate in gated:
        cond = condition(pod, gate)
        if cond is None:
            missing.append((pod, gate))
            evidence.append(f"Pod {ref(pod)} readiness gate {gate}: no condition reported yet")
            continue
        status = cond.get("status")
        code = _code(cond)
        line = f"Pod {ref(pod)} condition {gate} = {status}" + (f", reason={cond.get('reason')}" if cond.get("reason") else "") + (
            f", message={cond.get('message')!r}" if cond.get("message") else ""
        )
        if status == "True":
            ok.append((pod, gate))
            continue
        evidence.append(line)
        if code in REASONS:
            meaning, mechs = REASONS[code]
            evidence.append(f"  {code}: {meaning}")
            mechanisms.extend(m for m in mechs if m not in mechanisms)
        (progress if code in IN_PROGRESS else false_gates).append((pod, gate, code))

    if false_gates:
        pod, gate, code = false_gates[0]
        codes = sorted({c for _p, _g, c in false_gates if c})
        return Finding(
            ID,
            Status.FAIL,
            f"The load balancer reports {len(false_gates)} of {len(gated)} pod target(s) unhealthy through their readiness gate"
            + (f" ({', '.join(codes)})" if codes else "")
            + "; those pods stay not Ready",
            evidence=evidence,
            next_step=(
                _aws_health_command(state)
                if gate.startswith("target-health.")
                else _tke_health_command(state, name_of(pod))
            ),
            supports=tuple(mechanisms),
        )
    if missing or progress:
        pod, gate = (missing[0] if missing else progress[0][:2])
        why = "no condition was ever reported (is the target registered? is the controller running?)" if missing else "the target is still registering / being checked"
        return Finding(
            ID,
            Status.WARN,
            f"{len(missing) + len(progress)} of {len(gated)} load balancer readiness gates are not True yet: {why}",
            evidence=evidence,
            next_step=(
                f"kubectl logs -n kube-system deploy/aws-load-balancer-controller --since=30m | grep {state.target.service}"
                if gate.startswith("target-health.")
                else f"kubectl describe svc {state.target.service} -n {ns}  (the TKE service controller's events say why the CLB has not registered the pod)"
            ),
            supports=("controller",) if missing else (),
        )
    return Finding(
        ID,
        Status.PASS,
        f"All {len(gated)} load balancer readiness gates on the pods are True: the load balancer sees them healthy",
        evidence=[f"Pod {ref(p)} condition {g} = True" for p, g in ok[:10]],
    )
