"""What every cloud provider answers about the load balancer in front of a Service.

`checks.lbview`, the runner and the report ask these questions of each registered provider
instead of branching on cloud names; a provider's package (checks/providers/<name>/) holds
everything cloud-specific about the load-balancer views. The shared value types and pure helpers
live here, below both the providers and lbview, so neither imports the other's internals.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Protocol

from checks.state import State
from checks.values import as_str


@dataclass(frozen=True)
class HealthCheck:
    """What the load balancer sends to a target to decide whether it is healthy."""

    source: str  # where this was read: "target group <arn>", "Service annotations", "CLB listener <id>"
    protocol: str  # HTTP | HTTPS | TCP | UDP | PING | GRPC
    port: str  # "traffic-port" or a number (as a string)
    path: str = ""
    host: str = ""
    success_codes: str = (
        "200"  # AWS matcher syntax: "200", "200,302", "200-399"; CLB mask rendered the same way
    )
    timeout_s: float = 5.0
    interval_s: float = 10.0
    healthy_threshold: int = 3
    unhealthy_threshold: int = 3
    target_type: str = "instance"  # instance | ip
    listener: str = ""  # CLB listener ID or target group ARN this belongs to


@dataclass(frozen=True)
class Source:
    """Where a read comes from: offline (the commands whose output the dump needs) and live (the grant).
    {ns} {svc} {region} and a provider's command_fields ({tg}, {lb}) are filled from the state."""

    what: str
    dump: tuple[str, ...]
    grant: str


@dataclass(frozen=True)
class ProbeSource:
    """A source network of the load balancer's health checks."""

    cidr: str
    label: str


class CloudSlice(Protocol):
    """The part of State one provider's collector and dump recognisers fill."""

    region: str | None

    @property
    def empty(self) -> bool: ...


class Provider(Protocol):
    """One cloud. `name` is its key everywhere: State slice, check layer, api_calls, the cloud a
    diagnosis names. The evidence attributes say how a Service on this cloud looks from Kubernetes."""

    name: str
    title: str  # how a person names it: "AWS", "Tencent Cloud"
    collector: str  # module of its live collector (imported only when this cloud is in play)
    annotation_prefixes: tuple[str, ...]  # Service annotations only this cloud's controllers read
    ingress_classes: tuple[str, ...]
    ingress_annotation_prefixes: tuple[str, ...]
    lb_domains: tuple[str, ...]  # suffixes of the hostnames its load balancers publish
    provider_id_prefixes: tuple[str, ...]  # node spec.providerID
    dump_module: str  # module whose Recogniser(state) takes its CLI's output from a dump (load, finish, seen)
    shapes_module: str  # module whose recognise(doc) / problems(response, doc) check its CLI's output against its SDK
    dump_tool: str  # the CLI whose output a dump needs: "AWS CLI", "tccli"
    dump_evidence: str  # why its state in the input suggests this cloud
    check_prefix: str  # the layer's check IDs start with it: "AWS" -> AWS-TARGET-HEALTH
    check_package: str  # where its checks live, imported by the catalogue
    reads: tuple[str, ...]  # what its collector and dump recognisers can fill, as checks name it
    sources: dict[str, Source]  # each of its reads, and the command or grant supplying it
    grantee: str  # who its grants go to: "the lbhealth worker's IAM role (deploy/iam-policy-read.json)"
    lb_words: str  # how its load balancers show themselves, for "no cloud was recognised"
    target_health_command: str  # the one command that shows what the load balancer thinks of its targets
    target_health_read: str  # the read holding what the load balancer thinks of its targets
    # module whose map_alarm(alarm, clusters=, clients=) finds the Service behind one of its alarms
    # (and optionally warm(clients, cluster)): imported only when such an alarm is followed up
    alarm_mapper: str

    def state_slice(self, state: State) -> CloudSlice: ...

    def lb_address(self, state: State, ip: str) -> str:
        """What `ip` (a Service's status.loadBalancer.ingress IP) is on this cloud ("a CLB VIP"), or ""."""
        ...

    def cluster_names(self, state: State) -> dict[str, str]: ...

    def command_fields(self, state: State) -> dict[str, str]:
        """Identifiers its `sources` commands name, from the state ({tg}, {lb})."""
        ...

    def target_type(self, state: State) -> str: ...

    def health_checks(self, state: State) -> list[HealthCheck]: ...

    def probe_sources(self, state: State) -> tuple[list[ProbeSource], str]: ...

    def target_health(self, state: State) -> tuple[int, int]:
        """(healthy, total) targets as `target_health_read` left them (a fix's verification polls it)."""
        ...

    def settle_s(self, state: State) -> float:
        """Interval x healthy threshold, the longest of the health checks as read (0: not read):
        how long a healthy target takes to count as healthy."""
        ...

    # An alarm on this cloud, as the webhook parsed it (bot.webhooks.alarms.Alarm.to_dict(): its
    # load-balancer identifiers, `region`, `account`, `name`, and what the provider's parser put in `lb`).

    def alarm_key(self, alarm: dict[str, Any]) -> str:
        """The incident key: what the alarm itself names (never the Service it maps to), prefixed with `name`."""
        ...

    def alarm_subject(self, alarm: dict[str, Any]) -> tuple[str, str]:
        """(kind, subject) for people: ("target group", "k8s-shop-web"), ("CLB", "lb-1 TCP:80")."""
        ...

    def alarm_options(self, alarm: dict[str, Any]) -> dict[str, Any]:
        """What the diagnosis puts into State.options so the cloud-side checks run without a Service."""
        ...


def external_traffic_local(state: State) -> bool:
    spec = (state.service or {}).get("spec") or {}
    return spec.get("externalTrafficPolicy") == "Local" and spec.get("type") == "LoadBalancer"


_CODE_RANGE = re.compile(r"^\s*(\d{3})\s*(?:-\s*(\d{3}))?\s*$")


def parse_success_codes(spec: str) -> list[tuple[int, int]] | None:
    """'200', '200,302', '200-399' -> [(lo, hi)]; None if the syntax is invalid."""
    ranges = []
    for part in as_str(spec).split(","):
        m = _CODE_RANGE.match(part)
        if not m:
            return None
        lo = int(m.group(1))
        hi = int(m.group(2) or lo)
        if hi < lo:
            return None
        ranges.append((lo, hi))
    return ranges or None


def code_accepted(spec: str, code: int) -> bool:
    ranges = parse_success_codes(spec) or []
    return any(lo <= code <= hi for lo, hi in ranges)


def cidr(value: Any) -> str | None:
    try:
        return str(ipaddress.ip_network(str(value).strip(), strict=False))
    except ValueError:
        return None
