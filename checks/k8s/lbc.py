"""K8S-LBC: the AWS Load Balancer Controller is running and allowed to do its job.

Why it matters: with the controller in charge (an ALB Ingress, or an NLB Service with
`loadBalancerClass: service.k8s.aws/nlb` / `aws-load-balancer-type: external`), nothing on
the AWS side changes unless the controller is up and its IAM role permits it. A missing
permission shows up as `AccessDenied` / `UnauthorizedOperation` in its log and as
`FailedDeployModel` events on the Service or Ingress: security-group rules are not added,
targets are not registered, health-check settings are not applied (seed 001, "the AWS Load
Balancer Controller has the correct permissions"). `FailedBuildModel` means the controller
refused the Kubernetes objects themselves (bad annotation, missing port).
"""

from __future__ import annotations

import json
import re
from typing import Any

from checks.k8s._lbfacts import alb_ingresses, as_dict, as_int, name_of, ref, service_owner, spec_of
from checks.lbview import detect_cloud
from checks.model import Finding, Status
from checks.registry import check
from checks.state import State, meta

ID = "K8S-LBC"
NAME = "aws-load-balancer-controller"
LABEL = "app.kubernetes.io/name"
PERMISSION = re.compile(r"AccessDenied|UnauthorizedOperation|not authorized to perform", re.I)
MODEL = re.compile(r"FailedDeployModel|FailedBuildModel|Failed deploy model|Failed build model", re.I)
IAM_ACTION = re.compile(r"not authorized to perform:?\s*([a-z0-9-]+:[A-Za-z0-9*]+)")
MAX_QUOTE = 400


def _controller(state: State) -> dict[str, Any] | None:
    dep = state.k8s.get("Deployment", "kube-system", NAME)
    if dep is not None:
        return dep
    for d in state.k8s.of_kind("Deployment"):
        if (meta(d).get("labels") or {}).get(LABEL) == NAME:
            return d
    return None


def _readiness(dep: dict[str, Any]) -> tuple[bool, str, list[str]]:
    spec, st = spec_of(dep), as_dict(dep.get("status"))
    want = as_int(spec.get("replicas"))
    want = 1 if want is None else want
    ready = as_int(st.get("readyReplicas")) or 0
    available = as_int(st.get("availableReplicas")) or 0
    ev = [f"deployment {ref(dep)}: replicas {want}, ready {ready}, available {available}"]
    for c in st.get("conditions") or []:
        if isinstance(c, dict) and c.get("status") != "True":
            ev.append(f"condition {c.get('type')} = {c.get('status')}: {c.get('reason') or ''} {c.get('message') or ''}".rstrip())
    ok = want > 0 and ready >= want and available > 0
    return ok, f"{ready}/{want} replicas ready", ev


def _lb_exists(state: State, albs: list[dict[str, Any]]) -> str:
    """Evidence that the controller already built the load balancer ('' if none)."""
    if state.aws.load_balancers or state.aws.target_groups or state.aws.target_health:
        n_tg = len(state.aws.target_groups) or len(state.aws.target_health)
        return f"{len(state.aws.load_balancers)} load balancer(s) / {n_tg} target group(s) of this Service were read from AWS"
    for obj, what in [(state.service or {}, f"Service {state.target.ref}")] + [(i, f"Ingress {ref(i)}") for i in albs]:
        lb = as_dict(as_dict(obj.get("status")).get("loadBalancer")).get("ingress") or []
        if lb and isinstance(lb[0], dict):
            return f"{what} status.loadBalancer.ingress = {lb[0].get('hostname') or lb[0].get('ip')}"
    return ""


def _shorten(line: str) -> str:
    line = line.strip()
    try:
        obj = json.loads(line)
        if isinstance(obj, dict):
            parts = [str(obj.get(k)) for k in ("ts", "level", "msg", "error") if obj.get(k) is not None]
            obj_ref = obj.get("object") or obj.get("service") or obj.get("ingress")
            if obj_ref:
                parts.append(f"object={json.dumps(obj_ref, separators=(',', ':'))}")
            line = " ".join(parts) or line
    except (ValueError, TypeError):
        pass
    return line if len(line) <= MAX_QUOTE else line[: MAX_QUOTE - 3] + "..."


