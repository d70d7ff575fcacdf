"""Incident state transitions in Redis: one incident, one job however many deliveries, in any order."""

from __future__ import annotations

import threading

import pytest
import redis as redis_lib

from bot.incidents import Incidents, Policy, route_channel
from bot.webhooks.alarms import parse_cloudwatch, parse_tencent
from tests.webhooks import payloads as p


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def r(redis_url):
    client = redis_lib.Redis.from_url(redis_url)
    yield client
    client.close()


def alarm(state="ALARM", mid="m", changed="2026-11-21T10:00:00.000+0000"):
    return parse_cloudwatch(p.cloudwatch_alb(state, changed=changed), message_id=mid)


def test_lifecycle(r):
    clock = Clock()
    inc = Incidents(r, Policy(rediagnose_after=900, flap_window=600), clock=clock)
    first = inc.record(alarm(mid="1"))
    assert first.outcome == "opened" and first.need_enqueue and first.job_seq == 1 and first.count == 1
    inc.mark_queued(first.incident_key, first.job_seq)
    assert inc.record(alarm(mid="1")).outcome == "duplicate"  # an SNS retry: same MessageId
    clock.t += 60
    rep = inc.record(alarm(mid="2", changed="2026-11-21T10:01:00.000+0000"))
    assert rep.outcome == "repeat" and not rep.need_enqueue and rep.count == 2 and rep.incident_id == first.incident_id
    clock.t += 900
    again = inc.record(alarm(mid="3", changed="2026-11-21T10:16:00.000+0000"))
    assert again.outcome == "rediagnose" and again.need_enqueue and again.job_seq == 2
    clock.t += 60
    ok = inc.record(alarm("OK", mid="4", changed="2026-11-21T10:17:00.000+0000"))
    assert ok.outcome == "resolved" and ok.resolved_at == clock.t
    assert inc.record(alarm("OK", mid="5", changed="2026-11-21T10:18:00.000+0000")).outcome == "ignored"
    state = inc.get(alarm().incident_key)
    assert state["state"] == "resolved" and state["count"] == 3 and state["resolved_at"] - state["opened_at"] == 1020
    assert r.ttl("lbhealth:incident:" + __import__("hashlib").sha1(alarm().incident_key.encode()).hexdigest()) > 0


def test_flapping_within_the_window_continues_the_incident_later_alarm_opens_a_new_one(r):
    clock = Clock()
    inc = Incidents(r, Policy(rediagnose_after=900, flap_window=600), clock=clock)
    first = inc.record(alarm(mid="1", changed="2026-11-21T10:00:00.000+0000"))
    inc.mark_queued(first.incident_key, first.job_seq)
    clock.t += 30
    inc.record(alarm("OK", mid="2", changed="2026-11-21T10:00:30.000+0000"))
    clock.t += 30
    flap = inc.record(alarm(mid="3", changed="2026-11-21T10:01:00.000+0000"))
    assert flap.outcome == "reopened" and flap.incident_id == first.incident_id and not flap.need_enqueue
    assert inc.get(alarm().incident_key)["flaps"] == 1
    clock.t += 30
    inc.record(alarm("OK", mid="4", changed="2026-11-21T10:01:30.000+0000"))
    clock.t += 601
    new = inc.record(alarm(mid="5", changed="2026-11-21T10:12:00.000+0000"))
    assert new.outcome == "opened" and new.incident_id != first.incident_id and new.job_seq == 1 and new.count == 1


def test_a_job_lost_between_recording_and_enqueueing_is_queued_by_a_later_delivery(r):
    clock = Clock()
    inc = Incidents(r, Policy(requeue_after=10), clock=clock)
    first = inc.record(alarm(mid="1"))
    assert first.need_enqueue  # ... and the process died before enqueueing
    clock.t += 2
    assert not inc.record(alarm(mid="1")).need_enqueue  # too soon: the opener may still be at it
    clock.t += 20
    retry = inc.record(alarm(mid="1"))  # SNS retries the same message 20 s later
    assert retry.outcome == "duplicate" and retry.need_enqueue and retry.dedup_key == first.dedup_key
    inc.mark_queued(retry.incident_key, retry.job_seq)
    clock.t += 20
    assert not inc.record(alarm(mid="2", changed="2026-11-21T10:00:10.000+0000")).need_enqueue


