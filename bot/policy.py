"""Who may do what, from `LBHEALTH_CONFIG`: access to diagnoses, and approval of fixes.

Access (issue 9): a command or an alarm follow-up is allowed when
- its Slack workspace is in `access.team_ids` (empty: any workspace the app is installed in);
- the cluster's `channels` contain the channel (unset: any channel) and, when the cluster lists
  `user_groups`, the person is in one of them (commands only: alarms have no person);
- it is within `access.rate_limits` (new diagnoses per user, new alarm incidents per sender).
A cluster that does not exist and one that may not be diagnosed here get the same answer, so the
reply never tells a channel which other clusters exist.

Approvals (issue 7): a fix may be requested when it is enabled for the cluster/namespace
(`enabled_fixes`, or the first matching `approval.scopes` entry), the kill switch is off, and, for
cloud writes, `cloud_writes: true`. It may be approved by a listed approver (a user ID, or a
member of a listed user group) who is not the requester (two-person rule, on by default).

Everything here is a pure function of the config and its arguments, except the three small
adapters at the end: RateLimiter (Redis), UserGroups (Slack, cached) and the kill switch (Redis).
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from redis import Redis
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.render import mrkdwn
from bot.settings import SLACK_GROUP, ClusterConfig, FileConfig

log = logging.getLogger("lbhealth.policy")

KILL_SWITCH_KEY = "lbhealth:fixes:kill-switch"  # SET to anything: every Apply off at once, all processes


@dataclass(frozen=True)
class Decision:
    """Allowed, or not and why (the reason is shown to the person refused: what, why, what to do)."""

    allowed: bool
    reason: str = ""
    retry_after: int = 0  # seconds, for rate limits

    def __bool__(self) -> bool:
        return self.allowed


ALLOW = Decision(True)


class NotAdmitted(Exception):
    """A new alarm incident may not open a thread (access policy, or its sender's bound); `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def not_here(name: str | None) -> str:
    """One answer for an unknown cluster and a cluster not allowed here: no list of the others."""
    return mrkdwn("`{}` is not a cluster that can be diagnosed from this channel. "
                  "Type `/lbhealth help` to see the clusters you can diagnose here.", name)


# ---- access --------------------------------------------------------------------------------------


class Access:
    """Access rules of one config (cheap to build: it only holds the config)."""

    def __init__(self, config: FileConfig) -> None:
        self.config = config

    def team(self, team_id: str | None) -> Decision:
        allowed = self.config.access.team_ids
        if not allowed or (team_id or "") in allowed:
            return ALLOW
        return Decision(False, "This lbhealth does not serve this Slack workspace (its `access.team_ids` "
                               "does not list it). Ask whoever runs lbhealth to add it.")

    def channel(self, cluster: ClusterConfig | None, channel_id: str | None, name: str | None = None) -> Decision:
        if cluster is None or cluster.channels is None or (channel_id or "") in cluster.channels:
            return ALLOW
        return Decision(False, not_here(name or cluster.name))

    def command(self, *, team_id: str | None, channel_id: str | None, cluster: ClusterConfig | None) -> Decision:
        """What can be decided inside the acknowledgement (no I/O): workspace and channel."""
        return self.team(team_id) and self.channel(cluster, channel_id)

    def clusters_here(self, channel_id: str | None) -> list[str]:
        """The clusters that may be diagnosed from this channel (for the usage reply)."""
        return [c.name for c in self.config.clusters if self.channel(c, channel_id)]

    def member(self, cluster: ClusterConfig | None, user_id: str | None, groups: UserGroups) -> Decision:
        """The cluster's user-group restriction (a Slack call, cached): off the acknowledgement path."""
        if cluster is None or not cluster.user_groups:
            return ALLOW
        try:
            if groups.contains(cluster.user_groups, user_id):
                return ALLOW
        except MembershipUnknown as exc:
            return Decision(False, f"I could not check who may diagnose `{cluster.name}` ({exc}). Try again in a minute.")
        return Decision(False, not_here(cluster.name))

    def alarm_channel(self, cluster: str | None, channel: str | None) -> Decision:
        """An alarm follow-up for `cluster` may be posted in `channel` (same channel rule as commands)."""
        config = next((c for c in self.config.clusters if c.name == cluster), None)
        if config is None or config.channels is None or (channel or "") in config.channels:
            return ALLOW
        return Decision(False, f"channel {channel} is not one of cluster {cluster}'s channels; "
                               "fix alarm_routes / alarm_channel or the cluster's channels")


# ---- approvals -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """The approvers and enabled fixes that apply to one cluster/namespace."""

    approvers: tuple[str, ...]
    enabled_fixes: tuple[str, ...]


class Approvals:
    """Approval rules of one config. `killed`: the kill switch as read now (config or Redis)."""

    def __init__(self, config: FileConfig, *, killed: bool = False) -> None:
        self.config = config
        self.killed = killed or config.approval.kill_switch

    @property
    def expiry_seconds(self) -> int:
        return int(self.config.approval.expiry_minutes * 60)

    @property
    def cloud_writes(self) -> bool:
        return self.config.cloud_writes

    def scope(self, cluster: str | None, namespace: str | None) -> Scope:
        approvers, fixes = self.config.approvers, self.config.enabled_fixes
        for s in self.config.approval.scopes:
            if _glob(s.cluster, cluster) and _glob(s.namespace, namespace):
                approvers = s.approvers if s.approvers is not None else approvers
                fixes = s.enabled_fixes if s.enabled_fixes is not None else fixes
                break
        return Scope(tuple(approvers), tuple(fixes))

    def fix_enabled(self, fix_id: str, cluster: str | None, namespace: str | None) -> bool:
        return fix_id in self.scope(cluster, namespace).enabled_fixes

    def can_apply(self, fix_id: str, cluster: str | None, namespace: str | None, *, cloud: bool) -> Decision:
        """Whether Apply may be offered / requested / executed at all (no person involved)."""
        where = _where(cluster, namespace)
        if self.killed:
            return Decision(False, "Applying fixes is switched off (kill switch). Preview still works; "
                                   "apply the change by hand with the command shown.")
        if not self.fix_enabled(fix_id, cluster, namespace):
            return Decision(False, f"{fix_id} is not enabled for {where} (`enabled_fixes` in the config). "
                                   "Apply it by hand with the command shown, or ask to have it enabled.")
        if cloud and not self.cloud_writes:
            return Decision(False, f"{fix_id} changes the cloud account and cloud writes are off "
                                   "(`cloud_writes: false`). Run the command shown instead.")
        return ALLOW

    def can_approve(self, *, user: str | None, requester: str | None, fix_id: str, cluster: str | None,
                    namespace: str | None, cloud: bool, groups: UserGroups) -> Decision:
        """The click of `user` on Approve (or Reject) of `requester`'s request."""
        allowed = self.can_apply(fix_id, cluster, namespace, cloud=cloud)
        if not allowed:
            return allowed
        if self.config.approval.two_person and user and user == requester:
            return Decision(False, "You asked for this fix, so someone else must approve it (two-person rule).")
        approvers = self.scope(cluster, namespace).approvers
        if not approvers:
            return Decision(False, f"Nobody is named to approve fixes for {_where(cluster, namespace)} "
                                   "(`approvers` in the config).")
        try:
            if groups.contains(approvers, user):
                return ALLOW
        except MembershipUnknown as exc:
            return Decision(False, f"I could not check the approvers' user groups ({exc}). Try again in a minute.")
        return Decision(False, f"You are not an approver for {_where(cluster, namespace)}. "
                               f"Approvers: {mentions(approvers)}.")


def mentions(ids: Iterable[str]) -> str:
    """Slack mentions of user and user-group IDs (IDs validated by the config, so safe to embed)."""
    return ", ".join(f"<!subteam^{i}>" if SLACK_GROUP.fullmatch(i) else f"<@{i}>" for i in ids)


def _glob(pattern: str | None, value: str | None) -> bool:
    return pattern is None or fnmatch.fnmatchcase(value or "", pattern)


def _where(cluster: str | None, namespace: str | None) -> str:
    return f"namespace {namespace or '-'}" + (f" on {cluster}" if cluster else "")


# ---- adapters: Redis and Slack -------------------------------------------------------------------

# One round trip, atomic: the first hit of a window starts its TTL.
_HIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('TTL', KEYS[1])}
"""


class RateLimiter:
    """Fixed-window counters in Redis (INCR + EXPIRE in one Lua call), shared by every process."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._script = redis.register_script(_HIT)

    def hit(self, kind: str, who: str, limit: int, window: int) -> Decision:
        count, ttl = self._script(keys=[f"lbhealth:rate:{kind}:{who}"], args=[window])
        if int(count) <= limit:
            return ALLOW
        return Decision(False, "", retry_after=max(1, int(ttl)))

    def command(self, config: FileConfig, user_id: str | None) -> Decision:
        rl = config.access.rate_limits
        d = self.hit("user", user_id or "-", rl.commands_per_user, rl.window_seconds)
        if d:
            return d
        return Decision(False, f"You have started {rl.commands_per_user} diagnoses in the last "
                               f"{rl.window_seconds} s, the most lbhealth allows one person "
                               f"(`access.rate_limits.commands_per_user`). Try again in {d.retry_after} s; "
                               "diagnoses already running still post their reports.", d.retry_after)

    def sender(self, config: FileConfig, sender: str) -> Decision:
        rl = config.access.rate_limits
        d = self.hit("sender", sender, rl.incidents_per_sender, rl.window_seconds)
        if d:
            return d
        return Decision(False, f"alarm sender {sender} opened more than {rl.incidents_per_sender} incidents in "
                               f"{rl.window_seconds} s (access.rate_limits.incidents_per_sender)", d.retry_after)