def _log_hits(state: State, dep: dict[str, Any] | None, names: set[str]) -> tuple[list[str], int, bool]:
    """(matching lines, relevant first; lines scanned; any logs at all)."""
    ns = meta(dep).get("namespace") if dep else "kube-system"
    prefix = name_of(dep) if dep else NAME
    hits: list[tuple[int, str]] = []
    scanned = 0
    found = False
    for (lns, pod, _container, _previous), text in state.k8s.logs.items():
        if lns != ns or not str(pod).startswith(prefix) or not isinstance(text, str):
            continue
        found = True
        for line in text.splitlines():
            scanned += 1
            if PERMISSION.search(line) or MODEL.search(line):
                relevant = any(n in line for n in names)
                hits.append((0 if relevant else 1, f"log {pod}: {_shorten(line)}"))
    hits.sort(key=lambda h: h[0])
    seen: list[str] = []
    for _, h in hits:
        if h not in seen:
            seen.append(h)
    return seen, scanned, found


def _bindings(state: State) -> list[dict[str, Any]]:
    """TargetGroupBindings that register the Service's pods: the controller owns those targets
    even when no Service annotation or Ingress of it does (a target group made outside Kubernetes)."""
    return [
        tgb for tgb in state.k8s.of_kind("TargetGroupBinding", state.target.namespace)
        if as_dict(as_dict(tgb.get("spec")).get("serviceRef")).get("name") == state.target.service
    ]


def _event_hits(state: State, ingress_names: set[str], binding_names: set[str] = frozenset()) -> list[str]:
    out = []
    for e in state.k8s.of_kind("Event", state.target.namespace):
        inv = as_dict(e.get("involvedObject"))
        ours = (inv.get("kind") == "Service" and inv.get("name") == state.target.service) or (
            inv.get("kind") == "Ingress" and inv.get("name") in ingress_names
        ) or (inv.get("kind") == "TargetGroupBinding" and inv.get("name") in binding_names)
        if not ours or e.get("type") != "Warning":
            continue
        reason, msg = str(e.get("reason") or ""), str(e.get("message") or "")
        if MODEL.search(reason) or PERMISSION.search(msg) or MODEL.search(msg):
            out.append(f"event on {inv.get('kind')} {inv.get('name')}: {reason} (x{e.get('count') or 1}): {_shorten(msg)}")
    return out