def test_out_of_order_delivery_is_stale(r):
    inc = Incidents(r, Policy(), clock=Clock())
    inc.record(alarm(mid="1", changed="2026-11-21T10:00:00.000+0000"))
    inc.record(alarm("OK", mid="2", changed="2026-11-21T10:05:00.000+0000"))
    late = inc.record(alarm(mid="3", changed="2026-11-21T10:04:00.000+0000"))  # sent before the OK, arrived after
    assert late.outcome == "stale"
    assert inc.get(alarm().incident_key)["state"] == "resolved"


def test_insufficient_data_counts_but_never_opens(r):
    inc = Incidents(r, Policy(), clock=Clock())
    assert inc.record(alarm("INSUFFICIENT_DATA", mid="0")).outcome == "ignored"
    inc.record(alarm(mid="1"))
    assert inc.record(alarm("INSUFFICIENT_DATA", mid="2", changed="2026-11-21T10:02:00.000+0000")).outcome == "repeat"


def test_tencent_session_dedup_and_recovery(r):
    inc = Incidents(r, Policy(), clock=Clock())
    a = parse_tencent(p.tencent_clb(session="s1"))
    assert inc.record(a).outcome == "opened"
    assert inc.record(parse_tencent(p.tencent_clb(session="s1"))).outcome == "duplicate"
    assert inc.record(parse_tencent(p.tencent_clb(session="s2"))).outcome == "repeat"  # continuousAlarm re-push
    assert inc.record(parse_tencent(p.tencent_clb(status=0, session="s3"))).outcome == "resolved"


def test_a_thousand_concurrent_deliveries_open_one_incident(r, redis_url):
    outcomes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(20)

    def worker(n: int) -> None:
        client = redis_lib.Redis.from_url(redis_url)
        inc = Incidents(client, Policy())
        barrier.wait()
        for i in range(50):
            mid = f"m-{(n * 50 + i) % 300}"  # 300 distinct MessageIds, the rest SNS retries
            o = inc.record(alarm(mid=mid))
            with lock:
                outcomes.append(o.outcome)
        client.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 1000
    assert outcomes.count("opened") == 1
    assert outcomes.count("duplicate") == 700 and outcomes.count("repeat") == 299
    assert Incidents(r, Policy()).get(alarm().incident_key)["count"] == 300


def test_claim_root_once(r):
    inc = Incidents(r, Policy(), clock=Clock())
    a = alarm(mid="1")
    assert not inc.claim_root(a.incident_key)  # no incident yet
    inc.record(a)
    assert inc.claim_root(a.incident_key)
    assert not inc.claim_root(a.incident_key)
    inc.set_root(a.incident_key, "C1", "1.0001")
    assert not inc.claim_root(a.incident_key)


def test_a_stale_root_claim_is_taken_over_searching_first(r):
    """A follow-up cut short after claiming (its worker or Redis died; nothing released the claim) may
    have posted the root: whoever takes the claim over after the hold looks for it before posting."""
    clock = Clock()
    inc = Incidents(r, Policy(), clock=clock)
    a = alarm(mid="2")
    inc.record(a)
    assert inc.claim_root(a.incident_key, hold=30)
    assert not inc.get(a.incident_key).get("root_unknown")
    clock.t += 31
    assert inc.claim_root(a.incident_key, hold=30)
    assert inc.get(a.incident_key)["root_unknown"] == "1"


def test_routes_first_match_wins():
    routes = [
        {"channel": "#payments", "namespace": "pay*"},
        {"channel": "#prod-shop", "cluster": "prod", "namespace": "shop"},
        {"channel": "#web-alarms", "alarm": "*-web-*"},
    ]
    assert route_channel(routes, "#alarms", alarm_name="x", cluster="prod", namespace="shop") == "#prod-shop"
    assert route_channel(routes, "#alarms", alarm_name="x", cluster="dev", namespace="shop") == "#alarms"
    assert route_channel(routes, "#alarms", alarm_name="shop-web-unhealthy", cluster="dev", namespace=None) == "#web-alarms"
    assert route_channel(routes, "#alarms", alarm_name="a", namespace="payments") == "#payments"
    assert route_channel([], None, alarm_name="a") is None
