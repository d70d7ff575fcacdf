"""The live AWS collector: the only code that calls AWS read APIs.

    Service/Ingress/TargetGroupBinding (already in the bag)
      ├─ TargetGroupBinding ARNs ─► DescribeTargetGroups(TargetGroupArns) ─► DescribeLoadBalancers(LoadBalancerArns)
      └─ status hostname        ─► DescribeLoadBalancers(Names) ─► DescribeTargetGroups(LoadBalancerArn)
                                   ─► DescribeTags (<= 20 ARNs per call) keeps this Service's groups
      ─► DescribeTargetHealth per target group, in parallel
      ─► only when the targets time out / fail to connect (or options["network"]):
           DescribeInstances ∥ DescribeSubnets ∥ DescribeNetworkAcls ∥ DescribeRouteTables ∥ DescribeVpcs
           ─► DescribeSecurityGroups
      ─► only for NLB + externalTrafficPolicy Local + instance targets: DescribeVpcs ─► DescribeDhcpOptions

ELBv2 costs at most 4 calls plus one per target group. Everything is stored exactly as the
AWS CLI prints it (datetimes as ISO strings), so `lbhealth snapshot` can write it and `--from`
can read it back. Credentials, region and endpoint come from the standard AWS_* variables
and config files; botocore itself honours AWS_ENDPOINT_URL.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from typing import Any

from checks.lbview import detect_cloud
from checks.providers.aws import AWS_READS, PROVIDER
from checks.providers.aws.mapping import (
    NETWORK_REASONS,
    instance_id_of_node,
    lb_name_from_hostname,
    region_from_hostname,
    service_tgbs,
    services_from_tags,
    status_hostnames,
    tag_match,
    tgb_arn,
    tgb_name,
    wanted_lb_names,
)
from checks.providers.base import external_traffic_local
from checks.state import State, meta

log = logging.getLogger(__name__)

NO_CREDENTIALS = (
    "no AWS credentials found (set AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
    "or give the worker an IAM role through IRSA / EKS Pod Identity); AWS checks skipped"
)
NOT_SUSPECTED = "targets answered health checks; network path not suspected"
DHCP_NOT_APPLICABLE = (
    "DHCP options matter only for an NLB with externalTrafficPolicy Local and instance targets"
)
TAGS_PER_CALL = 20  # DescribeTags accepts up to 20 resource ARNs
FILTER_VALUES = 200  # EC2 filter values per call
_IAM_PREFIX = {"elbv2": "elasticloadbalancing", "ec2": "ec2"}
# Every read API this collector may call. deploy/ grants exactly these (read-only) IAM actions.
OPERATIONS: dict[str, tuple[str, ...]] = {
    "elbv2": (
        "DescribeLoadBalancers",
        "DescribeTargetGroups",
        "DescribeTags",
        "DescribeListeners",
        "DescribeTargetHealth",
    ),
    "ec2": (
        "DescribeInstances",
        "DescribeSecurityGroups",
        "DescribeSubnets",
        "DescribeNetworkAcls",
        "DescribeRouteTables",
        "DescribeVpcs",
        "DescribeDhcpOptions",
    ),
}
_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthFailure",
}
_THROTTLED = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"}
_ZONE = re.compile(r"^([a-z]{2}(?:-gov|-iso[a-z]*)?-[a-z]+-\d+)")


class AwsReadFailed(Exception):
    """One read failed; the reason is already in state.read_errors."""


def make_config():
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=3,
        read_timeout=10,
        max_pool_connections=20,
        user_agent_extra="lbhealth",
    )


def jsonable(value: Any) -> Any:
    """A boto3 response as the AWS CLI prints it: datetimes as ISO strings, no ResponseMetadata."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def iam_action(service: str, operation: str) -> str:
    return f"{_IAM_PREFIX.get(service, service)}:{operation}"


IAM_READ_ACTIONS: tuple[str, ...] = tuple(
    sorted(iam_action(s, op) for s, ops in OPERATIONS.items() for op in ops)
)