class MembershipUnknown(Exception):
    """Slack could not say who is in a user group (the reason is Slack's error)."""


class UserGroups:
    """Members of Slack user groups (`usergroups.users.list`), cached for `ttl` s in this process.

    A user ID in `ids` matches itself; a user-group ID matches its members. A failed lookup raises
    MembershipUnknown (callers refuse: unknown membership never grants anything).
    """

    def __init__(self, client: WebClient, ttl: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.ttl = ttl
        self.clock = clock
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def members(self, group_id: str) -> frozenset[str]:
        now = self.clock()
        with self._lock:
            hit = self._cache.get(group_id)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        try:
            resp = self.client.usergroups_users_list(usergroup=group_id)
        except SlackApiError as exc:
            raise MembershipUnknown(f"usergroups.users.list for {group_id}: {exc.response.get('error')}") from exc
        except Exception as exc:  # connection errors: Slack unreachable
            raise MembershipUnknown(f"Slack unreachable: {type(exc).__name__}") from exc
        users = frozenset(str(u) for u in (resp.get("users") or []))
        with self._lock:
            self._cache[group_id] = (now, users)
        return users

    def contains(self, ids: Iterable[str], user: str | None) -> bool:
        if not user:
            return False
        ids = list(ids)
        if user in ids:
            return True
        return any(user in self.members(g) for g in ids if SLACK_GROUP.fullmatch(g))


def kill_switch(redis: Redis) -> bool:
    """The live kill switch (`redis-cli SET lbhealth:fixes:kill-switch 1`); unreadable counts as on."""
    try:
        return bool(redis.exists(KILL_SWITCH_KEY))
    except Exception:
        log.warning("kill switch unreadable (Redis); treating it as on")
        return True
