"""Alarm payloads -> one normalised `Alarm`: CloudWatch via SNS, EventBridge, Tencent Cloud Monitor.

Each sender's format has its parser here; each parser says which provider (checks.providers) the
alarm is on, and everything after parsing (the incident key, what people read, the Service mapping,
the diagnosis options) asks that provider instead of branching on cloud names.

Parsing is defensive: the senders' own documentation disagrees with itself on types (Tencent
sends `alarmStatus` as "1" or 1, `vport` as 443 or "443", `vpcId` quoted, unquoted or numeric), so
every field is read as "whatever it is, turned into what we need", and a payload that does not
say which load balancer is alarming is refused as malformed (a 4xx: the sender must not retry).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from checks.providers import provider
from checks.providers.base import Provider
from checks.values import as_int, as_port

ELB_NAMESPACES = ("AWS/ApplicationELB", "AWS/NetworkELB", "AWS/GatewayELB")
# Every pattern is used with fullmatch (`$` would accept a trailing newline).
ALARM_ARN = re.compile(r"arn:(?P<partition>aws(?:-cn|-us-gov)?):cloudwatch:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d{1,2}):(?P<account>\d{12}):alarm:(?P<name>[^\x00-\x1f]{1,255})")
AWS_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")
AWS_ACCOUNT = re.compile(r"\d{12}")
TG_DIM = re.compile(r"targetgroup/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}")
LB_DIM = re.compile(r"(app|net|gwy)/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}")
CLB_ID = re.compile(r"lb-[a-z0-9]{6,16}")
TENCENT_REGION = re.compile(r"[a-z]{2,}(?:-[a-z0-9]+){0,3}")
TENCENT_VPC = re.compile(r"[A-Za-z0-9-]{1,64}")
TENCENT_PROTOCOLS = ("tcp", "udp", "http", "https", "tcp_ssl", "quic")
DELIVERY_ID = re.compile(r"[!-~]{1,128}")  # SNS MessageId, EventBridge id, Tencent sessionId: printable ASCII
MAX_NAME = 255  # CloudWatch's limit on alarm names; Tencent policy names are shorter
STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")
# Tencent short region codes in callbacks -> API region names (the common ones; others pass through)
SOURCE_PROVIDERS = {"cloudwatch": "aws", "eventbridge": "aws", "tencent": "tencent"}  # alarms stored before `provider`
TENCENT_REGIONS = {
    "gz": "ap-guangzhou", "sh": "ap-shanghai", "bj": "ap-beijing", "cd": "ap-chengdu", "cq": "ap-chongqing",
    "nj": "ap-nanjing", "hk": "ap-hongkong", "sg": "ap-singapore", "th": "ap-bangkok", "jkt": "ap-jakarta",
    "in": "ap-mumbai", "kr": "ap-seoul", "jp": "ap-tokyo", "usw": "na-siliconvalley", "use": "na-ashburn",
    "de": "eu-frankfurt", "sao": "sa-saopaulo", "szjr": "ap-shenzhen-fsi", "shjr": "ap-shanghai-fsi", "bjjr": "ap-beijing-fsi",
}


class AlarmRejected(ValueError):
    """The payload is not an alarm we can act on (answered 4xx, logged with this reason)."""


@dataclass
class Alarm:
    """One alarm delivery, whatever sent it. The load-balancer identifiers below are the ones the
    built-in parsers fill; a provider's own parser puts others in `lb`. Flat and JSON-safe (Redis, rq)."""

    source: str  # the sender's format: cloudwatch | eventbridge | tencent
    state: str  # ALARM | OK | INSUFFICIENT_DATA
    name: str
    dedup_id: str  # SNS MessageId, EventBridge id, Tencent sessionId
    region: str | None = None
    account: str | None = None
    alarm_arn: str | None = None
    metric: str | None = None
    namespace: str | None = None
    reason: str = ""
    changed_at: float | None = None  # when the state changed, per the sender (epoch s)
    # AWS
    target_groups: list[str] = field(default_factory=list)  # full ARNs
    load_balancer: str | None = None  # dimension value, app/<name>/<hex>
    load_balancer_arn: str | None = None
    # Tencent
    vip: str | None = None
    port: int | None = None
    protocol: str | None = None
    lb_id: str | None = None
    vpc_id: str | None = None
    policy: str | None = None
    # the provider (checks.providers) whose load balancer this is, and its own identifiers
    provider: str = ""
    lb: dict[str, Any] = field(default_factory=dict)

    @property
    def cloud(self) -> str:
        return self.provider

    def _provider(self) -> Provider:
        p = provider(self.provider)
        if p is None:
            raise AlarmRejected(f"no provider {self.provider!r} is registered for {self.source} alarms")
        return p

    @property
    def incident_key(self) -> str:
        """What the alarm itself names (a target group, a CLB listener, ...), never the Service it maps to."""
        return self._provider().alarm_key(self.to_dict())

    @property
    def subject_kind(self) -> str:
        """What `subject` names, for "ALARM ... on <kind> <subject>"."""
        return self._provider().alarm_subject(self.to_dict())[0]

    @property
    def subject(self) -> str:
        """What the alarm is about, for people: a target group name or a CLB listener."""
        return self._provider().alarm_subject(self.to_dict())[1]

    def lb_options(self) -> dict[str, Any]:
        """What the worker puts into State.options so cloud-side checks run without a Service."""
        return self._provider().alarm_options(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        # flat fields (str/int/float/None, lists of str) and `lb`: a shallow copy, not asdict's deep one
        return {name: (type(v)(v) if isinstance(v, (list, dict)) else v) for name in _FIELDS for v in (getattr(self, name),)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alarm:
        known = set(cls.__dataclass_fields__)
        return cls(**{**{k: v for k, v in data.items() if k in known}, "provider": provider_of(data)})


def provider_of(data: dict[str, Any]) -> str:
    """The provider an alarm's dict names ("" if none): alarms stored before `provider` by their source."""
    return str(data.get("provider") or SOURCE_PROVIDERS.get(str(data.get("source")), ""))


# ---- helpers ------------------------------------------------------------------------------------


def _str(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None


def _ip(value: Any) -> str | None:
    """An IPv4/IPv6 address as text, or None (a Tencent `vip` may be anything the sender wrote)."""
    try:
        return str(ipaddress.ip_address(str(value).strip())) if value else None
    except ValueError:
        return None


def _name(text: str) -> str:
    """An alarm's name for people: one line, at most MAX_NAME characters (escaped when rendered)."""
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()
    return text if len(text) <= MAX_NAME else text[: MAX_NAME - 1] + "…"


def _delivery_id(value: Any, what: str) -> str:
    """The sender's delivery id, which becomes part of a Redis key: refused unless short and plain."""
    text = _str(value) or ""
    if not DELIVERY_ID.fullmatch(text):
        raise AlarmRejected(f"{what} is missing or not a plain id of at most 128 characters")
    return text


def _time(value: Any) -> float | None:
    text = _str(value)
    if not text:
        return None
    text = text.replace("Z", "+00:00")
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text)  # +0000 -> +00:00
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _partition(region: str) -> str:
    return "aws-cn" if region.startswith("cn-") else ("aws-us-gov" if region.startswith("us-gov-") else "aws")


def _dims_from_list(items: Any) -> dict[str, str]:
    """CloudWatch SNS shape: [{"name": ..., "value": ...}] (lowercase keys; tolerate Name/Value)."""
    out: dict[str, str] = {}
    if isinstance(items, dict):
        return {str(k): str(v) for k, v in items.items() if _str(v)}
    for item in items or []:
        if isinstance(item, dict):
            name = _str(item.get("name") or item.get("Name"))
            value = _str(item.get("value") or item.get("Value"))
            if name and value:
                out[name] = value
    return out


def _elb_dimensions(metrics: list[tuple[str | None, str | None, dict[str, str]]], region: str, account: str) -> tuple[list[str], str | None, str | None, str | None]:
    """(TG ARNs, LB dimension, metric, namespace) from every ELB metric the alarm reads."""
    tgs: list[str] = []
    lb_dim = metric_name = namespace = None
    for ns, name, dims in metrics:
        if ns and ns not in ELB_NAMESPACES:
            continue
        tg = dims.get("TargetGroup")
        if tg and TG_DIM.fullmatch(tg):
            arn = f"arn:{_partition(region)}:elasticloadbalancing:{region}:{account}:{tg}"
            if arn not in tgs:
                tgs.append(arn)
        lb = dims.get("LoadBalancer")
        if lb and LB_DIM.fullmatch(lb) and not lb_dim:
            lb_dim = lb
        if (tg or lb) and not metric_name:
            metric_name, namespace = name, ns
    return tgs, lb_dim, metric_name, namespace


def _state(value: Any) -> str:
    state = (_str(value) or "").upper()
    if state not in STATES:
        raise AlarmRejected(f"alarm state {value!r} is not ALARM, OK or INSUFFICIENT_DATA")
    return state


# ---- CloudWatch via SNS -------------------------------------------------------------------------


def parse_cloudwatch(message: str | dict[str, Any], *, message_id: str, topic_arn: str | None = None) -> Alarm:
    """The SNS `Message` of a CloudWatch alarm (a JSON string)."""
    if isinstance(message, str):
        try:
            data = json.loads(message)
        except ValueError as exc:
            raise AlarmRejected("SNS Message is not JSON: not a CloudWatch alarm") from exc
    else:
        data = message
    if not isinstance(data, dict) or "AlarmName" not in data or "NewStateValue" not in data:
        raise AlarmRejected("SNS Message has no AlarmName/NewStateValue: not a CloudWatch alarm")
    name = _name(_str(data.get("AlarmName")) or "?")
    arn = _str(data.get("AlarmArn")) or ""
    m = ALARM_ARN.fullmatch(arn)
    region = m.group("region") if m else None
    account = (m.group("account") if m else None) or _str(data.get("AWSAccountId"))
    if not region and topic_arn:
        parts = topic_arn.split(":")
        region = parts[3] if len(parts) > 5 else None
    region = region if region and AWS_REGION.fullmatch(region) else None
    account = account if account and AWS_ACCOUNT.fullmatch(account) else None
    trigger = data.get("Trigger") if isinstance(data.get("Trigger"), dict) else {}
    metrics: list[tuple[str | None, str | None, dict[str, str]]] = []
    if trigger.get("Dimensions") is not None or trigger.get("MetricName"):
        metrics.append((_str(trigger.get("Namespace")), _str(trigger.get("MetricName")), _dims_from_list(trigger.get("Dimensions"))))
    for item in trigger.get("Metrics") or []:
        stat = (item or {}).get("MetricStat") if isinstance(item, dict) else None
        metric = (stat or {}).get("Metric") if isinstance(stat, dict) else None
        if isinstance(metric, dict):
            metrics.append((_str(metric.get("Namespace")), _str(metric.get("MetricName")), _dims_from_list(metric.get("Dimensions"))))
    if not region or not account:
        raise AlarmRejected("alarm has no AlarmArn/AWSAccountId: cannot tell its region and account")
    tgs, lb_dim, metric_name, namespace = _elb_dimensions(metrics, region, account)
    if not tgs and not lb_dim:
        raise AlarmRejected(f"alarm {name!r} has no TargetGroup or LoadBalancer dimension in AWS/ApplicationELB or AWS/NetworkELB")
    lb_arn = f"arn:{_partition(region)}:elasticloadbalancing:{region}:{account}:loadbalancer/{lb_dim}" if lb_dim else None
    return Alarm(
        source="cloudwatch",
        provider="aws",
        state=_state(data.get("NewStateValue")),
        name=name,
        dedup_id=_delivery_id(message_id, "MessageId"),
        region=region,
        account=account,
        alarm_arn=arn or None,
        metric=metric_name,
        namespace=namespace,
        reason=(_str(data.get("NewStateReason")) or "")[:1000],
        changed_at=_time(data.get("StateChangeTime")),
        target_groups=tgs,
        load_balancer=lb_dim,
        load_balancer_arn=lb_arn,
    )


# ---- EventBridge "CloudWatch Alarm State Change" -------------------------------------------------


def is_eventbridge(data: Any) -> bool:
    return isinstance(data, dict) and data.get("detail-type") == "CloudWatch Alarm State Change"


def parse_eventbridge(data: dict[str, Any]) -> Alarm:
    if not is_eventbridge(data) or data.get("source") != "aws.cloudwatch":
        raise AlarmRejected("not a CloudWatch Alarm State Change event")
    detail = data.get("detail") if isinstance(data.get("detail"), dict) else {}
    region = _str(data.get("region"))
    account = _str(data.get("account"))
    resources = [r for r in data.get("resources") or [] if isinstance(r, str)]
    arn = next((r for r in resources if ALARM_ARN.fullmatch(r)), None)
    if arn and (not region or not account):
        m = ALARM_ARN.fullmatch(arn)
        region, account = region or m.group("region"), account or m.group("account")
    if not region or not account or not AWS_REGION.fullmatch(region) or not AWS_ACCOUNT.fullmatch(account):
        raise AlarmRejected("event has no valid region/account")
    config = detail.get("configuration") if isinstance(detail.get("configuration"), dict) else {}
    metrics = []
    for item in config.get("metrics") or []:
        stat = (item or {}).get("metricStat") if isinstance(item, dict) else None
        metric = (stat or {}).get("metric") if isinstance(stat, dict) else None
        if isinstance(metric, dict):
            metrics.append((_str(metric.get("namespace")), _str(metric.get("name")), _dims_from_list(metric.get("dimensions"))))
    name = _name(_str(detail.get("alarmName")) or "?")
    tgs, lb_dim, metric_name, namespace = _elb_dimensions(metrics, region, account)
    if not tgs and not lb_dim:
        raise AlarmRejected(f"alarm {name!r} has no TargetGroup or LoadBalancer dimension in AWS/ApplicationELB or AWS/NetworkELB")
    state = detail.get("state") if isinstance(detail.get("state"), dict) else {}
    event_id = _str(data.get("id"))
    if not event_id:
        raise AlarmRejected("event has no id")
    return Alarm(
        source="eventbridge",
        provider="aws",
        state=_state(state.get("value")),
        name=name,
        dedup_id=_delivery_id(event_id, "id"),
        region=region,
        account=account,
        alarm_arn=arn,
        metric=metric_name,
        namespace=namespace,
        reason=(_str(state.get("reason")) or "")[:1000],
        changed_at=_time(state.get("timestamp")) or _time(data.get("time")),
        target_groups=tgs,
        load_balancer=lb_dim,
        load_balancer_arn=f"arn:{_partition(region)}:elasticloadbalancing:{region}:{account}:loadbalancer/{lb_dim}" if lb_dim else None,
    )


# ---- Tencent Cloud Monitor callback --------------------------------------------------------------


def tencent_session_id(data: Any) -> str | None:
    return _str(data.get("sessionId")) if isinstance(data, dict) else None


def parse_tencent(data: Any) -> Alarm:
    if not isinstance(data, dict):
        raise AlarmRejected("body is not a JSON object")
    session = tencent_session_id(data)
    if not session:
        raise AlarmRejected("callback has no sessionId")
    status = as_int(data.get("alarmStatus"))
    if status not in (0, 1):
        raise AlarmRejected(f"alarmStatus {data.get('alarmStatus')!r} is neither 1 (alarm) nor 0 (recovered)")
    obj = data.get("alarmObjInfo") if isinstance(data.get("alarmObjInfo"), dict) else {}
    dims = obj.get("dimensions") if isinstance(obj.get("dimensions"), dict) else {}
    detail = dims.get("objDetail") if isinstance(dims.get("objDetail"), dict) else {}
    vip = _str(dims.get("vip")) or _str(detail.get("vip"))
    obj_id = _str(dims.get("objId")) or ""
    id_parts = obj_id.split("#")
    if not vip and len(id_parts) == 3 and _ip(id_parts[0]):
        vip = id_parts[0]
    vip = _ip(vip)
    # listener port: vport (public/private listener), loadBalancerPort (server-port alarms), port (L7 listener shape)
    port = as_port(dims.get("vport")) or as_port(dims.get("loadBalancerPort"))
    if port is None and not _str(dims.get("lanIp")):
        port = as_port(dims.get("port"))
    if port is None and len(id_parts) == 3:
        port = as_port(id_parts[1])
    protocol = (_str(dims.get("protocol")) or (id_parts[2] if len(id_parts) == 3 else "") or "").lower()
    protocol = protocol if protocol in TENCENT_PROTOCOLS else None
    lb_id = None
    for key in ("loadBalancerId", "unLoadBalancerId", "unInstanceId", "uniqLoadBalancerId", "instanceId"):
        value = _str(dims.get(key))
        if value and CLB_ID.fullmatch(value):
            lb_id = value
            break
    if not vip and not lb_id:
        raise AlarmRejected("callback dimensions name no CLB (no vip, objId or loadBalancerId)")
    if port is not None and not (0 < port < 65536):
        port = None
    vpc = _str(dims.get("vpcId"))
    vpc = vpc if vpc and TENCENT_VPC.fullmatch(vpc) else None
    policy = data.get("alarmPolicyInfo") if isinstance(data.get("alarmPolicyInfo"), dict) else {}
    conditions = policy.get("conditions") if isinstance(policy.get("conditions"), dict) else {}
    region_code = _str(obj.get("region"))
    region = TENCENT_REGIONS.get(region_code or "", region_code)
    region = region if region and TENCENT_REGION.fullmatch(region) else None
    metric = _str(conditions.get("metricName")) or _str(conditions.get("eventName"))
    reason_bits = [
        _str(conditions.get("metricShowName")) or metric or "",
        f"{_str(conditions.get('calcType')) or ''} {_str(conditions.get('calcValue')) or ''}{_str(conditions.get('calcUnit')) or ''}".strip(),
        f"current {_str(conditions.get('currentValue'))}" if _str(conditions.get("currentValue")) else "",
    ]
    first = _str(data.get("firstOccurTime"))
    return Alarm(
        source="tencent",
        provider="tencent",
        state="ALARM" if status == 1 else "OK",
        name=_name(_str(policy.get("policyName")) or _str(policy.get("policyId")) or metric or "Cloud Monitor alarm"),
        dedup_id=_delivery_id(session, "sessionId"),
        region=region,
        account=_str(obj.get("appId")) or _str(obj.get("uin")),
        metric=metric,
        namespace=_str(obj.get("namespace")),
        reason=" ".join(b for b in reason_bits if b)[:1000],
        changed_at=None if not first else _tencent_time(_str(data.get("recoverTime")) if status == 0 else first),
        vip=vip,
        port=port,
        protocol=protocol,
        lb_id=lb_id,
        vpc_id=vpc,
        policy=_str(policy.get("policyId")),
    )


def _tencent_time(text: str | None) -> float | None:
    """'2017-03-09 07:00:00' (Beijing time, UTC+8, which the doc does not state: assumed)."""
    if not text or text == "0":
        return None
    try:
        return datetime.fromisoformat(text.replace(" ", "T") + "+08:00").timestamp()
    except ValueError:
        return None


_FIELDS = tuple(Alarm.__dataclass_fields__)


def fingerprint(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:32]
