"""AWS-HC-NODEPORT: with externalTrafficPolicy Local and instance targets, check healthCheckNodePort."""

from __future__ import annotations

from checks.aws._common import no_target_groups, tg_lb_kind, tg_name
from checks.model import Finding, FixPlan, ObjectRef, Status
from checks.providers.aws import ALB_ANN, SVC_ANN
from checks.providers.aws.mapping import service_target_groups
from checks.providers.base import external_traffic_local
from checks.registry import check
from checks.state import State, meta
from checks.values import as_int

CHECK = "AWS-HC-NODEPORT"


@check(
    CHECK,
    title="Local traffic policy: the health check goes to healthCheckNodePort /healthz",
    seed="Check the service traffic policy (externalTrafficPolicy: Local)",
    reads=("aws.elbv2",),
    uses=("k8s.service",),
    fixes=("FIX-NLB-ANNOTATION",),
    severity=70,
)
def hc_nodeport(state: State) -> Finding:
    """With `externalTrafficPolicy: Local` a node forwards only to pods on itself. kube-proxy
    serves `/healthz` on `spec.healthCheckNodePort`, answering 200 only on nodes that hold a
    ready pod, so the load balancer skips the others. A health check on the traffic NodePort
    instead marks the empty nodes healthy or not depending on chance, and a TCP check on the
    health port always passes: traffic then lands on nodes that drop it.
    """
    skip = no_target_groups(state, CHECK)
    if skip:
        return skip
    spec = (state.service or {}).get("spec") or {}
    instance_tgs = [tg for tg, _ in service_target_groups(state) if tg.get("TargetType") == "instance"]
    if not external_traffic_local(state):
        return Finding(
            CHECK,
            Status.SKIP,
            f"Not applicable: externalTrafficPolicy is {spec.get('externalTrafficPolicy', 'Cluster')}, not Local",
        )
    if not instance_tgs:
        return Finding(
            CHECK, Status.SKIP, "Not applicable: the target groups register pod IPs (ip targets), not nodes"
        )
    hcnp = as_int(spec.get("healthCheckNodePort"))
    if not hcnp:
        return Finding(CHECK, Status.SKIP, "The Service has no spec.healthCheckNodePort to compare with")
    node_ports = {as_int(p.get("nodePort")) for p in spec.get("ports") or []} - {None}
    bad, weak, good = [], [], []
    for tg in instance_tgs:
        port_raw = str(tg.get("HealthCheckPort") or "traffic-port")
        port = as_int(tg.get("Port")) if port_raw == "traffic-port" else as_int(port_raw)
        line = (
            f"target group {tg_name(tg)}: health check {tg.get('HealthCheckProtocol', '?')} port {port_raw}"
            f"{' ' + tg['HealthCheckPath'] if tg.get('HealthCheckPath') else ''}; traffic port {tg.get('Port')}; "
            f"Service healthCheckNodePort {hcnp}"
        )
        if port_raw == "traffic-port" or port in node_ports or (hcnp and port != hcnp):
            bad.append((tg, line))
        elif (tg.get("HealthCheckProtocol") or "").upper() == "TCP":
            weak.append((tg, line))
        else:
            good.append(line)
    if bad:
        tg, _ = bad[0]
        return Finding(
            CHECK,
            Status.FAIL,
            f"Target group {tg_name(tg)} health-checks the traffic port, not healthCheckNodePort {hcnp}: "
            "nodes without a ready pod are not told apart from the others",
            evidence=[line for _, line in bad],
            next_step=_next_step(state, tg, hcnp),
            fix=_fix(state, tg, hcnp),
            cause="healthcheck-port",
            supports=("healthcheck-port", "traffic-policy"),
        )
    if weak:
        tg, _ = weak[0]
        return Finding(
            CHECK,
            Status.WARN,
            f"Target group {tg_name(tg)} checks healthCheckNodePort {hcnp} over TCP: kube-proxy always accepts the "
            "connection, so nodes without a ready pod still look healthy",
            evidence=[line for _, line in weak],
            next_step=_next_step(state, tg, hcnp),
            fix=_fix(state, tg, hcnp),
            cause="healthcheck-settings",
            supports=("healthcheck-settings", "traffic-policy"),
        )
    return Finding(
        CHECK, Status.PASS, f"The health check goes to healthCheckNodePort {hcnp} over HTTP", evidence=good
    )


def _next_step(state: State, tg: dict, hcnp: int | None) -> str:
    ns, svc = state.target.namespace, state.target.service
    if tg_lb_kind(state, tg) == "application" and state.ingresses:
        ing = meta(state.ingresses[0]).get("name")
        return (
            f"kubectl annotate ingress {ing} -n {ns} {ALB_ANN}healthcheck-port={hcnp} "
            f"{ALB_ANN}healthcheck-path=/healthz --overwrite"
        )
    return (
        f"kubectl annotate service {svc} -n {ns} {SVC_ANN}healthcheck-port={hcnp} "
        f"{SVC_ANN}healthcheck-protocol=HTTP {SVC_ANN}healthcheck-path=/healthz --overwrite"
    )


def _fix(state: State, tg: dict, hcnp: int | None) -> FixPlan | None:
    """Only for the Service's own NLB: point its health-check annotations at healthCheckNodePort."""
    if not hcnp or (tg_lb_kind(state, tg) == "application" and state.ingresses):
        return None
    svc = state.service or {}
    ann = {
        SVC_ANN + "healthcheck-port": str(hcnp),
        SVC_ANN + "healthcheck-protocol": "HTTP",
        SVC_ANN + "healthcheck-path": "/healthz",
    }
    return FixPlan(
        id="FIX-NLB-ANNOTATION",
        title=f"Health-check healthCheckNodePort {hcnp} over HTTP /healthz",
        patch={"metadata": {"annotations": ann}},
        command=_next_step(state, tg, hcnp),
        target=ObjectRef(
            kind="Service",
            name=state.target.service,
            namespace=state.target.namespace,
            resource_version=meta(svc).get("resourceVersion"),
        ),
        patch_type="merge",
    )
