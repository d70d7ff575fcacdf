"""K8S-TKE-MODE: does the TKE CLB send traffic straight to pods (direct access) or to NodePorts?

Why it matters: Tencent's CLB guide (seed 004, "containers") splits troubleshooting in two.
With `service.cloud.tencent.com/direct-access: "true"` (or `ingress.cloud.tencent.com/
direct-access` on the Ingress) the CLB binds pod IPs on VPC-CNI ENIs: kube-proxy and the
NodePort do not matter, the ENI's security group and the node's forwarding do. Without it the
CLB probes every node's NodePort and kube-proxy forwards: the node security group must admit
30000-32768 and kube-proxy must be healthy. Which checks apply follows from the mode, and a
direct-access annotation on pods that cannot be direct targets (host network, no ENI) or on a
Service no CLB is made for leaves the CLB with no working backend.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from checks.k8s._lbfacts import as_dict, as_list, ingress_class, name_of, ref, spec_of
from checks.lbview import detect_cloud
from checks.model import Finding, Status
from checks.registry import check
from checks.state import State, annotations

ID = "K8S-TKE-MODE"
SVC_DIRECT = "service.cloud.tencent.com/direct-access"
ING_DIRECT = "ingress.cloud.tencent.com/direct-access"
CONFIGMAP = ("kube-system", "tke-service-controller-config")
ENI_RESOURCES = ("tke.cloud.tencent.com/eni-ip", "tke.cloud.tencent.com/direct-eni", "tke.cloud.tencent.com/eip")

DIRECT_CHECKS = "TC-SG on the pod ENIs' security groups, TC-ACL, PROBE-HTTP/TCP to pod IPs, NODE-FORWARDING, NODE-RP-FILTER, K8S-READINESS-GATE"
NODEPORT_CHECKS = "K8S-KUBE-PROXY, K8S-TRAFFIC-POLICY, TC-SG on the node security group (NodePort range 30000-32768), PROBE to node IP:NodePort, NODE-IPTABLES"


def _flag(value: Any) -> tuple[bool, bool]:
    """(direct, recognised) for an annotation value."""
    if value is None:
        return False, True
    text = str(value).strip().lower()
    return text == "true", text in ("true", "false")


def _eni_pod(pod: dict[str, Any]) -> bool:
    for c in as_list(spec_of(pod).get("containers")):
        res = as_dict(as_dict(c).get("resources"))
        for part in ("requests", "limits"):
            if any(k in as_dict(res.get(part)) for k in ENI_RESOURCES):
                return True
    networks = str(annotations(pod).get("tke.cloud.tencent.com/networks") or "")
    return "eni" in networks


def _in_pod_cidr(state: State, pod: dict[str, Any]) -> str | None:
    ip = str(as_dict(pod.get("status")).get("podIP") or "")
    node = state.node(spec_of(pod).get("nodeName"))
    cidr = spec_of(node).get("podCIDR") if node else None
    if not ip or not cidr:
        return None
    try:
        return str(cidr) if ipaddress.ip_address(ip) in ipaddress.ip_network(str(cidr), strict=False) else None
    except ValueError:
        return None


def _problem_step(state: State, problem: str) -> str:
    """The one command that shows what the first problem names."""
    ns = state.target.namespace
    if "GlobalRouteDirectAccess" in problem:
        return f"kubectl -n {CONFIGMAP[0]} get cm {CONFIGMAP[1]} -o yaml  (direct access to GlobalRouter pods needs data.GlobalRouteDirectAccess: \"true\")"
    if "hostNetwork" in problem:
        return f"kubectl -n {ns} get pods -o wide -l " + ",".join(f"{k}={v}" for k, v in sorted(state.selector.items()))
    if problem.startswith("Ingress"):
        return f"kubectl -n {ns} get ingress -o yaml"
    return f"kubectl -n {ns} get svc {state.target.service} -o yaml"


@check(
    ID,
    title="TKE direct access (CLB to pod) or NodePort mode",
    seed="containers: direct access vs NodePort (004)",
    reads=("k8s.service",),
    uses=("k8s.ingresses", "k8s.pods", "k8s.nodes"),
    severity=20,
)
def tke_mode(state: State) -> list[Finding]:
    """Name the CLB's forwarding mode, the checks that apply to it, and direct access that cannot work."""
    cloud = detect_cloud(state)
    if cloud != "tencent":
        return [Finding(ID, Status.SKIP, f"Not a TKE/CLB Service (cloud: {cloud or 'unknown'})")]
    svc = state.service or {}
    spec = spec_of(svc)
    svc_type = spec.get("type") or "ClusterIP"
    svc_raw = annotations(svc).get(SVC_DIRECT)
    svc_direct, svc_ok = _flag(svc_raw)
    # Only Ingresses TKE's CLB controller serves (class qcloud, or no class); nginx & co. sit behind their own Service.
    ings = [i for i in state.ingresses if ingress_class(i) in (None, "qcloud")]
    ing_direct = [i for i in ings if _flag(annotations(i).get(ING_DIRECT))[0]]
    problems: list[str] = []
    evidence: list[str] = [f"Service {state.target.ref}: type {svc_type}, {SVC_DIRECT} = {svc_raw!r}" if svc_raw is not None else f"Service {state.target.ref}: type {svc_type}, {SVC_DIRECT} not set"]
    evidence += [f"Ingress {ref(i)}: {ING_DIRECT} = {annotations(i).get(ING_DIRECT)!r}" for i in ings if annotations(i).get(ING_DIRECT) is not None]

    if not svc_ok:
        problems.append(f"{SVC_DIRECT} = {svc_raw!r} is not \"true\" or \"false\": the controller treats it as not set, so the CLB uses NodePort mode")
    for i in ings:
        raw = annotations(i).get(ING_DIRECT)
        if not _flag(raw)[1]:
            problems.append(f"Ingress {ref(i)} {ING_DIRECT} = {raw!r} is not \"true\" or \"false\": NodePort mode is used")

    direct = svc_direct or bool(ing_direct)
    if svc_direct and svc_type not in ("LoadBalancer",) and not ings:
        problems.append(f"{SVC_DIRECT} is set on a {svc_type} Service and no Ingress routes to it: no CLB is created for this Service")
    nodeport_ings = [i for i in ings if i not in ing_direct]
    if nodeport_ings and svc_type == "ClusterIP" and not svc_direct:
        problems.append(
            f"Ingress {', '.join(ref(i) for i in nodeport_ings)} uses NodePort mode but {state.target.ref} is ClusterIP: the CLB has no NodePort to send to "
            f"(set {ING_DIRECT}: \"true\" with VPC-CNI, or make the Service NodePort)"
        )

    if direct:
        host_net = [name_of(p) for p in state.selected_pods if spec_of(p).get("hostNetwork")]
        if host_net:
            problems.append(f"direct access, but pod(s) {', '.join(host_net)} use hostNetwork: their IP is the node's, not an ENI IP the CLB can bind")
        cm = state.k8s.get("ConfigMap", *CONFIGMAP)
        global_route = str(as_dict((cm or {}).get("data")).get("GlobalRouteDirectAccess", "")).lower() == "true"
        eni = [name_of(p) for p in state.selected_pods if _eni_pod(p)]
        if eni:
            evidence.append(f"VPC-CNI (ENI) pods: {', '.join(eni[:5])}")
        routed = [(name_of(p), c) for p in state.selected_pods if not spec_of(p).get("hostNetwork") and not _eni_pod(p) and (c := _in_pod_cidr(state, p))]
        if routed:
            line = ", ".join(f"{n} (IP in node podCIDR {c})" for n, c in routed[:5])
            if cm is not None and not global_route:
                problems.append(
                    f"direct access, but pod(s) {line} use GlobalRouter networking and {CONFIGMAP[0]}/{CONFIGMAP[1]} does not set GlobalRouteDirectAccess: \"true\""
                )
            elif cm is None:
                evidence.append(f"pod(s) {line} use GlobalRouter networking: direct access needs GlobalRouteDirectAccess: \"true\" in ConfigMap {CONFIGMAP[0]}/{CONFIGMAP[1]} (not read)")
            else:
                evidence.append(f"GlobalRouter pods with GlobalRouteDirectAccess enabled in {CONFIGMAP[0]}/{CONFIGMAP[1]}")

    mode = "direct access (CLB -> pod IPs)" if direct else "NodePort mode (CLB -> node IP:NodePort -> kube-proxy -> pod)"
    applies = DIRECT_CHECKS if direct else NODEPORT_CHECKS
    evidence.append(f"checks that apply in this mode: {applies}")
    if problems:
        return [
            Finding(
                ID,
                Status.WARN,
                f"TKE {mode} for {state.target.ref}, but {problems[0]}" + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""),
                evidence=problems + evidence,
                next_step=_problem_step(state, problems[0]),
                supports=("controller",),
            )
        ]
    return [
        Finding(
            ID,
            Status.PASS,
            f"TKE {mode} for {state.target.ref}",
            evidence=evidence,
            next_step=f"kubectl -n {state.target.namespace} get svc {state.target.service} -o jsonpath='{{.metadata.annotations}}'",
        )
    ]



