"""A local fake of the Tencent Cloud API (CLB, VPC, CVM), for tests and benches.

The real tencentcloud SDK talks to it over plain HTTP on loopback::

    with FakeTencentAPI() as api:
        api.cloud.add_load_balancer({...})           # or api.respond("DescribeTargetHealth", {...})
        profile = HttpProfile(protocol="http", endpoint=api.endpoint)
        ...                                            # or LBHEALTH_TENCENT_ENDPOINT=api.url

Requests are routed by the `X-TC-Action` header (as the SDK sends them: `POST /`, JSON body).
Answers are `{"Response": {..., "RequestId": ...}}`, errors
`{"Response": {"Error": {"Code": ..., "Message": ...}, "RequestId": ...}}`, which is what the
SDK parses into a result or a `TencentCloudSDKException`.

What an action answers, first match wins:
1. a programmed answer: `respond(action, dict | callable(body) -> dict | list of those)` (a list
   is served in order, its last item repeated) or `fail(action, code, message)`;
2. `cloud`, a small in-memory model of CLBs, listeners, targets, health, security groups,
   ACLs, ENIs, subnets and CVMs that answers the Describe* calls with their filters, and
   Create/DeleteSecurityGroupPolicies (PolicyIndex insertion, Version checked and bumped,
   UnsupportedOperation.DuplicatePolicy / VersionMismatch as the VPC API answers);
3. `InvalidAction` for anything else.

Knobs for benches: `latency` (seconds added to every call), `latency_by_action`; and what
happened: `calls` (action, body, headers, times), `count(action)`, `max_in_flight`.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from checks.collect import tencent_shapes
from tests.fakes._loopback import LoopbackServer

Answer = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class Call:
    action: str
    body: dict[str, Any]
    headers: dict[str, str]
    started: float
    finished: float = 0.0

    @property
    def version(self) -> str:
        return self.headers.get("x-tc-version", "")

    @property
    def region(self) -> str:
        return self.headers.get("x-tc-region", "")


class ApiError(Exception):
    """Raise from a programmed callable to answer with an error."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message or code


def _values(filters: Iterable[dict[str, Any]] | None, name: str) -> list[str] | None:
    for f in filters or []:
        if f.get("Name") == name:
            return [str(v) for v in f.get("Values") or []]
    return None


