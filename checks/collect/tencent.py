"""The live Tencent Cloud collector: the only code that calls CLB, VPC and CVM read APIs.

One diagnosis reads, at most:

CLB part (<= 4 calls for a Service with one CLB, in parallel when the CLB id is known):
  DescribeLoadBalancers   by the id of the annotations, else by the Service's ingress IP as VIP
                          (LoadBalancerVips), else by TKE's tag tke-lb-serviceuuid = metadata.uid
  DescribeListeners       per CLB (health-check settings)
  DescribeTargets         per CLB (backend types, instance/ENI ids)
  DescribeTargetHealth    all CLBs in one call
Network part, only when a target is unhealthy or `state.options["network"]` asks for it:
  cvm DescribeInstances           node/CVM security groups and subnets
  vpc DescribeNetworkInterfaces   ENIs of VPC-CNI / direct-access pod IPs
  vpc DescribeNetworkAcls         ACLs of the CLB's VPC (their SubnetSet ties them to backends)
  vpc DescribeSecurityGroupPolicies  per security group (backends' and the CLB's), in parallel

Every call is counted in `state.api_calls["tencent"]`. A refused call leaves the read it serves
in `state.read_errors` naming the CAM action ("clb:DescribeTargetHealth"), so checks can say
which permission is missing. Without credentials nothing is sent.

Responses are stored as tccli prints them (the `Response` object), so a live diagnosis and a
`--from` dump look the same to the checks.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from checks.lbview import detect_cloud
from checks.providers import provider
from checks.providers.tencent import PROVIDER, tencent_direct_access
from checks.providers.tencent.mapping import ingress_lb_ids, service_lb_ids, status_ips
from checks.state import State, meta

log = logging.getLogger(__name__)

NO_CREDENTIALS = "no Tencent Cloud credentials (set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY)"
NO_REGION = "no Tencent Cloud region (set TENCENTCLOUD_REGION, e.g. ap-guangzhou)"
NOT_SUSPECTED = "targets are healthy; network path not suspected"
TIMEOUT_S = 10
MAX_WORKERS = 8

# API version per product (the SDK's own clients set the X-TC-Version header from these modules).
PRODUCTS = ("clb", "vpc", "cvm")

# Short region codes TKE puts in node labels -> API region names.
SHORT_REGIONS = {
    "gz": "ap-guangzhou", "sh": "ap-shanghai", "bj": "ap-beijing", "cd": "ap-chengdu", "cq": "ap-chongqing",
    "nj": "ap-nanjing", "hk": "ap-hongkong", "sg": "ap-singapore", "th": "ap-bangkok", "jkt": "ap-jakarta",
    "kr": "ap-seoul", "jp": "ap-tokyo", "usw": "na-siliconvalley", "use": "na-ashburn", "de": "eu-frankfurt",
    "sao": "sa-saopaulo", "shjr": "ap-shanghai-fsi", "szjr": "ap-shenzhen-fsi", "bjjr": "ap-beijing-fsi",
}

# Every read API this collector calls, as CAM names it (deploy/'s CAM policy grants exactly these).
CAM_ACTIONS = (
    "clb:DescribeLoadBalancers",
    "clb:DescribeListeners",
    "clb:DescribeTargets",
    "clb:DescribeTargetHealth",
    "vpc:DescribeSecurityGroupPolicies",
    "vpc:DescribeNetworkAcls",
    "vpc:DescribeNetworkInterfaces",
    "cvm:DescribeInstances",
)

AUTH_CODES = ("AuthFailure", "UnauthorizedOperation", "OperationDenied.CamNoAuth")


class _Refused(Exception):
    """A call failed; the message is what read_errors records."""


@dataclass(frozen=True)
class _Endpoint:
    scheme: str
    host: str | None


def _parse_endpoint(endpoint: str | None) -> _Endpoint:
    """'http://127.0.0.1:8080', '127.0.0.1:8080' (loopback -> http, else https) or None."""
    if not endpoint or not endpoint.strip():
        return _Endpoint("https", None)
    text = endpoint.strip().rstrip("/")
    if "://" in text:
        scheme, _, host = text.partition("://")
        return _Endpoint(scheme.lower() if scheme.lower() in ("http", "https") else "https", host.split("/", 1)[0])
    hostname = text.rsplit(":", 1)[0].strip("[]")
    loop = hostname == "localhost"
    try:
        loop = loop or ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        pass
    return _Endpoint("http" if loop else "https", text)


def _credential(credential: Any) -> Any | None:
    """A tencentcloud Credential from what the caller passed, else from the environment."""
    from tencentcloud.common import credential as tc_credential

    if credential is None:
        sid = os.environ.get("TENCENTCLOUD_SECRET_ID", "").strip()
        key = os.environ.get("TENCENTCLOUD_SECRET_KEY", "").strip()
        if not (sid and key):
            return None
        token = os.environ.get("TENCENTCLOUD_SESSION_TOKEN", "").strip() or None
        return tc_credential.Credential(sid, key, token)
    if isinstance(credential, tuple | list) and len(credential) >= 2:
        return tc_credential.Credential(*[str(x) for x in credential[:3]])
    if isinstance(credential, dict):
        sid = credential.get("secret_id") or credential.get("SecretId")
        key = credential.get("secret_key") or credential.get("SecretKey")
        if not (sid and key):
            return None
        return tc_credential.Credential(sid, key, credential.get("token") or credential.get("Token"))
    return credential  # a Credential or a provider object the SDK understands


def _region_from_nodes(state: State) -> str | None:
    for node in state.nodes:
        labels = meta(node).get("labels") or {}
        for key in ("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region"):
            value = str(labels.get(key) or "").strip()
            if value.startswith(("ap-", "na-", "eu-", "sa-")):
                return value
            if value in SHORT_REGIONS:
                return SHORT_REGIONS[value]
    return None


def cam_action(product: str, action: str) -> str:
    return f"{product}:{action}"


class _Api:
    """Makes counted SDK calls; one client per call so threads share nothing."""

    def __init__(self, state: State, credential: Any, region: str, endpoint: _Endpoint) -> None:
        self.state = state
        self.credential = credential
        self.region = region
        self.endpoint = endpoint
        self._lock = threading.Lock()

    def _client(self, product: str) -> Any:
        from tencentcloud.common.profile.client_profile import ClientProfile
        from tencentcloud.common.profile.http_profile import HttpProfile

        http = HttpProfile(protocol=self.endpoint.scheme, endpoint=self.endpoint.host, reqTimeout=TIMEOUT_S)
        profile = ClientProfile(httpProfile=http)
        if product == "clb":
            from tencentcloud.clb.v20180317 import clb_client

            return clb_client.ClbClient(self.credential, self.region, profile)
        if product == "vpc":
            from tencentcloud.vpc.v20170312 import vpc_client

            return vpc_client.VpcClient(self.credential, self.region, profile)
        from tencentcloud.cvm.v20170312 import cvm_client

        return cvm_client.CvmClient(self.credential, self.region, profile)

    def call(self, product: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """The `Response` object (as tccli prints it), or _Refused with a readable reason."""
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

        with self._lock:
            self.state.api_calls["tencent"] += 1
        cam = cam_action(product, action)
        try:
            data = self._client(product).call_json(action, params)
        except TencentCloudSDKException as exc:
            code = str(exc.get_code() or "")
            message = str(exc.get_message() or "")
            if isinstance(message, bytes):
                message = message.decode(errors="replace")
            message = message[:300]
            if code.startswith(AUTH_CODES) or "CAM" in code:
                if code in ("AuthFailure.SecretIdNotFound", "AuthFailure.SignatureFailure", "AuthFailure.InvalidSecretId",
                            "AuthFailure.SignatureExpire", "AuthFailure.TokenFailure"):
                    raise _Refused(f"{cam} refused: the credentials were not accepted ({code}: {message})") from None
                raise _Refused(f"{cam} is not allowed for these credentials ({code}: {message}); grant it in CAM") from None
            raise _Refused(f"{cam} failed ({code}: {message})") from None
        except Exception as exc:  # network errors, bad JSON: the diagnosis goes on without this read
            raise _Refused(f"{cam} failed ({type(exc).__name__}: {exc})") from None
        response = data.get("Response") if isinstance(data, dict) else None
        if not isinstance(response, dict):
            raise _Refused(f"{cam} returned no Response object")
        return response


class _Reads:
    """Bookkeeping: a read is done when all its calls succeeded; the first failure is kept."""

    def __init__(self, state: State, wanted: set[str]) -> None:
        self.state = state
        self.wanted = wanted
        self.failed: dict[str, str] = {}
        self.lock = threading.Lock()

    def fail(self, read: str, why: str) -> None:
        with self.lock:
            self.failed.setdefault(read, why)

    def finish(self, read: str) -> None:
        if read not in self.wanted:
            return
        if read in self.failed:
            self.state.read_errors[read] = self.failed[read]
            self.state.reads_done.discard(read)
        else:
            self.state.reads_done.add(read)
            self.state.read_errors.pop(read, None)
        self.state.skipped_reads.pop(read, None)

    def skip(self, read: str, why: str) -> None:
        if read in self.wanted:
            self.state.skipped_reads[read] = why


def _parallel(jobs: list[Callable[[], Any]]) -> list[Any]:
    if not jobs:
        return []
    if len(jobs) == 1:
        return [jobs[0]()]
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(jobs)), thread_name_prefix="tencent-read") as pool:
        futures = [pool.submit(job) for job in jobs]
        return [f.result() for f in futures]


def collect_live(state: State, reads: set[str], clients: Any) -> None:
    """The provider hook `checks.collect.live` calls. This provider's settings in `live.Clients`:
    `credential` (a tencentcloud Credential or (id, key)), `region`, `endpoint` (default: the environment's)."""
    mine = clients.of(PROVIDER.name)
    collect_tencent(state, reads, credential=mine.get("credential"), region=region_or_env(mine), endpoint=endpoint_or_env(mine))


def endpoint_or_env(settings: dict[str, Any]) -> str | None:
    """The API endpoint of these settings, else LBHEALTH_TENCENT_ENDPOINT (a loopback fake in tests)."""
    return settings.get("endpoint") or os.environ.get("LBHEALTH_TENCENT_ENDPOINT") or None


def region_or_env(settings: dict[str, Any]) -> str | None:
    return settings.get("region") or os.environ.get("TENCENTCLOUD_REGION") or None


def collect_tencent(
    state: State,
    reads: set[str],
    credential: Any = None,
    region: str | None = None,
    endpoint: str | None = None,
) -> None:
    """Fill `state.tencent` with what the `tencent.*` reads in `reads` need (see module doc)."""
    wanted = {r for r in reads if r.startswith("tencent.")}
    if not wanted:
        return
    book = _Reads(state, wanted)
    cloud = detect_cloud(state)
    if (elsewhere := provider(cloud)) is not None and elsewhere is not PROVIDER:
        for r in wanted:
            book.skip(r, f"not applicable: the load balancer is on {elsewhere.title}")
        return
    cred = _credential(credential)
    if cred is None:
        for r in wanted:
            book.skip(r, NO_CREDENTIALS)
        return
    region = region or os.environ.get("TENCENTCLOUD_REGION", "").strip() or state.options.get("tencent_region") or _region_from_nodes(state)
    if not region:
        for r in wanted:
            book.skip(r, NO_REGION)
        return
    state.tencent.region = region
    api = _Api(state, cred, region, _parse_endpoint(endpoint if endpoint is not None else os.environ.get("LBHEALTH_TENCENT_ENDPOINT")))
    try:
        lb_ids = _collect_clb(state, api, book)
        _collect_network(state, api, book, lb_ids)
    except Exception as exc:  # a collector bug must not take the diagnosis down: say which reads are missing
        log.exception("Tencent collector failed")
        for read in wanted:
            if read not in state.reads_done and read not in state.skipped_reads:
                state.read_errors.setdefault(read, f"the Tencent collector failed ({type(exc).__name__}: {exc})")


# ---- the CLB part -------------------------------------------------------------------------


def _mapping_inputs(state: State) -> tuple[list[str], list[str], str | None]:
    """CLB ids from annotations, VIPs of objects without one, and the Service uid for the tag."""
    ids: list[str] = []
    vips: list[str] = []
    svc = state.service
    objects: list[tuple[dict[str, Any] | None, list[tuple[str, str]]]] = [(svc, service_lb_ids(svc))]
    objects += [(ing, ingress_lb_ids(ing)) for ing in state.ingresses]
    for obj, found in objects:
        if obj is None:
            continue
        if found:
            for lb_id, _how in found:
                if lb_id not in ids:
                    ids.append(lb_id)
        else:
            for ip in status_ips(obj):
                if ip not in vips:
                    vips.append(ip)
    alarmed = state.options.get("tencent_lb") or {}  # the CLB an alarm named (alarm webhook)
    if alarmed.get("id") and alarmed["id"] not in ids:
        ids.append(alarmed["id"])
    elif not alarmed.get("id") and alarmed.get("vip") and not ids and alarmed["vip"] not in vips:
        vips.append(alarmed["vip"])
    uid = None
    if svc and not ids and not vips and ((svc.get("spec") or {}).get("type") == "LoadBalancer"):
        uid = meta(svc).get("uid")
    return ids, vips, uid


def _collect_clb(state: State, api: _Api, book: _Reads) -> list[str]:
    tc = state.tencent
    want_clb = "tencent.clb" in book.wanted
    want_health = "tencent.target_health" in book.wanted
    ids, vips, uid = _mapping_inputs(state)
    found: dict[str, dict[str, Any]] = {}

    def describe_lbs(params: dict[str, Any], resolving: bool = False) -> None:
        try:
            resp = api.call("clb", "DescribeLoadBalancers", {**params, "Limit": 100})
        except _Refused as why:
            book.fail("tencent.clb", str(why))
            if resolving:
                book.fail("tencent.target_health", f"the CLB could not be found: {why}")
            return
        for lb in _items(resp.get("LoadBalancerSet")):
            if isinstance(lb.get("LoadBalancerId"), str) and lb["LoadBalancerId"]:
                found.setdefault(lb["LoadBalancerId"], lb)

    # 1. resolve what the annotations do not name (one sequential call, only when needed)
    if vips:
        describe_lbs({"LoadBalancerVips": vips}, resolving=True)
    elif uid and not ids:
        describe_lbs({"Filters": [{"Name": "tag:tke-lb-serviceuuid", "Values": [uid]}]}, resolving=True)
    all_ids = list(ids) + [i for i in found if i not in ids]
    if not all_ids:
        if "tencent.clb" not in book.failed:
            book.finish("tencent.clb")
            book.skip("tencent.target_health", "no CLB was found for the Service (see TC-MAP)")
        else:
            book.finish("tencent.clb")
            book.finish("tencent.target_health")
        return []

    # 2. everything else in parallel
    listeners: dict[str, list[dict[str, Any]]] = {}
    targets: dict[str, list[dict[str, Any]]] = {}
    health: list[dict[str, Any]] = []
    per_lb_errors: dict[str, list[tuple[str, str]]] = {}
    jobs: list[Callable[[], Any]] = []
    missing = [i for i in ids if i not in found]
    if missing:
        jobs.append(lambda: describe_lbs({"LoadBalancerIds": missing}))

    def per_lb(action: str, lb_id: str, into: dict[str, list[dict[str, Any]]]) -> Callable[[], None]:
        def job() -> None:
            try:
                resp = api.call("clb", action, {"LoadBalancerId": lb_id})
            except _Refused as why:
                per_lb_errors.setdefault(lb_id, []).append(("tencent.clb", str(why)))
                return
            into[lb_id] = _items(resp.get("Listeners"))

        return job

    if want_clb:
        for lb_id in all_ids:
            jobs.append(per_lb("DescribeListeners", lb_id, listeners))
            jobs.append(per_lb("DescribeTargets", lb_id, targets))

    def target_health() -> None:
        try:
            resp = api.call("clb", "DescribeTargetHealth", {"LoadBalancerIds": all_ids})
        except _Refused as why:
            book.fail("tencent.target_health", str(why))
            return
        health.extend(_items(resp.get("LoadBalancers")))

    if want_health:
        jobs.append(target_health)
    _parallel(jobs)

    existing = [i for i in all_ids if i in found] if "tencent.clb" not in book.failed else all_ids
    for lb_id, errors in per_lb_errors.items():
        if lb_id not in existing:
            continue  # the CLB does not exist: TC-MAP says so; its listener errors are noise
        for read, why in errors:
            book.fail(read, why)
    for lb_id in existing:
        if lb_id in found and found[lb_id] not in tc.load_balancers:
            tc.load_balancers.append(found[lb_id])
        if lb_id in listeners:
            tc.listeners[lb_id] = listeners[lb_id]
        if lb_id in targets:
            tc.targets[lb_id] = targets[lb_id]
    tc.target_health.extend(h for h in health if h.get("LoadBalancerId") in existing)
    book.finish("tencent.clb")
    book.finish("tencent.target_health")
    return existing


# ---- the network part ---------------------------------------------------------------------


def _items(value: Any) -> list[dict[str, Any]]:
    return [x for x in value if isinstance(x, dict)] if isinstance(value, list) else []


def _all_targets(state: State) -> list[dict[str, Any]]:
    out = []
    for lbh in _items(state.tencent.target_health):
        for lh in _items(lbh.get("Listeners")):
            for rh in _items(lh.get("Rules")):
                out.extend(_items(rh.get("Targets")))
    return out


def _unhealthy_targets(state: State) -> list[dict[str, Any]]:
    return [th for th in _all_targets(state) if th.get("HealthStatus") is False or str(th.get("HealthStatus")).lower() in ("false", "0")]


def _backends(state: State) -> list[dict[str, Any]]:
    out = []
    for listeners in state.tencent.targets.values():
        for lb in _items(listeners):
            groups = [lb.get("Targets")] + [r.get("Targets") for r in _items(lb.get("Rules"))]
            out.extend(b for g in groups for b in _items(g))
    return out


def _collect_network(state: State, api: _Api, book: _Reads, lb_ids: list[str]) -> None:
    want_net = "tencent.vpc_network" in book.wanted
    want_ins = "tencent.instances" in book.wanted
    if not (want_net or want_ins):
        return
    forced = bool(state.options.get("network"))
    if not lb_ids:
        for r in ("tencent.vpc_network", "tencent.instances"):
            book.skip(r, "no CLB was found for the Service, so no backend to check the network path to")
        return
    if not forced:
        if "tencent.target_health" not in state.reads_done:
            why = state.why_not_read("tencent.target_health") or "target health was not read"
            for r in ("tencent.vpc_network", "tencent.instances"):
                book.skip(r, f"target health unknown ({why}); network path not read (ask for it with the network option)")
            return
        if not _unhealthy_targets(state):
            for r in ("tencent.vpc_network", "tencent.instances"):
                book.skip(r, NOT_SUSPECTED)
            return
    tc = state.tencent
    lbs = [lb for lb in _items(tc.load_balancers) if lb.get("LoadBalancerId") in lb_ids]
    direct = tencent_direct_access(state)
    targets = _all_targets(state)
    backends = _backends(state)

    # Which CVMs (nodes) and which ENIs (pod IPs) sit behind the CLB.
    instance_ids: list[str] = []
    eni_ids: list[str] = []
    eni_ips: list[str] = []

    def add(lst: list[str], value: Any) -> None:
        if isinstance(value, str) and value and value not in lst:
            lst.append(value)

    types: dict[str, str] = {}
    for b in backends:
        btype = str(b.get("Type") or "").upper()
        for ip in b.get("PrivateIpAddresses") if isinstance(b.get("PrivateIpAddresses"), list) else []:
            if isinstance(ip, str):
                types[ip] = btype
        if btype == "CVM":
            add(instance_ids, b.get("InstanceId"))
        elif btype == "ENI":
            add(eni_ids, b.get("EniId"))
            for ip in b.get("PrivateIpAddresses") if isinstance(b.get("PrivateIpAddresses"), list) else []:
                add(eni_ips, ip)
    for th in targets:
        tid = str(th.get("TargetId") or "")
        if tid.startswith("ins-"):
            add(instance_ids, tid)
        ip = th.get("IP")
        if not isinstance(ip, str):
            continue
        pod = state.pod_by_ip(ip)
        if pod is not None:
            add(eni_ips, ip)
            if types.get(ip) == "ENI":
                continue  # a VPC-CNI pod: its ENI's security groups apply, not the node's
            node = state.node((pod.get("spec") or {}).get("nodeName"))
        else:
            node = state.node_by_address(ip)
        if node is not None:
            pid = str((node.get("spec") or {}).get("providerID") or "").rsplit("/", 1)[-1]
            if pid.startswith("ins-"):
                add(instance_ids, pid)
    if direct and not eni_ips:
        for th in targets:
            add(eni_ips, th.get("IP"))

    vpc_ids: list[str] = []
    for lb in lbs:
        add(vpc_ids, lb.get("VpcId"))
    clb_sgs: list[str] = []
    for lb in lbs:
        for sg in lb.get("SecureGroups") if isinstance(lb.get("SecureGroups"), list) else []:
            add(clb_sgs, sg)

    instances: list[dict[str, Any]] = []
    enis: list[dict[str, Any]] = []
    acls: list[dict[str, Any]] = []
    policies: dict[str, dict[str, Any]] = {}

    def describe_instances() -> None:
        try:
            resp = api.call("cvm", "DescribeInstances", {"InstanceIds": instance_ids[:100], "Limit": 100})
        except _Refused as why:
            book.fail("tencent.instances", str(why))
            book.fail("tencent.vpc_network", f"node security groups unknown: {why}")
            return
        instances.extend(_items(resp.get("InstanceSet")))

    def describe_enis() -> None:
        if eni_ids and not eni_ips:
            params: dict[str, Any] = {"NetworkInterfaceIds": eni_ids[:100]}
        else:
            params = {"Filters": [{"Name": "address-ip", "Values": eni_ips[:100]}], "Limit": 100}
        try:
            resp = api.call("vpc", "DescribeNetworkInterfaces", params)
        except _Refused as why:
            book.fail("tencent.vpc_network", str(why))
            return
        enis.extend(_items(resp.get("NetworkInterfaceSet")))

    def describe_acls() -> None:
        try:
            resp = api.call("vpc", "DescribeNetworkAcls", {"Filters": [{"Name": "vpc-id", "Values": vpc_ids}], "Limit": 100})
        except _Refused as why:
            book.fail("tencent.vpc_network", str(why))
            return
        acls.extend(_items(resp.get("NetworkAclSet")))

    def sg_policies(sg: str) -> Callable[[], None]:
        def job() -> None:
            try:
                resp = api.call("vpc", "DescribeSecurityGroupPolicies", {"SecurityGroupId": sg})
            except _Refused as why:
                book.fail("tencent.vpc_network", str(why))
                return
            if isinstance(resp.get("SecurityGroupPolicySet"), dict):
                policies[sg] = resp["SecurityGroupPolicySet"]

        return job

    # Phase A: instances, ENIs, ACLs and the CLB's own security groups, in parallel.
    jobs: list[Callable[[], Any]] = []
    if instance_ids:
        jobs.append(describe_instances)
    if want_net and (eni_ips or eni_ids) and (direct or eni_ids):
        jobs.append(describe_enis)
    if want_net and vpc_ids:
        jobs.append(describe_acls)
    if want_net:
        jobs.extend(sg_policies(sg) for sg in clb_sgs)
    _parallel(jobs)

    # Phase B: the backends' security groups.
    backend_sgs: list[str] = []
    for ins in instances:
        for sg in ins.get("SecurityGroupIds") if isinstance(ins.get("SecurityGroupIds"), list) else []:
            add(backend_sgs, sg)
    for eni in enis:
        for sg in eni.get("GroupSet") if isinstance(eni.get("GroupSet"), list) else []:
            add(backend_sgs, sg)
    if want_net:
        _parallel([sg_policies(sg) for sg in backend_sgs if sg not in policies and sg not in clb_sgs])

    tc.instances.extend(instances)
    tc.network_interfaces.extend(enis)
    tc.network_acls.extend(acls)
    tc.security_group_policies.update(policies)
    book.finish("tencent.instances") if instance_ids else book.skip(
        "tencent.instances", "no CVM backend (no instance id among the CLB's targets)"
    )
    book.finish("tencent.vpc_network")
