"""The Tencent provider's alarm mapping (checks/providers/tencent `alarm_mapper`): a Cloud Monitor
callback's CLB (VIP / listener port) -> the Kubernetes Service(s).

DescribeLoadBalancers(LoadBalancerIds | LoadBalancerVips), then the Services cluster-wide (one LIST)
whose service.kubernetes.io/loadbalance-id annotation, status ingress IP or TKE uuid tag matches
(checks.providers.tencent.mapping), narrowed by the listener port; Ingresses on the CLB lead to their
backend Services. The shared reads are checks.collect.alarm_map.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from checks.collect.alarm_map import AlarmMapping, Clients, ClusterRef, Kube, fmt, kubes, only_cluster, short
from checks.providers.tencent import mapping as tcmap
from checks.state import ingress_services, meta


def map_alarm(alarm: dict[str, Any], *, clusters: list[ClusterRef], clients: Clients) -> AlarmMapping:
    """checks.collect.alarm_map.map_alarm's entry for Tencent: the alarm's CLB (Alarm.to_dict())."""
    return map_tencent(vip=alarm.get("vip"), port=alarm.get("port"), protocol=alarm.get("protocol"),
                       lb_id=alarm.get("lb_id"), region=alarm.get("region"), clusters=clusters, clients=clients)


def warm(clients: Clients, cluster: ClusterRef) -> None:
    """Import the SDK and build the CLB client of a configured cluster's region at worker start."""
    from tencentcloud.clb.v20180317 import clb_client, models  # noqa: F401

    if cluster.region:
        clients.cloud("clb", cluster.region, _clb_client)




def map_tencent(
    *,
    vip: str | None,
    port: int | None,
    protocol: str | None = None,
    lb_id: str | None = None,
    region: str | None,
    clusters: list[ClusterRef] | None = None,
    clients: Clients | None = None,
) -> AlarmMapping:
    clients = clients or Clients()
    out = AlarmMapping(lb={"tencent_lb": {"id": lb_id, "vip": vip, "port": port, "protocol": protocol, "region": region}})
    clusters = clusters or [ClusterRef()]
    lb: dict[str, Any] | None = None
    reasons: list[str] = []
    for cluster, kube in kubes(clusters, clients, out.api_calls, reasons):
        if lb is None:
            lb, err = _clb(vip, lb_id, region or cluster.region, clients, out.api_calls, kube if cluster.sources else None)
            if err:
                reasons.append(err)
                if not cluster.sources:
                    break
                continue
            out.lb["tencent_lb"]["id"] = lb.get("LoadBalancerId")
            out.lb["tencent_lb"]["name"] = lb.get("LoadBalancerName")
        try:
            services = kube.services()
        except Exception as exc:
            reasons.append(f"cluster {cluster.name or '(current)'}: Services not readable ({short(exc)})")
            continue
        found = tcmap.services_for_clb(lb, services, port)
        if found:
            svc = next(s for s in services if (meta(s).get("namespace"), meta(s).get("name")) == found[0])
            out.services, out.cluster = fmt(found), cluster.name
            out.how = (tcmap.match_reasons(lb, svc) or ["CLB match"])[0]
            return out
        try:
            all_ings = kube.ingresses(None)  # one LIST; only when no Service matched
        except Exception:
            all_ings = []
        by_name = {(meta(i).get("namespace"), meta(i).get("name")): i for i in all_ings}
        ings = tcmap.ingresses_for_clb(lb, all_ings)
        names = [(ns, svc_name) for ns, name in ings for svc_name in sorted(ingress_services(by_name.get((ns, name)) or {}))]
        if names:
            out.services, out.cluster = fmt(names), cluster.name
            out.how = f"Ingress {ings[0][0]}/{ings[0][1]} on the CLB"
            return out
        reasons.append(f"no Service in cluster {cluster.name or '(current)'} has service.kubernetes.io/loadbalance-id="
                       f"{lb.get('LoadBalancerId')} or the VIP {', '.join(tcmap.lb_vips(lb))} as its ingress IP")
    out.cluster = only_cluster(clusters)
    out.why = "; ".join(reasons) or "no Service found"
    return out


def _clb(vip, lb_id, region, clients: Clients, calls: Counter, offline: Kube | None) -> tuple[dict[str, Any] | None, str | None]:
    if offline is not None:
        lbs = offline.offline_state.tencent.load_balancers
        for lb in lbs:
            if (lb_id and lb.get("LoadBalancerId") == lb_id) or (vip and vip in tcmap.lb_vips(lb)):
                return lb, None
        return None, f"the dump has no CLB {lb_id or vip}"
    if not region:
        return None, "the callback does not say the region of the CLB"
    import json

    from tencentcloud.clb.v20180317 import models

    req = models.DescribeLoadBalancersRequest()
    req.from_json_string(json.dumps({"LoadBalancerIds": [lb_id]} if lb_id else {"LoadBalancerVips": [vip]}))
    try:
        calls["tencent"] += 1
        resp = clients.cloud("clb", region, _clb_client).DescribeLoadBalancers(req)
    except Exception as exc:
        return None, f"DescribeLoadBalancers({lb_id or vip}) failed: {short(exc)}"
    lbs = json.loads(resp.to_json_string()).get("LoadBalancerSet") or []
    if not lbs:
        return None, f"no CLB with {'id ' + lb_id if lb_id else 'VIP ' + str(vip)} in {region}"
    return lbs[0], None


def _clb_client(region: str) -> Any:
    """The Tencent SDK; LBHEALTH_TENCENT_ENDPOINT (http://host:port or host) overrides the endpoint."""
    from tencentcloud.clb.v20180317 import clb_client
    from tencentcloud.common import credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile

    endpoint = os.environ.get("LBHEALTH_TENCENT_ENDPOINT")
    http = HttpProfile(reqTimeout=10)
    if endpoint:
        scheme, _, host = endpoint.rpartition("://")
        http = HttpProfile(protocol=scheme or "https", endpoint=host, reqTimeout=10)
    cred = credential.Credential(os.environ.get("TENCENTCLOUD_SECRET_ID", ""), os.environ.get("TENCENTCLOUD_SECRET_KEY", ""))
    return clb_client.ClbClient(cred, region, ClientProfile(httpProfile=http))