@dataclass
class FakeCloud:
    """Tencent Cloud resources the fake serves, in the API's own shapes."""

    load_balancers: list[dict[str, Any]] = field(default_factory=list)  # LoadBalancer
    listeners: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # lb -> Listener
    targets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # lb -> ListenerBackend
    target_health: dict[str, dict[str, Any]] = field(default_factory=dict)  # lb -> LoadBalancerHealth
    security_groups: dict[str, dict[str, Any]] = field(default_factory=dict)  # sg -> SecurityGroupPolicySet
    network_acls: list[dict[str, Any]] = field(default_factory=list)
    network_interfaces: list[dict[str, Any]] = field(default_factory=list)
    subnets: list[dict[str, Any]] = field(default_factory=list)
    instances: list[dict[str, Any]] = field(default_factory=list)

    def add_load_balancer(
        self,
        lb: dict[str, Any],
        *,
        listeners: list[dict[str, Any]] | None = None,
        targets: list[dict[str, Any]] | None = None,
        health: dict[str, Any] | None = None,
    ) -> None:
        self.load_balancers.append(lb)
        lb_id = lb["LoadBalancerId"]
        if listeners is not None:
            self.listeners[lb_id] = listeners
        if targets is not None:
            self.targets[lb_id] = targets
        if health is not None:
            self.target_health[lb_id] = health

    # ---- CLB ------------------------------------------------------------------------------

    def describe_load_balancers(self, body: dict[str, Any]) -> dict[str, Any]:
        found = list(self.load_balancers)
        if body.get("LoadBalancerIds"):
            ids = set(body["LoadBalancerIds"])
            found = [lb for lb in found if lb.get("LoadBalancerId") in ids]
        if body.get("LoadBalancerVips"):
            vips = set(body["LoadBalancerVips"])
            found = [lb for lb in found if vips & set(lb.get("LoadBalancerVips") or [])]
        if body.get("LoadBalancerType"):
            found = [lb for lb in found if lb.get("LoadBalancerType") == body["LoadBalancerType"]]
        if body.get("VpcId"):
            found = [lb for lb in found if lb.get("VpcId") == body["VpcId"]]
        for f in body.get("Filters") or []:
            name, values = f.get("Name", ""), set(f.get("Values") or [])
            if name.startswith("tag:"):
                key = name[4:]
                found = [lb for lb in found if any(t.get("TagKey") == key and t.get("TagValue") in values for t in lb.get("Tags") or [])]
            elif name == "tag-key":
                found = [lb for lb in found if any(t.get("TagKey") in values for t in lb.get("Tags") or [])]
        offset, limit = int(body.get("Offset") or 0), int(body.get("Limit") or 20)
        return {"TotalCount": len(found), "LoadBalancerSet": found[offset : offset + limit]}

    def describe_listeners(self, body: dict[str, Any]) -> dict[str, Any]:
        lb_id = body.get("LoadBalancerId")
        if lb_id not in {lb.get("LoadBalancerId") for lb in self.load_balancers}:
            raise ApiError("InvalidParameter.LBIdNotFound", f"LoadBalancer {lb_id} not found")
        found = list(self.listeners.get(lb_id, []))
        if body.get("ListenerIds"):
            found = [x for x in found if x.get("ListenerId") in set(body["ListenerIds"])]
        if body.get("Protocol"):
            found = [x for x in found if x.get("Protocol") == body["Protocol"]]
        if body.get("Port"):
            found = [x for x in found if x.get("Port") == body["Port"]]
        return {"Listeners": found, "TotalCount": len(found)}

    def describe_targets(self, body: dict[str, Any]) -> dict[str, Any]:
        lb_id = body.get("LoadBalancerId")
        if lb_id not in {lb.get("LoadBalancerId") for lb in self.load_balancers}:
            raise ApiError("InvalidParameter.LBIdNotFound", f"LoadBalancer {lb_id} not found")
        found = list(self.targets.get(lb_id, []))
        if body.get("ListenerIds"):
            found = [x for x in found if x.get("ListenerId") in set(body["ListenerIds"])]
        return {"Listeners": found}

    def describe_target_health(self, body: dict[str, Any]) -> dict[str, Any]:
        ids = body.get("LoadBalancerIds") or []
        return {"LoadBalancers": [self.target_health[i] for i in ids if i in self.target_health]}

    # ---- VPC ------------------------------------------------------------------------------

    def describe_security_group_policies(self, body: dict[str, Any]) -> dict[str, Any]:
        sg = body.get("SecurityGroupId")
        if sg not in self.security_groups:
            raise ApiError("ResourceNotFound", f"security group {sg} not found")
        return {"SecurityGroupPolicySet": self.security_groups[sg]}

    def _policy_set(self, body: dict[str, Any]) -> tuple[str, dict[str, Any], str, list[dict[str, Any]]]:
        """(group, its current set, direction, policies of the request) with the API's checks."""
        sg = body.get("SecurityGroupId")
        if sg not in self.security_groups:
            raise ApiError("ResourceNotFound", f"security group {sg} not found")
        wanted = body.get("SecurityGroupPolicySet") or {}
        current = self.security_groups[sg]
        version = wanted.get("Version")
        if version not in (None, "") and str(version) != str(current.get("Version")):
            raise ApiError("UnsupportedOperation.VersionMismatch", f"the version {version} of {sg} is not the current one")
        ingress, egress = wanted.get("Ingress") or [], wanted.get("Egress") or []
        if bool(ingress) == bool(egress):
            raise ApiError("InvalidParameter.Coexist", "Ingress and Egress cannot be given together, and one is required")
        return sg, current, ("Ingress" if ingress else "Egress"), (ingress or egress)

    @staticmethod
    def _same_rule(a: dict[str, Any], b: dict[str, Any]) -> bool:
        """Tencent's documentation does not say which fields make a policy a duplicate; the fake
        counts a policy identical in every field it keeps (the description too) as one."""
        keys = ("Protocol", "Port", "CidrBlock", "Ipv6CidrBlock", "SecurityGroupId", "Action", "PolicyDescription")
        return all(str(a.get(k) or "").upper() == str(b.get(k) or "").upper() for k in keys)

    def _bump(self, current: dict[str, Any]) -> None:
        current["Version"] = str(int(current.get("Version") or 0) + 1)

    def create_security_group_policies(self, body: dict[str, Any]) -> dict[str, Any]:
        """Insert at PolicyIndex (append without one), renumber, bump Version; a rule already there is DuplicatePolicy."""
        sg, current, direction, policies = self._policy_set(body)
        rules = list(current.get(direction) or [])
        for pol in policies:
            if pol.get("Action") not in ("ACCEPT", "DROP"):
                raise ApiError("InvalidParameterValue", f"the value of Action {pol.get('Action')!r} is not valid")
            if any(self._same_rule(r, pol) for r in rules):
                raise ApiError("UnsupportedOperation.DuplicatePolicy", f"{sg} already has this policy")
        at = policies[0].get("PolicyIndex")
        new = [{**{k: v for k, v in p.items() if k != "PolicyIndex"}, "ModifyTime": "2026-12-04 10:00:00"} for p in policies]
        at = len(rules) if at is None else max(0, min(int(at), len(rules)))
        rules[at:at] = new
        current[direction] = [{**r, "PolicyIndex": i} for i, r in enumerate(rules)]
        self._bump(current)
        return {}

    def delete_security_group_policies(self, body: dict[str, Any]) -> dict[str, Any]:
        """Delete by PolicyIndex or by the rule's content (not both), renumber, bump Version."""
        sg, current, direction, policies = self._policy_set(body)
        rules = list(current.get(direction) or [])
        for pol in policies:
            if "PolicyIndex" in pol and len(pol) == 1:
                idx = int(pol["PolicyIndex"])
                if not 0 <= idx < len(rules):
                    raise ApiError("InvalidParameterValue.Range", f"PolicyIndex {idx} is out of range")
                rules.pop(idx)
                continue
            match = next((i for i, r in enumerate(rules) if self._same_rule(r, pol)), None)
            if match is None:
                raise ApiError("ResourceNotFound", f"{sg} has no such policy")
            rules.pop(match)
        current[direction] = [{**r, "PolicyIndex": i} for i, r in enumerate(rules)]
        self._bump(current)
        return {}

    def describe_network_acls(self, body: dict[str, Any]) -> dict[str, Any]:
        found = list(self.network_acls)
        if body.get("NetworkAclIds"):
            found = [a for a in found if a.get("NetworkAclId") in set(body["NetworkAclIds"])]
        vpcs = _values(body.get("Filters"), "vpc-id")
        if vpcs is not None:
            found = [a for a in found if a.get("VpcId") in vpcs]
        ids = _values(body.get("Filters"), "network-acl-id")
        if ids is not None:
            found = [a for a in found if a.get("NetworkAclId") in ids]
        offset, limit = int(body.get("Offset") or 0), int(body.get("Limit") or 20)
        return {"NetworkAclSet": found[offset : offset + limit], "TotalCount": len(found)}

    def describe_network_interfaces(self, body: dict[str, Any]) -> dict[str, Any]:
        found = list(self.network_interfaces)
        filters = body.get("Filters")
        if body.get("NetworkInterfaceIds"):
            found = [e for e in found if e.get("NetworkInterfaceId") in set(body["NetworkInterfaceIds"])]
        ips = _values(filters, "address-ip")
        if ips is not None:
            found = [e for e in found if {a.get("PrivateIpAddress") for a in e.get("PrivateIpAddressSet") or []} & set(ips)]
        for name, key in (("vpc-id", "VpcId"), ("subnet-id", "SubnetId")):
            vals = _values(filters, name)
            if vals is not None:
                found = [e for e in found if e.get(key) in vals]
        inst = _values(filters, "attachment.instance-id")
        if inst is not None:
            found = [e for e in found if (e.get("Attachment") or {}).get("InstanceId") in inst]
        offset, limit = int(body.get("Offset") or 0), int(body.get("Limit") or 20)
        return {"NetworkInterfaceSet": found[offset : offset + limit], "TotalCount": len(found)}

    def describe_subnets(self, body: dict[str, Any]) -> dict[str, Any]:
        found = list(self.subnets)
        if body.get("SubnetIds"):
            found = [s for s in found if s.get("SubnetId") in set(body["SubnetIds"])]
        vpcs = _values(body.get("Filters"), "vpc-id")
        if vpcs is not None:
            found = [s for s in found if s.get("VpcId") in vpcs]
        return {"SubnetSet": found, "TotalCount": len(found)}

    # ---- CVM ------------------------------------------------------------------------------

    def describe_instances(self, body: dict[str, Any]) -> dict[str, Any]:
        found = list(self.instances)
        if body.get("InstanceIds"):
            found = [i for i in found if i.get("InstanceId") in set(body["InstanceIds"])]
        ips = _values(body.get("Filters"), "private-ip-address")
        if ips is not None:
            found = [i for i in found if set(i.get("PrivateIpAddresses") or []) & set(ips)]
        offset, limit = int(body.get("Offset") or 0), int(body.get("Limit") or 20)
        return {"InstanceSet": found[offset : offset + limit], "TotalCount": len(found)}

    HANDLERS = {
        "DescribeLoadBalancers": "describe_load_balancers",
        "DescribeListeners": "describe_listeners",
        "DescribeTargets": "describe_targets",
        "DescribeTargetHealth": "describe_target_health",
        "DescribeSecurityGroupPolicies": "describe_security_group_policies",
        "CreateSecurityGroupPolicies": "create_security_group_policies",
        "DeleteSecurityGroupPolicies": "delete_security_group_policies",
        "DescribeNetworkAcls": "describe_network_acls",
        "DescribeNetworkInterfaces": "describe_network_interfaces",
        "DescribeSubnets": "describe_subnets",
        "DescribeInstances": "describe_instances",
    }

    def handle(self, action: str, body: dict[str, Any]) -> dict[str, Any] | None:
        name = self.HANDLERS.get(action)
        return getattr(self, name)(body) if name else None


