"""Which CLB belongs to which Service, both ways; pure functions shared by the collector, the
TC-* checks and the Tencent Cloud Monitor webhook.

Forward (Service -> CLB): the read-only annotation `service.kubernetes.io/loadbalance-id` the
TKE service controller writes, the user's `service.kubernetes.io/tke-existed-lbid`, the
Service's `status.loadBalancer.ingress[].ip` as the CLB VIP, and TKE's tag
`tke-lb-serviceuuid` (= the Service's metadata.uid). Ingresses: the annotation
`kubernetes.io/ingress.qcloud-loadbalance-id` (or `kubernetes.io/ingress.existLbId`) and their
status IP.

Reverse (CLB -> Services): `services_for_clb`, for alarms that only name a VIP.
"""

from __future__ import annotations

from typing import Any

LB_ID_ANN = "service.kubernetes.io/loadbalance-id"
EXISTED_LB_ANN = "service.kubernetes.io/tke-existed-lbid"
INGRESS_LB_ANNS = ("kubernetes.io/ingress.qcloud-loadbalance-id", "kubernetes.io/ingress.existLbId")
UUID_TAG = "tke-lb-serviceuuid"
OLD_UUID_TAG_VALUE = "tke-lb-serviceId"  # clusters before 2020-08-17: tag <uuid>: tke-lb-serviceId
INGRESS_UUID_TAG = "tke-lb-ingress-uuid"


def _meta(obj: dict[str, Any] | None) -> dict[str, Any]:
    return (obj or {}).get("metadata") or {}


def _ann(obj: dict[str, Any] | None) -> dict[str, str]:
    ann = _meta(obj).get("annotations") or {}
    return ann if isinstance(ann, dict) else {}


def _str(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def status_ips(obj: dict[str, Any] | None) -> list[str]:
    """IPs of `status.loadBalancer.ingress[]` (Service or Ingress)."""
    status = (obj or {}).get("status")
    lb = status.get("loadBalancer") if isinstance(status, dict) else None
    ingress = lb.get("ingress") if isinstance(lb, dict) else None
    if not isinstance(ingress, list):
        return []
    return [e["ip"] for e in ingress if isinstance(e, dict) and isinstance(e.get("ip"), str) and e["ip"]]


def service_lb_ids(service: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(lb id, how) from a Service's annotations, in the order the collector tries them."""
    ann = _ann(service)
    out: list[tuple[str, str]] = []
    for key in (LB_ID_ANN, EXISTED_LB_ANN):
        lb = _str(ann.get(key))
        if lb and lb not in [x for x, _ in out]:
            out.append((lb, f"annotation {key}"))
    return out


def ingress_lb_ids(ingress: dict[str, Any] | None) -> list[tuple[str, str]]:
    ann = _ann(ingress)
    out: list[tuple[str, str]] = []
    for key in INGRESS_LB_ANNS:
        lb = _str(ann.get(key))
        if lb and lb not in [x for x, _ in out]:
            out.append((lb, f"annotation {key}"))
    return out


def lb_vips(lb: dict[str, Any]) -> list[str]:
    raw = lb.get("LoadBalancerVips")
    vips = [v for v in raw if isinstance(v, str)] if isinstance(raw, list) else []
    v6 = lb.get("AddressIPv6")
    if isinstance(v6, str) and v6:
        vips.append(v6)
    domain = lb.get("LoadBalancerDomain") or lb.get("Domain")
    if isinstance(domain, str) and domain:
        vips.append(domain)
    return vips


def lb_tags(lb: dict[str, Any]) -> dict[str, str]:
    tags: dict[str, str] = {}
    raw = lb.get("Tags")
    for t in raw if isinstance(raw, list) else []:
        if isinstance(t, dict) and t.get("TagKey") is not None:
            tags[str(t["TagKey"])] = str(t.get("TagValue") if t.get("TagValue") is not None else "")
    return tags


def match_reasons(lb: dict[str, Any], obj: dict[str, Any], *, kind: str = "Service") -> list[str]:
    """How `obj` (a Service or an Ingress) is tied to the CLB `lb`; [] if it is not."""
    if not isinstance(lb, dict) or not isinstance(obj, dict):
        return []
    lb_id = lb.get("LoadBalancerId")
    reasons: list[str] = []
    ids = service_lb_ids(obj) if kind == "Service" else ingress_lb_ids(obj)
    for value, how in ids:
        if value == lb_id:
            reasons.append(f"{how}: {value}")
    vips = lb_vips(lb)
    for ip in status_ips(obj):
        if ip in vips:
            reasons.append(f"status.loadBalancer.ingress IP {ip} is the CLB VIP")
    uid = _meta(obj).get("uid")
    if uid:
        tags = lb_tags(lb)
        tag_key = UUID_TAG if kind == "Service" else INGRESS_UUID_TAG
        if tags.get(tag_key) == uid:
            reasons.append(f"CLB tag {tag_key}={uid} is the {kind}'s metadata.uid")
        elif kind == "Service" and tags.get(uid) == OLD_UUID_TAG_VALUE:
            reasons.append(f"CLB tag {uid}={OLD_UUID_TAG_VALUE} (clusters created before 2020-08-17)")
    return reasons


def _ports(service: dict[str, Any]) -> set[int]:
    out = set()
    for p in ((service.get("spec") or {}).get("ports")) or []:
        try:
            out.add(int(p.get("port")))
        except (TypeError, ValueError, AttributeError):
            continue
    return out


def services_for_clb(lb: dict[str, Any], services: list[dict[str, Any]], port: int | str | None = None) -> list[tuple[str, str]]:
    """(namespace, name) of the Services this CLB serves: by the loadbalance-id annotation,
    tke-existed-lbid, ingress IP == VIP, or the tag tke-lb-serviceuuid == metadata.uid.

    With `port` (an alarm's vport), a CLB shared by several Services narrows to those with that
    Service port (if none has it, all matches are returned: better a wider answer than none).
    """
    matched: list[tuple[str, str]] = []
    by_port: list[tuple[str, str]] = []
    want = None
    if port is not None:
        try:
            want = int(port)
        except (TypeError, ValueError):
            want = None
    for svc in services or []:
        if not isinstance(svc, dict) or not match_reasons(lb, svc):
            continue
        m = _meta(svc)
        key = (m.get("namespace") or "default", m.get("name") or "")
        if key in matched:
            continue
        matched.append(key)
        if want is not None and want in _ports(svc):
            by_port.append(key)
    return by_port or matched


def ingresses_for_clb(lb: dict[str, Any], ingresses: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(namespace, name) of Ingresses served by this CLB (annotation, status IP, ingress uuid tag)."""
    out: list[tuple[str, str]] = []
    for ing in ingresses or []:
        if isinstance(ing, dict) and match_reasons(lb, ing, kind="Ingress"):
            m = _meta(ing)
            key = (m.get("namespace") or "default", m.get("name") or "")
            if key not in out:
                out.append(key)
    return out