@check(
    ID,
    title="The AWS Load Balancer Controller is ready and has the IAM permissions it needs",
    seed="AWS Load Balancer Controller has the correct permissions (001)",
    reads=("k8s.service",),
    uses=("k8s.ingresses", "k8s.lbc", "k8s.logs", "k8s.events"),
    severity=55,
)
def lbc(state: State) -> list[Finding]:
    """Controller Deployment readiness, and permission/model errors in its logs and in events on the Service/Ingress."""
    if detect_cloud(state) != "aws":
        return [Finding(ID, Status.SKIP, "Not an AWS load balancer: the AWS Load Balancer Controller is not involved")]
    owner = service_owner(state)
    albs = alb_ingresses(state)
    bindings = _bindings(state)
    if owner.key != "lbc" and not albs and not bindings:
        return [
            Finding(
                ID,
                Status.SKIP,
                f"The AWS Load Balancer Controller does not own {state.target.ref}'s load balancer ({owner.name}: {owner.reason}) and no ALB Ingress routes to it",
            )
        ]
    owns = (([f"Service {state.target.ref} ({owner.reason})"] if owner.key == "lbc" else []) + [f"Ingress {ref(i)}" for i in albs]
            + [f"TargetGroupBinding {ref(b)}" for b in bindings])
    names = {f"{state.target.namespace}/{state.target.service}", f'"name":"{state.target.service}"'} | {ref(i) for i in albs}
    ingress_names = {name_of(i) for i in albs}

    evidence = ["the controller reconciles " + ", ".join(owns)]
    dep = _controller(state)
    why_dep = state.why_not_read("k8s.lbc")
    problems: list[Finding] = []
    cmd_logs = f"kubectl -n {meta(dep).get('namespace') if dep else 'kube-system'} logs deploy/{name_of(dep) if dep else NAME} --since=1h | grep -iE 'AccessDenied|Unauthorized|FailedDeployModel|FailedBuildModel'"
    lb_seen = _lb_exists(state, albs)
    if dep is None and why_dep is None and lb_seen:
        problems.append(
            Finding(
                ID,
                Status.WARN,
                f"The AWS Load Balancer Controller is not at kube-system/{NAME} (nor labelled {LABEL}={NAME}), yet the load balancer exists: "
                "it may run under another name; its health and permissions could not be checked",
                evidence=evidence + [lb_seen],
                next_step="kubectl get deploy -A | grep -i load-balancer",
                supports=("controller",),
            )
        )
    elif dep is None and why_dep is None:
        problems.append(
            Finding(
                ID,
                Status.FAIL,
                f"No AWS Load Balancer Controller is installed, yet {owns[0]} needs it: nothing creates or updates the load balancer",
                evidence=evidence + [f"no Deployment kube-system/{NAME} and none labelled {LABEL}={NAME}"],
                next_step="Install it (helm install aws-load-balancer-controller eks/aws-load-balancer-controller -n kube-system "
                "--set clusterName=<cluster> --set serviceAccount.name=aws-load-balancer-controller), with its IAM role",
                cause="controller",
            )
        )
    elif dep is not None:
        ok, text, dev = _readiness(dep)
        evidence += dev
        if not ok:
            problems.append(
                Finding(
                    ID,
                    Status.FAIL,
                    f"The AWS Load Balancer Controller {ref(dep)} is not ready ({text}): load balancer changes for {state.target.ref} are not applied",
                    evidence=evidence,
                    next_step=f"kubectl -n {meta(dep).get('namespace')} describe deploy {name_of(dep)}; kubectl -n {meta(dep).get('namespace')} get pods -l {LABEL}={NAME}",
                    cause="controller",
                )
            )
    elif "k8s.lbc" in state.read_errors:
        evidence.append(f"could not read the controller Deployment: {why_dep}")
    else:
        evidence.append(f"the controller Deployment was not read ({why_dep})")

    logs, scanned, any_logs = _log_hits(state, dep, names)
    events = _event_hits(state, ingress_names, {name_of(b) for b in bindings}) if state.did_read("k8s.events") else []
    hits = events + logs
    permission = [h for h in hits if PERMISSION.search(h)]
    model = [h for h in hits if not PERMISSION.search(h)]
    if permission:
        actions = sorted({m.group(1) for h in permission for m in IAM_ACTION.finditer(h)})
        what = (
            f"IAM action {', '.join(actions)}" if actions
            else "an AWS action (the message is encoded: aws sts decode-authorization-message --encoded-message <msg>)"
        )
        problems.append(
            Finding(
                ID,
                Status.FAIL,
                f"The AWS Load Balancer Controller is denied {what}: it cannot finish the load balancer for {state.target.ref} "
                "(security-group rules, targets or health-check settings stay unapplied)",
                evidence=permission[:4] + evidence,
                next_step="Add the missing action(s) to the controller's IAM policy (the role in "
                f"`kubectl -n kube-system get sa {NAME} -o jsonpath='{{.metadata.annotations.eks\\.amazonaws\\.com/role-arn}}'`), "
                "compare with the policy shipped for the installed controller version, then: " + cmd_logs,
                cause="controller",
            )
        )
    if model:
        problems.append(
            Finding(
                ID,
                Status.FAIL,
                f"The AWS Load Balancer Controller fails to build or deploy the load balancer for {state.target.ref}: {model[0].split(': ', 1)[-1][:200]}",
                evidence=model[:4] + evidence,
                next_step=(f"kubectl -n {state.target.namespace} describe ingress {sorted(ingress_names)[0]}" if ingress_names
                           else f"kubectl -n {state.target.namespace} describe svc {state.target.service}") + "; " + cmd_logs,
                supports=("controller", "healthcheck-settings"),
            )
        )
    if problems:
        return problems
    if dep is None:
        status = Status.ERROR if "k8s.lbc" in state.read_errors else Status.SKIP
        return [
            Finding(
                ID,
                status,
                f"Could not check the AWS Load Balancer Controller: {why_dep}"
                + (f"; no error events on {state.target.ref}" if state.did_read("k8s.events") else ""),
                evidence=evidence,
                next_step=f"Grant get/list on deployments in kube-system to lbhealth; by hand: kubectl -n kube-system get deploy {NAME}",
            )
        ]
    log_note = (
        f"{scanned} log line(s) scanned, no AccessDenied/UnauthorizedOperation/FailedDeployModel/FailedBuildModel"
        if any_logs
        else f"controller logs not read ({state.why_not_read('k8s.logs') or 'none collected'})"
    )
    evidence.append(log_note)
    evidence.append("events: " + ("none with errors on the Service/Ingress" if state.did_read("k8s.events") else f"not read ({state.why_not_read('k8s.events')})"))
    return [
        Finding(
            ID,
            Status.PASS,
            f"The AWS Load Balancer Controller {ref(dep)} is ready ({_readiness(dep)[1]}) and reports no permission or model errors for {state.target.ref}",
            evidence=evidence,
            next_step=cmd_logs,
        )
    ]