# The product of each action the fake serves (one endpoint answers for clb, vpc and cvm).
ACTION_PRODUCTS = {
    "DescribeLoadBalancers": "clb", "DescribeListeners": "clb", "DescribeTargets": "clb", "DescribeTargetHealth": "clb",
    "DescribeSecurityGroupPolicies": "vpc", "CreateSecurityGroupPolicies": "vpc", "DeleteSecurityGroupPolicies": "vpc",
    "DescribeNetworkAcls": "vpc", "DescribeNetworkInterfaces": "vpc", "DescribeSubnets": "vpc", "DescribeInstances": "cvm",
}


def _check_request(action: str, body: dict[str, Any]) -> None:
    """Refuse what the real API refuses: a parameter the action's request model does not have
    (UnknownParameter) or of the wrong type (InvalidParameter), checked against the SDK's model."""
    product = ACTION_PRODUCTS.get(action)
    if product is None:
        return
    problems = tencent_shapes.tencent_problems(tencent_shapes.tencent_model(product, f"{action}Request"), body, strict=True)
    unknown = [p for p in problems if ": no such attribute" in p]
    if unknown:
        raise ApiError("UnknownParameter", f"the parameter {unknown[0].split(':', 1)[0]} is not recognized")
    if problems:
        raise ApiError("InvalidParameter", problems[0])