def describe_tg_tags(
    client: Any,
    arns: Iterable[str],
    *,
    on_call: Callable[[], None] | None = None,
    max_workers: int = 4,
) -> dict[str, dict[str, str]]:
    """Tags of target groups (or load balancers), {ARN: {key: value}}, <= 20 ARNs per call, in parallel.

    `client` is a boto3 elbv2 client. Errors (botocore ClientError) propagate to the caller.
    Used by the collector and by the alarm webhooks' reverse mapping.
    """
    arns = [a for a in dict.fromkeys(arns) if a]
    chunks = [arns[i : i + TAGS_PER_CALL] for i in range(0, len(arns), TAGS_PER_CALL)]

    def one(chunk: list[str]) -> dict[str, dict[str, str]]:
        if on_call:
            on_call()
        resp = client.describe_tags(ResourceArns=chunk)
        return {
            td.get("ResourceArn", ""): {t.get("Key"): t.get("Value") for t in td.get("Tags") or []}
            for td in resp.get("TagDescriptions") or []
        }

    out: dict[str, dict[str, str]] = {}
    if len(chunks) <= 1:
        for chunk in chunks:
            out.update(one(chunk))
        return out
    with ThreadPoolExecutor(max_workers=min(max_workers, len(chunks))) as pool:
        for part in pool.map(one, chunks):
            out.update(part)
    return out


def resolve_region(state: State, session: Any = None, configured: str | None = None) -> str | None:
    """The region to ask, most specific first: one a dump's ARNs set (state.aws.region), the
    alarm's, a TargetGroupBinding's ARN, the load balancer's hostname, the cluster's configured
    region (`configured`), AWS_REGION, AWS_DEFAULT_REGION, the session's profile, then a node's
    providerID zone (aws:///us-east-1a/i-...). What the resources themselves name wins over
    settings, since that is where the load balancer is."""
    if state.aws.region:
        return state.aws.region
    if state.options.get("aws_region"):  # the alarm's region (alarm webhook)
        return state.options["aws_region"]
    arns = [tgb_arn(b) or "" for b in service_tgbs(state)] + list(
        state.options.get("aws_target_groups") or []
    )
    for arn in arns:
        parts = str(arn).split(":")
        if len(parts) > 3 and parts[2] == "elasticloadbalancing" and parts[3]:
            return parts[3]
    hosts = status_hostnames(state.service)
    for ing in state.ingresses:
        hosts += status_hostnames(ing)
    for host in hosts:
        region = region_from_hostname(host)
        if region:
            return region
    if configured:
        return configured
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if os.environ.get(var):
            return os.environ[var]
    if session is not None and getattr(session, "region_name", None):
        return session.region_name
    for node in state.nodes:
        pid = ((node.get("spec") or {}).get("providerID") or "").removeprefix("aws://").lstrip("/")
        m = _ZONE.match(pid.split("/", 1)[0])
        if m:
            return m.group(1)
    return None


def collect_live(state: State, reads: set[str], clients: Any) -> None:
    """The provider hook `checks.collect.live` calls. This provider's settings in `live.Clients`:
    `session` (a boto3.Session), `clients` ({"elbv2": ..., "ec2": ...} made elsewhere; tests: Stubber)
    and `region` (the cluster's configured region)."""
    mine = clients.of(PROVIDER.name)
    collect_aws(state, reads, session=mine.get("session"), clients=mine.get("clients"), region=mine.get("region"))


