"""Fix records in Redis: what a button stands for, and the single-use claims that make a click count once.

Nothing a click carries is trusted. A button's value is an opaque id (128 random bits) of a record:

    lbhealth:fix:offer:<id>     a finding's fix plan as the diagnosis saw it (Preview, Apply fix)
    lbhealth:fix:req:<id>       an approval request: the previewed change (engine Preview, with its
                                digest), who asked, until when, its state, and after the write its
                                Outcome (Approve, Reject, Roll back)

Approve/Reject buttons carry `<request id>:<digest prefix>`, so an approval binds to the digest of
the change that message showed. A request moves pending -> approved | rejected | expired |
superseded in one Lua call (CLAIM): however many people click Approve, however often, exactly
one click wins and exactly one apply job is queued; every other click is told why not.
Records outlive their expiry by a day so that a late click hears "expired", not "unknown".
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from redis import Redis

PREFIX = "lbhealth:fix:"
OFFER_TTL = 24 * 3600  # a fix offered in a report; a stale one is caught by the preview (resourceVersion)
KEEP_AFTER_EXPIRY = 24 * 3600
ID = re.compile(r"[0-9a-f]{32}")
APPROVAL_VALUE = re.compile(r"(?P<id>[0-9a-f]{32}):(?P<digest>[0-9a-f]{16})")

# KEYS[1] request; ARGV: digest prefix, now, who, new state (approved | rejected).
# Returns "ok" or why not: unknown | expired | superseded | <the state it is already in>.
_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'unknown' end
local st = redis.call('HGET', KEYS[1], 'state')
if st ~= 'pending' then return st end
if tonumber(ARGV[2]) > tonumber(redis.call('HGET', KEYS[1], 'expires_at')) then
  redis.call('HSET', KEYS[1], 'state', 'expired')
  return 'expired'
end
local digest = redis.call('HGET', KEYS[1], 'digest')
if string.sub(digest, 1, string.len(ARGV[1])) ~= ARGV[1] then return 'superseded' end
redis.call('HSET', KEYS[1], 'state', ARGV[4], 'decided_by', ARGV[3], 'decided_at', ARGV[2])
return 'ok'
"""

# KEYS[1] request; ARGV: from-state, to-state. Compare-and-set of the state (job steps, supersede).
_MOVE = """
if redis.call('HGET', KEYS[1], 'state') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[2])
return 1
"""


def new_id() -> str:
    return secrets.token_hex(16)


def _s(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


@dataclass
class Offer:
    """A finding's fix as the diagnosis saw it (the plan), and where its report is."""

    id: str
    plan: dict[str, Any]  # FixPlan fields: id, title, patch, command, target (ObjectRef), patch_type, tradeoff
    check_id: str
    target: dict[str, Any]  # namespace, service, cluster
    channel: str
    thread_ts: str
    job_id: str
    verdict: dict[str, Any]  # the root message's verdict, to re-render it with the fix's state
    duration: str = ""
    requested_by: str | None = None

    @property
    def fix_id(self) -> str:
        return str(self.plan.get("id"))


class Records:
    """The fix records of one Redis."""

    def __init__(self, redis: Redis, clock=time.time) -> None:
        self.redis = redis
        self.clock = clock
        self._claim = redis.register_script(_CLAIM)
        self._move = redis.register_script(_MOVE)

    # -- offers --------------------------------------------------------------------------------
    def offer(self, job_id: str, check_id: str, **fields: Any) -> Offer:
        """The offer of a finding's fix for one diagnosis job: created once, the same id on a re-run."""
        slot = f"{PREFIX}offer-of:{job_id}:{check_id}"
        oid = new_id()
        if not self.redis.set(slot, oid, nx=True, ex=OFFER_TTL):
            oid = _s(self.redis.get(slot)) or oid
        offer = Offer(id=oid, job_id=job_id, check_id=check_id, **fields)
        self.redis.set(f"{PREFIX}offer:{oid}", json.dumps(offer.__dict__), ex=OFFER_TTL, nx=True)
        return offer

    def get_offer(self, oid: str) -> Offer | None:
        if not ID.fullmatch(oid or ""):
            return None
        raw = self.redis.get(f"{PREFIX}offer:{oid}")
        return Offer(**json.loads(raw)) if raw else None

    # -- requests ------------------------------------------------------------------------------
    def request_id_for(self, job_key: str) -> str:
        """The id of the request one job opens: the same id when the job runs again (after a failure)."""
        slot = f"{PREFIX}req-of:{job_key}"
        rid = new_id()
        if not self.redis.set(slot, rid, nx=True, ex=OFFER_TTL):
            rid = _s(self.redis.get(slot)) or rid
        return rid

    def create_request(self, rid: str, *, kind: str, offer: Offer, requester: str, preview: dict[str, Any],
                       digest: str, expiry: int, parent: str = "") -> str:
        """A pending approval request; the offer's previous pending request is superseded."""
        now = self.clock()
        key = f"{PREFIX}req:{rid}"
        with self.redis.pipeline() as p:
            p.hset(key, mapping={
                "kind": kind, "state": "pending", "offer": offer.id, "requester": requester, "digest": digest,
                "preview": json.dumps(preview), "created_at": repr(now), "expires_at": repr(now + expiry),
                "parent": parent,
            })
            p.expire(key, expiry + KEEP_AFTER_EXPIRY)
            p.getset(f"{PREFIX}current:{offer.id}:{kind}", rid)
            p.expire(f"{PREFIX}current:{offer.id}:{kind}", OFFER_TTL)
            previous = p.execute()[2]
        previous = _s(previous)
        if previous and previous != rid:
            self._move(keys=[f"{PREFIX}req:{previous}"], args=["pending", "superseded"])
            self.redis.hset(key, "supersedes", previous)
        return rid

    def request(self, rid: str) -> dict[str, Any] | None:
        if not ID.fullmatch(rid or ""):
            return None
        raw = self.redis.hgetall(f"{PREFIX}req:{rid}")
        if not raw:
            return None
        out = {_s(k): _s(v) for k, v in raw.items()}
        out["id"] = rid
        out["preview"] = json.loads(out.get("preview") or "{}")
        out["outcome"] = json.loads(out["outcome"]) if out.get("outcome") else None
        out["expires_at"] = float(out.get("expires_at") or 0)
        return out

    def update(self, rid: str, **fields: Any) -> None:
        values = {k: (json.dumps(v) if isinstance(v, (dict, list)) else ("" if v is None else str(v)))
                  for k, v in fields.items()}
        self.redis.hset(f"{PREFIX}req:{rid}", mapping=values)

    def claim(self, rid: str, digest_prefix: str, who: str, state: str) -> str:
        """pending -> `state` (approved | rejected) for exactly one caller: "ok", or why not."""
        return _s(self._claim(keys=[f"{PREFIX}req:{rid}"], args=[digest_prefix, repr(self.clock()), who, state]))

    def move(self, rid: str, from_state: str, to_state: str) -> bool:
        return bool(self._move(keys=[f"{PREFIX}req:{rid}"], args=[from_state, to_state]))

    def current(self, offer_id: str, kind: str) -> str | None:
        return _s(self.redis.get(f"{PREFIX}current:{offer_id}:{kind}"))


def parse_approval_value(value: str) -> tuple[str, str] | None:
    """`<request id>:<digest prefix>` from an Approve/Reject button, or None when it is not that."""
    m = APPROVAL_VALUE.fullmatch(value or "")
    return (m["id"], m["digest"]) if m else None