class FakeTencentAPI(LoopbackServer):
    """The HTTP server. Thread-safe; every request is logged."""

    def __init__(self, *, latency: float = 0.0, host: str = "127.0.0.1") -> None:
        if not host.startswith("127.") and host != "localhost":
            raise ValueError("the fake Tencent API listens on loopback only")
        self.cloud = FakeCloud()
        self.latency = latency
        self.latency_by_action: dict[str, float] = {}
        self.calls: list[Call] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._answers: dict[str, list[Answer]] = {}
        self._lock = threading.Lock()
        self._host = host

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeTencentAPI:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                fake._serve(self)

            def do_GET(self) -> None:  # noqa: N802
                fake._serve(self)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

        self._listen(Handler, "fake-tencent-api", host=self._host)
        return self

    @property
    def endpoint(self) -> str:
        """host:port, for HttpProfile(protocol="http", endpoint=...)."""
        return f"{self._host}:{self.port}"

    @property
    def url(self) -> str:
        """http://host:port, for LBHEALTH_TENCENT_ENDPOINT."""
        return f"http://{self.endpoint}"

    # ---- programming ----------------------------------------------------------------------

    def respond(self, action: str, *answers: Answer) -> None:
        """Answer `action` with these (served in order, the last one repeated)."""
        with self._lock:
            self._answers[action] = list(answers)

    def fail(self, action: str, code: str = "AuthFailure.UnauthorizedOperation", message: str | None = None) -> None:
        """Answer `action` with an API error (default: the CAM refusal)."""
        msg = message or f"you are not authorized to perform operation ({action})"

        def error(_body: dict[str, Any]) -> dict[str, Any]:
            raise ApiError(code, msg)

        self.respond(action, error)

    def clear(self, action: str | None = None) -> None:
        """Forget programmed answers (one action or all); the cloud model answers again."""
        with self._lock:
            if action is None:
                self._answers.clear()
            else:
                self._answers.pop(action, None)

    def reset_log(self) -> None:
        with self._lock:
            self.calls.clear()
            self.max_in_flight = 0

    # ---- what happened --------------------------------------------------------------------

    def count(self, action: str | None = None) -> int:
        with self._lock:
            return sum(1 for c in self.calls if action is None or c.action == action)

    def actions(self) -> list[str]:
        with self._lock:
            return [c.action for c in self.calls]

    def bodies(self, action: str) -> list[dict[str, Any]]:
        with self._lock:
            return [c.body for c in self.calls if c.action == action]

    # ---- serving --------------------------------------------------------------------------

    def _answer_for(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        _check_request(action, body)
        with self._lock:
            queue = self._answers.get(action)
            answer = None
            if queue:
                answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if answer is not None:
            return answer(body) if callable(answer) else json.loads(json.dumps(answer))
        result = self.cloud.handle(action, body)
        if result is None:
            raise ApiError("InvalidAction", f"the fake Tencent API does not know the action {action!r}")
        return json.loads(json.dumps(result))

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        started = time.monotonic()
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        action = headers.get("x-tc-action", "")
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                body = {}
        except ValueError:
            body = {}
        call = Call(action=action, body=body, headers=headers, started=started)
        with self._lock:
            self.calls.append(call)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            delay = self.latency_by_action.get(action, self.latency)
            if delay:
                time.sleep(delay)
            request_id = str(uuid.uuid4())
            try:
                if not action:
                    raise ApiError("MissingParameter", "the X-TC-Action header is missing")
                payload = {"Response": {**self._answer_for(action, body), "RequestId": request_id}}
            except ApiError as err:
                payload = {"Response": {"Error": {"Code": err.code, "Message": err.message}, "RequestId": request_id}}
            data = json.dumps(payload).encode()
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        finally:
            with self._lock:
                self._in_flight -= 1
                call.finished = time.monotonic()


def loopback(address: str) -> bool:
    """True for 127.0.0.0/8 (fixtures must stay there)."""
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