def collect_aws(
    state: State,
    reads: set[str],
    session: Any = None,
    *,
    clients: dict[str, Any] | None = None,
    region: str | None = None,
) -> None:
    """Read what the AWS checks in `reads` need for the Service in `state`, into `state.aws`.

    `clients` ({"elbv2": ..., "ec2": ...}) replaces the clients made from `session` (tests use it
    for botocore's Stubber). Failures never raise: they land in state.read_errors (with the IAM
    action to grant) or state.skipped_reads (with why nothing was asked).
    """
    wanted = {r for r in reads if r.startswith("aws.")}
    if not wanted:
        return
    cloud = detect_cloud(state)
    if cloud is not None and cloud != PROVIDER.name:
        _skip(state, wanted, f"not an AWS load balancer (the load balancer is on {cloud})")
        return
    try:
        import boto3
    except ImportError:  # pragma: no cover - boto3 is a dependency
        _skip(state, wanted, "boto3 is not installed; AWS checks skipped")
        return
    session = session or boto3.Session()
    if clients is None and session.get_credentials() is None:
        state.skipped_reads["aws.*"] = NO_CREDENTIALS
        _skip(state, wanted, NO_CREDENTIALS)
        return
    region = resolve_region(state, session, configured=region)
    if not region and clients is None:
        _skip(state, wanted, "no AWS region: set AWS_REGION (or the cluster's region in the config)")
        return
    state.aws.region = region
    try:
        _Collector(state, wanted, session, region, clients or {}).run()
    except Exception as exc:  # a collector bug must not take the diagnosis down
        log.exception("AWS collection failed")
        for r in wanted - state.reads_done - set(state.skipped_reads):
            state.read_errors.setdefault(r, f"reading AWS failed unexpectedly ({type(exc).__name__}: {exc})")


def _skip(state: State, reads: Iterable[str], why: str) -> None:
    for r in reads:
        state.skipped_reads.setdefault(r, why)


