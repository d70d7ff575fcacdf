"""K8S-LB-OWNER: which controller owns the load balancer, and which annotations it ignores.

Why it matters: three controllers read annotations on the same Services and Ingresses (the
AWS Load Balancer Controller, the in-tree AWS cloud provider, TKE's), and each silently
ignores the others' keys. `aws-load-balancer-nlb-target-type: ip` on a Service the in-tree
provider owns still gets instance targets; `healthcheck-success-codes` there changes nothing;
`alb.ingress.kubernetes.io/healthcheck-path` on an nginx Ingress is decoration. People then
debug settings the load balancer never had. Naming the owner and the ignored keys ends that.
"""

from __future__ import annotations

from checks.k8s._lbfacts import alb_ingresses, ingress_class, ref, service_owner, spec_of
from checks.lbview import detect_cloud
from checks.model import Finding, Status
from checks.providers.aws import ALB_ANN, SVC_ANN
from checks.registry import check
from checks.state import State, annotations

ID = "K8S-LB-OWNER"

# Read only by the AWS Load Balancer Controller (its Service annotation guide), not by the in-tree provider.
LBC_ONLY = {
    "nlb-target-type": "the in-tree provider always registers instances",
    "healthcheck-success-codes": "the in-tree provider's NLB health check accepts 200-399 and cannot be changed",
    "scheme": "the in-tree provider uses service.beta.kubernetes.io/aws-load-balancer-internal",
    "ip-address-type": "",
    "attributes": "",
    "target-group-attributes": "",
    "alpn-policy": "",
    "private-ipv4-addresses": "",
    "manage-backend-security-group-rules": "",
    "multi-cluster-target-group": "",
    "name": "",
}
# Classic Load Balancer settings of the in-tree provider: meaningless for an NLB.
CLB_ONLY = ("connection-draining-enabled", "connection-draining-timeout", "connection-idle-timeout")
TENCENT_PREFIXES = ("service.kubernetes.io/qcloud", "service.cloud.tencent.com/", "service.kubernetes.io/tke-", "service.kubernetes.io/loadbalance")
HC_KEYS = ("nlb-target-type", "healthcheck-success-codes")


@check(
    ID,
    title="The annotations belong to the controller that owns the load balancer",
    seed="beyond",
    reads=("k8s.service",),
    uses=("k8s.ingresses",),
    severity=35,
)
def lb_owner(state: State) -> list[Finding]:
    """Name the owning controller (Service and Ingresses) and every annotation it ignores."""
    svc = state.service or {}
    spec = spec_of(svc)
    ann = annotations(svc)
    cloud = detect_cloud(state)
    owner = service_owner(state)
    if owner.key == "unknown" and not state.ingresses:
        return [Finding(ID, Status.SKIP, f"The cloud of {state.target.ref} is not recognised ({owner.reason}): cannot tell which controller owns it")]
    ignored: list[str] = []
    hc_related = False
    evidence = [f"Service {state.target.ref}: {owner.name} ({owner.reason})"]

    aws_keys = sorted(k for k in ann if k.startswith(SVC_ANN))
    if owner.key == "none":
        if aws_keys:
            ignored += [f"{k}: Service is {spec.get('type') or 'ClusterIP'}, no controller creates a load balancer for it" for k in aws_keys]
    elif owner.key in ("in-tree-nlb", "in-tree-clb"):
        for k in aws_keys:
            short = k[len(SVC_ANN):]
            if short in LBC_ONLY:
                why = LBC_ONLY[short]
                hint = " (add service.beta.kubernetes.io/aws-load-balancer-type: external, or spec.loadBalancerClass: service.k8s.aws/nlb, so the AWS Load Balancer Controller owns it)"
                ignored.append(f"{k} = {ann[k]!r}: read only by the AWS Load Balancer Controller" + (f"; {why}" if why else "") + hint)
                hc_related = hc_related or short in HC_KEYS
            elif short in CLB_ONLY and owner.key == "in-tree-nlb":
                ignored.append(f"{k} = {ann[k]!r}: a Classic Load Balancer setting; the NLB ignores it")
    elif owner.key == "lbc":
        for k in aws_keys:
            if k[len(SVC_ANN):] in CLB_ONLY:
                ignored.append(f"{k} = {ann[k]!r}: a Classic Load Balancer setting of the in-tree provider; the AWS Load Balancer Controller ignores it")
        if ann.get(SVC_ANN + "type", "").lower() == "nlb" and spec.get("loadBalancerClass"):
            ignored.append(f"{SVC_ANN}type = 'nlb': spec.loadBalancerClass decides; the in-tree 'nlb' value has no effect")
    elif owner.key == "tke":
        ignored += [f"{k}: an AWS annotation on a TKE Service; the TKE service controller ignores it" for k in aws_keys]
    if cloud == "aws":
        ignored += [f"{k}: a Tencent Cloud (TKE) annotation; no AWS controller reads it" for k in sorted(ann) if k.startswith(TENCENT_PREFIXES)]

    albs = {id(i) for i in alb_ingresses(state)}
    for ing in state.ingresses:
        iann = annotations(ing)
        cls = ingress_class(ing)
        if id(ing) in albs:
            evidence.append(f"Ingress {ref(ing)}: AWS Load Balancer Controller (class {cls or 'default/alb annotations'})")
            ignored += [f"Ingress {ref(ing)} {k}: a TKE annotation; the AWS Load Balancer Controller ignores it" for k in sorted(iann) if k.startswith("ingress.cloud.tencent.com/")]
            continue
        controller = f"the controller of class {cls}" if cls else "the default Ingress controller"
        evidence.append(f"Ingress {ref(ing)}: {controller}")
        alb_keys = sorted(k for k in iann if k.startswith(ALB_ANN))
        if alb_keys:
            ignored += [f"Ingress {ref(ing)} {k} = {iann[k]!r}: the Ingress class is {cls or 'unset'}, not alb, so the AWS Load Balancer Controller never reads it" for k in alb_keys]
            hc_related = hc_related or any("healthcheck" in k or "success-codes" in k for k in alb_keys)

    svc_alb = sorted(k for k in ann if k.startswith(ALB_ANN))
    if svc_alb and not albs:
        ignored += [f"{k}: ALB settings on the Service are read only when an ALB Ingress routes to it, and none does" for k in svc_alb]

    if ignored:
        return [
            Finding(
                ID,
                Status.WARN,
                f"{len(ignored)} annotation(s) on {state.target.ref}" + (" and its Ingress" if state.ingresses else "")
                + f" are ignored by the controller that owns the load balancer ({owner.name}): the load balancer does not have those settings",
                evidence=ignored + evidence,
                next_step=f"kubectl -n {state.target.namespace} get svc {state.target.service} -o yaml  (move each setting to the owning controller's "
                "annotation, or change the owner: that replaces the load balancer, with a new DNS name)",
                supports=("healthcheck-settings",) if hc_related else (),
            )
        ]
    if owner.key == "none" and not state.ingresses:
        return [Finding(ID, Status.SKIP, f"Service {state.target.ref} is {spec.get('type') or 'ClusterIP'} and no Ingress routes to it: no load balancer owns it")]
    return [
        Finding(
            ID,
            Status.PASS,
            f"{state.target.ref}'s load balancer is owned by {owner.name if owner.key != 'none' else 'its Ingress controller'}, and every annotation is one it reads",
            evidence=evidence,
        )
    ]