class _Collector:
    def __init__(
        self, state: State, wanted: set[str], session: Any, region: str | None, clients: dict[str, Any]
    ) -> None:
        self.state = state
        self.wanted = wanted
        self.session = session
        self.region = region
        self._clients = dict(clients)
        self._lock = threading.Lock()  # state updates and call counts
        self._client_lock = threading.Lock()  # boto3 sessions are not thread-safe: one client at a time
        self.lb_from_service: set[str] = set()  # LB names the Service's own hostname gave
        self.th_read: set[str] = set()  # target groups whose health was read

    # ---- plumbing ---------------------------------------------------------------------

    def client(self, service: str) -> Any:
        with self._client_lock:
            if service not in self._clients:
                self._clients[service] = self.session.client(
                    service, region_name=self.region, config=make_config()
                )
            return self._clients[service]

    def count(self) -> None:
        with self._lock:
            self.state.api_calls["aws"] += 1

    def call(
        self, service: str, operation: str, read: str, *, quiet: tuple[str, ...] = (), **params: Any
    ) -> dict[str, Any]:
        """One API call (pages followed), counted; a failure is recorded for `read` and raised.

        Error codes in `quiet` (e.g. LoadBalancerNotFound) are answers, not failures: they raise
        _NotFound without recording anything.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        if operation not in OPERATIONS.get(service, ()):
            raise ValueError(f"{service}:{operation} is not a declared read (OPERATIONS)")
        method = getattr(self.client(service), _snake(operation))
        pages: list[dict[str, Any]] = []
        token_in, token_out = ("Marker", "NextMarker") if service == "elbv2" else ("NextToken", "NextToken")
        try:
            while True:
                self.count()
                resp = method(**params)
                pages.append(resp)
                token = resp.get(token_out)
                if not token or len(pages) >= 20:
                    break
                params = {**params, token_in: token}
        except ClientError as exc:
            err = exc.response.get("Error") or {}
            code = str(err.get("Code") or "Error")
            if code in quiet:
                raise _NotFound(code) from exc
            self._fail(read, service, operation, code, str(err.get("Message") or exc))
        except BotoCoreError as exc:
            self._fail(read, service, operation, type(exc).__name__, str(exc))
        merged: dict[str, Any] = {}
        for page in pages:
            for key, value in page.items():
                if key in ("NextMarker", "NextToken"):
                    continue
                if isinstance(value, list) and isinstance(merged.get(key), list):
                    merged[key].extend(value)
                else:
                    merged.setdefault(key, value)
        return jsonable(merged)

    def _fail(self, read: str, service: str, operation: str, code: str, message: str) -> None:
        action = iam_action(service, operation)
        if code in _DENIED or "not authorized" in message.lower():
            text = (
                f"AccessDenied: grant IAM action {action} to the lbhealth worker's role ({code}: {message})"
            )
        elif code in _THROTTLED:
            text = f"Throttled by AWS on {action} after 3 attempts ({code}: {message}); try again shortly"
        elif code in ("NoCredentialsError", "PartialCredentialsError"):
            text = NO_CREDENTIALS
        elif code in (
            "EndpointConnectionError",
            "ConnectTimeoutError",
            "ReadTimeoutError",
            "ConnectionClosedError",
        ):
            text = f"could not reach the AWS API for {action} ({code}: {message})"
        else:
            text = f"{action} failed ({code}: {message})"
        log.warning("AWS read %s failed: %s", read, text)
        with self._lock:
            self.state.read_errors.setdefault(read, text)
            self.state.reads_done.add(read)
        raise AwsReadFailed(text)

    def parallel(self, jobs: list[Callable[[], Any]]) -> list[Any]:
        """Run independent calls at once; a failed one yields None (its error is already recorded)."""

        def safe(job: Callable[[], Any]) -> Any:
            try:
                return job()
            except AwsReadFailed:
                return None

        if len(jobs) <= 1:
            return [safe(j) for j in jobs]
        with ThreadPoolExecutor(max_workers=min(8, len(jobs))) as pool:
            return list(pool.map(safe, jobs))

    def done(self, read: str) -> None:
        with self._lock:
            self.state.reads_done.add(read)

    # ---- the plan -----------------------------------------------------------------------

    def run(self) -> None:
        if "aws.elbv2" not in self.wanted and "aws.target_health" not in self.wanted:
            _skip(self.state, self.wanted, "no ELBv2 read was requested, so no target group to follow")
            return
        self.client("elbv2")  # built once, here, not by the first worker thread while others wait
        self._run()

    def _run(self) -> None:
        try:
            tgs = self.map_target_groups()
        except AwsReadFailed:
            _skip(
                self.state, self.wanted - {"aws.elbv2"}, "the load balancer could not be read (see aws.elbv2)"
            )
            return
        self.done("aws.elbv2")
        if not tgs:
            _skip(
                self.state,
                self.wanted - {"aws.elbv2"},
                "no target group of this Service was found (see AWS-MAP)",
            )
            return
        dhcp = "aws.dhcp" in self.wanted and self.dhcp_applies(tgs)
        vpc_ids = self.vpc_ids(tgs)
        # One round: the target health still missing, and the VPC (for its DHCP options) when needed.
        if dhcp and vpc_ids:
            self.client("ec2")
        jobs = self.th_jobs([tg for tg in tgs if tg["TargetGroupArn"] not in self.th_read])
        if dhcp and vpc_ids:
            jobs.append(
                lambda: self.store("Vpcs", self.call("ec2", "DescribeVpcs", "aws.dhcp", VpcIds=vpc_ids))
            )
        self.parallel(jobs)
        if "aws.target_health" in self.wanted:
            self.done("aws.target_health")
        self.read_network_and_dhcp(tgs, dhcp)

    def th_jobs(self, tgs: list[dict[str, Any]]) -> list[Callable[[], Any]]:
        """DescribeTargetHealth per target group (a group deleted meanwhile is skipped, not an error)."""
        if "aws.target_health" not in self.wanted:
            return []

        def one(arn: str) -> None:
            try:
                resp = self.call(
                    "elbv2",
                    "DescribeTargetHealth",
                    "aws.target_health",
                    quiet=("TargetGroupNotFound",),
                    TargetGroupArn=arn,
                )
            except _NotFound:
                return
            with self._lock:
                self.state.aws.target_health[arn] = resp.get("TargetHealthDescriptions") or []
                self.th_read.add(arn)

        return [(lambda a=tg["TargetGroupArn"]: one(a)) for tg in tgs if tg.get("TargetGroupArn")]

    def store(self, key: str, resp: dict[str, Any] | None) -> None:
        if resp:
            with self._lock:
                getattr(self.state.aws, _ATTR[key]).extend(resp.get(key) or [])

    def vpc_ids(self, tgs: list[dict[str, Any]]) -> list[str]:
        lbs = self.state.aws.load_balancers
        return sorted({x for x in [*(tg.get("VpcId") for tg in tgs), *(lb.get("VpcId") for lb in lbs)] if x})

    def map_target_groups(self) -> list[dict[str, Any]]:
        """The Service's target groups; target health is read in the same round where the ARNs are known."""
        state = self.state
        aws = state.aws
        tgbs = service_tgbs(state)
        arns = list(dict.fromkeys(a for a in (tgb_arn(b) for b in tgbs) if a))
        # an alarm names its target group (options from the alarm webhook): read it even without a Service
        arns += [a for a in state.options.get("aws_target_groups") or [] if a and a not in arns]
        names = [n for b in tgbs if not tgb_arn(b) for n in [tgb_name(b)] if n]
        if arns or names:
            # The bindings name the ARNs: describe, tag and health-check them all at once.
            jobs: list[Callable[[], Any]] = []
            if arns:
                jobs.append(lambda: self._bound_groups(TargetGroupArns=arns))
            if names:
                jobs.append(lambda: self._bound_groups(Names=names))
            n_describe = len(jobs)
            # The load balancer the status hostnames name, in this round rather than after the
            # groups name its ARN: one round trip less (~50 ms of a live run, bench/cold_start.py).
            jobs.append(self._hostname_lbs)
            if arns:
                jobs.append(lambda: self.tags(arns))
                jobs += self.th_jobs([{"TargetGroupArn": a} for a in arns])
            results = self.parallel(jobs)
            tgs = [tg for r in results[:n_describe] if r for tg in r.get("TargetGroups") or []]
            if tgs:
                lb_arns = sorted({a for tg in tgs for a in tg.get("LoadBalancerArns") or []})
                named = [lb for lb in results[n_describe] or [] if lb.get("LoadBalancerArn") in lb_arns]
                self.store("LoadBalancers", {"LoadBalancers": named})
                lb_arns = [a for a in lb_arns if a not in {lb["LoadBalancerArn"] for lb in named}]
                by_name = [tg["TargetGroupArn"] for tg in tgs if tg["TargetGroupArn"] not in arns]
                jobs = []
                if lb_arns:
                    jobs.append(
                        lambda: self.store(
                            "LoadBalancers",
                            self.call(
                                "elbv2", "DescribeLoadBalancers", "aws.elbv2", LoadBalancerArns=lb_arns
                            ),
                        )
                    )
                if by_name:
                    jobs.append(lambda: self.tags(by_name))
                self.parallel(jobs)
                aws.target_groups.extend(tgs)
                return tgs
            aws.target_health.clear()
            self.th_read.clear()
            if "aws.elbv2" in state.read_errors:
                raise AwsReadFailed(state.read_errors["aws.elbv2"])
        lbs = self.find_load_balancers()
        if not lbs:
            return []
        aws.load_balancers.extend(lbs)
        results = self.parallel([(lambda arn=lb["LoadBalancerArn"]: self._groups_of(arn)) for lb in lbs])
        if all(r is None for r in results):
            raise AwsReadFailed(state.read_errors.get("aws.elbv2", ""))
        candidates = [tg for r in results if r for tg in r.get("TargetGroups") or []]
        if not candidates:
            listeners = self.parallel(
                [
                    (
                        lambda arn=lb["LoadBalancerArn"]: self.call(
                            "elbv2", "DescribeListeners", "aws.elbv2", LoadBalancerArn=arn
                        )
                    )
                    for lb in lbs
                ]
            )
            aws.listeners.extend(ls for r in listeners if r for ls in r.get("Listeners") or [])
            return []
        own = {lb["LoadBalancerArn"] for lb in lbs if lb.get("LoadBalancerName") in self.lb_from_service}
        if own and all(own & set(tg.get("LoadBalancerArns") or []) for tg in candidates):
            # The Service's own load balancer: its groups are the Service's, so read their
            # health while the tags confirm it (one round instead of two).
            results = self.parallel(
                [lambda: self.tags([tg["TargetGroupArn"] for tg in candidates]), *self.th_jobs(candidates)]
            )
            tags = results[0] or {}
        else:
            tags = self.tags([tg["TargetGroupArn"] for tg in candidates])
        kept = self.keep_service_groups(lbs, candidates, tags)
        kept_arns = {tg["TargetGroupArn"] for tg in kept}
        for arn in list(aws.target_health):
            if arn not in kept_arns:
                del aws.target_health[arn]
                self.th_read.discard(arn)
        aws.target_groups.extend(kept)
        return kept

    def _groups_of(self, lb_arn: str) -> dict[str, Any]:
        """DescribeTargetGroups(LoadBalancerArn); "none" may come back as TargetGroupNotFound."""
        try:
            return self.call(
                "elbv2",
                "DescribeTargetGroups",
                "aws.elbv2",
                quiet=("TargetGroupNotFound",),
                LoadBalancerArn=lb_arn,
            )
        except _NotFound:
            return {"TargetGroups": []}

    def _bound_groups(self, **params: Any) -> dict[str, Any]:
        """DescribeTargetGroups for TargetGroupBinding ARNs/names; a deleted group is an answer."""
        try:
            return self.call(
                "elbv2", "DescribeTargetGroups", "aws.elbv2", quiet=("TargetGroupNotFound",), **params
            )
        except _NotFound:
            if len(next(iter(params.values()))) == 1:
                return {"TargetGroups": []}
        found: list[dict[str, Any]] = []
        key, values = next(iter(params.items()))
        for value in values:
            try:
                found += (
                    self.call(
                        "elbv2",
                        "DescribeTargetGroups",
                        "aws.elbv2",
                        quiet=("TargetGroupNotFound",),
                        **{key: [value]},
                    ).get("TargetGroups")
                    or []
                )
            except _NotFound:
                continue
        return {"TargetGroups": found}

    def tags(self, arns: list[str]) -> dict[str, dict[str, str]]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            tags = describe_tg_tags(self.client("elbv2"), arns, on_call=self.count)
        except ClientError as exc:
            err = exc.response.get("Error") or {}
            if err.get("Code") in ("TargetGroupNotFound", "LoadBalancerNotFound"):
                return {}  # a binding naming a deleted group: AWS-MAP says so
            try:
                self._fail(
                    "aws.elbv2", "elbv2", "DescribeTags", str(err.get("Code")), str(err.get("Message"))
                )
            except AwsReadFailed:
                return {}
        except BotoCoreError as exc:
            try:
                self._fail("aws.elbv2", "elbv2", "DescribeTags", type(exc).__name__, str(exc))
            except AwsReadFailed:
                return {}
        with self._lock:
            self.state.aws.tags.update(tags)
        return tags

    def find_load_balancers(self) -> list[dict[str, Any]]:
        """DescribeLoadBalancers by the names in the status hostnames (one call; one per name if any is missing)."""
        wanted = wanted_lb_names(self.state)
        self.lb_from_service = {n for n, where in wanted if where.startswith("Service")}
        names = [n for n, _ in wanted]
        if not names:
            return []
        try:
            resp = self._describe_names(names)
            return resp
        except _NotFound:
            if len(names) == 1:
                return []
        found = []
        for name in names:
            try:
                found.extend(self._describe_names([name]))
            except _NotFound:
                continue
        return found

    def _hostname_lbs(self) -> list[dict[str, Any]]:
        """The load balancers the status hostnames name, in one call; none when a name is unknown."""
        wanted = wanted_lb_names(self.state)
        self.lb_from_service = {n for n, where in wanted if where.startswith("Service")}
        if not wanted:
            return []
        try:
            return self._describe_names([n for n, _ in wanted])
        except _NotFound:
            return []

    def _describe_names(self, names: list[str]) -> list[dict[str, Any]]:
        resp = self.call(
            "elbv2", "DescribeLoadBalancers", "aws.elbv2", quiet=("LoadBalancerNotFound",), Names=names
        )
        return resp.get("LoadBalancers") or []

    def keep_service_groups(
        self, lbs: list[dict[str, Any]], candidates: list[dict[str, Any]], tags: dict[str, dict[str, str]]
    ) -> list[dict[str, Any]]:
        """The Service's target groups among those of its load balancers (shared ALBs hold others)."""
        state = self.state
        ings = state.ingresses
        ing_names = [meta(i).get("name") or "" for i in ings]
        own_lbs = {lb["LoadBalancerArn"] for lb in lbs if lb.get("LoadBalancerName") in self.lb_from_service}
        kept = []
        for tg in candidates:
            t = tags.get(tg["TargetGroupArn"]) or {}
            if tag_match(t, state.target.namespace, state.target.service, ing_names):
                kept.append(tg)
            elif not services_from_tags(t, ings) and own_lbs & set(tg.get("LoadBalancerArns") or []):
                kept.append(tg)  # untagged group on the Service's own load balancer
        return kept

    # ---- conditional EC2 reads ------------------------------------------------------------

    def network_suspected(self) -> bool:
        if self.state.options.get("network"):
            return True
        if "aws.target_health" in self.state.read_errors or "aws.target_health" not in self.wanted:
            return True  # could not see the targets' health: do not rule the network out
        reasons = {
            (d.get("TargetHealth") or {}).get("Reason")
            for descs in self.state.aws.target_health.values()
            for d in descs or []
        }
        return bool(reasons & set(NETWORK_REASONS))

    def dhcp_applies(self, tgs: list[dict[str, Any]]) -> bool:
        nlb = any((lb.get("Type") or "").lower() == "network" for lb in self.state.aws.load_balancers) or any(
            (tg.get("Protocol") or "").upper() in ("TCP", "UDP", "TLS", "TCP_UDP") for tg in tgs
        )
        return (
            nlb
            and external_traffic_local(self.state)
            and any(tg.get("TargetType") == "instance" for tg in tgs)
        )

    def read_network_and_dhcp(self, tgs: list[dict[str, Any]], dhcp: bool) -> None:
        """Two rounds at most: instances ∥ subnets ∥ NACLs ∥ route tables ∥ VPCs ∥ DHCP options,
        then the security groups the instances and the load balancers use."""
        state, aws = self.state, self.state.aws
        net_reads = {"aws.ec2_network", "aws.instances"} & self.wanted
        network = bool(net_reads) and self.network_suspected()
        if net_reads and not network:
            _skip(state, net_reads, NOT_SUSPECTED)
        if "aws.dhcp" in self.wanted and not dhcp:
            _skip(state, {"aws.dhcp"}, DHCP_NOT_APPLICABLE)
        if not network and not dhcp:
            return
        vpc_ids = self.vpc_ids(tgs)
        vpc_filter = [{"Name": "vpc-id", "Values": vpc_ids}]
        self.client("ec2")
        ec2_network = network and "aws.ec2_network" in self.wanted

        wave: list[Callable[[], Any]] = []
        if network and "aws.instances" in self.wanted:
            wave += self._instance_jobs(tgs)
        if ec2_network and vpc_ids:
            for op, key in (
                ("DescribeSubnets", "Subnets"),
                ("DescribeNetworkAcls", "NetworkAcls"),
                ("DescribeRouteTables", "RouteTables"),
            ):
                wave.append(
                    lambda op=op, key=key: self.store(
                        key, self.call("ec2", op, "aws.ec2_network", Filters=vpc_filter)
                    )
                )
            if not aws.vpcs:
                wave.append(
                    lambda: self.store(
                        "Vpcs", self.call("ec2", "DescribeVpcs", "aws.ec2_network", VpcIds=vpc_ids)
                    )
                )
        if dhcp:
            opts = sorted(
                {v.get("DhcpOptionsId") for v in aws.vpcs if v.get("DhcpOptionsId") not in (None, "default")}
            )
            if opts:
                wave.append(
                    lambda: self.store(
                        "DhcpOptions",
                        self.call("ec2", "DescribeDhcpOptions", "aws.dhcp", DhcpOptionsIds=opts),
                    )
                )
        self.parallel(wave)

        if ec2_network:
            groups = sorted(self._group_ids())
            if groups:
                self.parallel(
                    [
                        lambda: self.store(
                            "SecurityGroups",
                            self.call(
                                "ec2",
                                "DescribeSecurityGroups",
                                "aws.ec2_network",
                                Filters=[{"Name": "group-id", "Values": groups}],
                            ),
                        )
                    ]
                )
        if network:
            for r in net_reads:
                self.done(r)
        if dhcp:
            self.done("aws.dhcp")

    def _instance_jobs(self, tgs: list[dict[str, Any]]) -> list[Callable[[], Any]]:
        """DescribeInstances by instance-id filter (a missing ID is no error): instance targets and
        every node; plus, for ip targets on pods whose node is unknown, by ENI private address."""
        state = self.state
        ids: list[str] = []
        ips: list[str] = []
        for tg in tgs:
            for d in state.aws.target_health.get(tg["TargetGroupArn"], []) or []:
                tid = str((d.get("Target") or {}).get("Id") or "")
                if tid.startswith("i-"):
                    ids.append(tid)
                elif tid:
                    pod = state.pod_by_ip(tid)
                    node = state.node(((pod or {}).get("spec") or {}).get("nodeName"))
                    if instance_id_of_node(node) is None:
                        ips.append(tid)
        ids += [i for i in (instance_id_of_node(n) for n in state.nodes) if i]
        ids = list(dict.fromkeys(ids))
        ips = list(dict.fromkeys(ips))
        jobs: list[Callable[[], Any]] = []
        for i in range(0, len(ids), FILTER_VALUES):
            chunk = ids[i : i + FILTER_VALUES]
            jobs.append(lambda c=chunk: self._instances(Filters=[{"Name": "instance-id", "Values": c}]))
        for i in range(0, len(ips), FILTER_VALUES):
            chunk = ips[i : i + FILTER_VALUES]
            jobs.append(
                lambda c=chunk: self._instances(
                    Filters=[{"Name": "network-interface.addresses.private-ip-address", "Values": c}]
                )
            )
        return jobs

    def _instances(self, **params: Any) -> None:
        """DescribeInstances, flattened from Reservations (as AwsState keeps them), without duplicates."""
        resp = self.call("ec2", "DescribeInstances", "aws.instances", **params)
        with self._lock:
            seen = {i.get("InstanceId") for i in self.state.aws.instances}
            for res in resp.get("Reservations") or []:
                for inst in res.get("Instances") or []:
                    if inst.get("InstanceId") not in seen:
                        self.state.aws.instances.append(inst)
                        seen.add(inst.get("InstanceId"))

    def _group_ids(self) -> set[str]:
        aws = self.state.aws
        groups: set[str] = set()
        for lb in aws.load_balancers:
            groups |= set(lb.get("SecurityGroups") or [])
        for inst in aws.instances:
            groups |= {g.get("GroupId") for g in inst.get("SecurityGroups") or [] if g.get("GroupId")}
            for eni in inst.get("NetworkInterfaces") or []:
                groups |= {g.get("GroupId") for g in eni.get("Groups") or [] if g.get("GroupId")}
        return groups


class _NotFound(Exception):
    pass


_ATTR = {
    "LoadBalancers": "load_balancers",
    "Subnets": "subnets",
    "NetworkAcls": "network_acls",
    "RouteTables": "route_tables",
    "Vpcs": "vpcs",
    "SecurityGroups": "security_groups",
    "DhcpOptions": "dhcp_options",
}


def _snake(operation: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


__all__ = [
    "AWS_READS",
    "IAM_READ_ACTIONS",
    "OPERATIONS",
    "collect_aws",
    "collect_live",
    "describe_tg_tags",
    "iam_action",
    "jsonable",
    "lb_name_from_hostname",
    "resolve_region",
]
