"""Exactly-once posting when Slack is slow or down (the fake Slack API stalls, 5xxs, goes away).

Time is compressed so that the tests run in seconds with the same protocol: the Slack client's
timeout is 1 s instead of 15 s, so the stalls of 20 s and 40 s that used to give 2 and 3 root
messages become 1.4 s and 2.7 s (the same ratios to the timeout: one and two client timeouts
inside the stall). A Slack outage of minutes becomes 6 s, with the command's retry budget and
backoff scaled by 1/50 (15 min -> 18 s; 5,10,30,60 s -> 0.5,1,2 s) and the jobs' retry intervals
1,2,4 s; "late" is said after 2 s instead of 20 s.
"""

from __future__ import annotations

import time

import pytest

from bot.queue import get_queue
from tests.bot.conftest import make_settings, run_jobs, wait_until
from tests.bot.test_slack_command import send

STALLS = {"20 s": 20 / 15, "40 s": 40 / 15 * 1.01}  # in units of the client timeout (15 s in production)


@pytest.fixture
def settings(redis_url, slack_api, config_file):
    return make_settings(redis_url, slack_api.url, config_file, lbhealth_slack_timeout=1.0,
                         lbhealth_job_retry_intervals="1,2,4", lbhealth_command_retry_backoff="0.5,1,2",
                         lbhealth_command_retry_budget=18, lbhealth_command_late_after=2)


@pytest.fixture
def web(web, slack_api):
    """The web app, warm: bolt has made its auth.test (at start in `lbhealth serve`) before Slack stalls."""
    assert send(web, slack_api, "help", trigger_id="warm")[0] == 200
    return web


def run_until_done(redis, timeout: float = 30.0) -> None:
    """Burst workers, again and again, until no job is queued or waiting for its retry (rq's backoff)."""
    q = get_queue(redis)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run_jobs(redis)
        if q.count == 0 and q.scheduled_job_registry.count == 0:
            return
        time.sleep(0.3)
    raise AssertionError("jobs still pending")


def markers(slack_api, channel: str = "C111") -> list[str]:
    return [m.get("metadata", {}).get("event_payload", {}).get("key") for m in slack_api.roots(channel)]


def report_texts(slack_api, channel: str, root_ts: str) -> list[str]:
    return [m["text"] for m in slack_api.thread(channel, root_ts)]


@pytest.mark.parametrize("stall", list(STALLS), ids=list(STALLS))
def test_a_slack_stall_while_posting_the_root_gives_one_root(web, slack_api, redis, stall):
    slack_api.stall(STALLS[stall])  # the root post is taken at once, confirmed only after the stall
    assert send(web, slack_api, "shop/web", trigger_id=f"stall.{stall}")[:2] == (200, b"")
    wait_until(lambda: get_queue(redis).count == 1, timeout=20)
    run_jobs(redis)
    (root,) = slack_api.roots("C111")
    assert markers(slack_api) == [f"command:T111:stall.{stall}"]
    texts = report_texts(slack_api, "C111", root["ts"])
    assert texts and len(texts) == len(set(texts))  # the report, once
    assert root.get("edited")  # and the root shows the verdict


@pytest.mark.parametrize("stall", list(STALLS), ids=list(STALLS))
def test_a_slack_stall_while_posting_the_report_gives_one_report(web, slack_api, redis, stall):
    assert send(web, slack_api, "shop/web", trigger_id=f"rstall.{stall}")[:2] == (200, b"")
    wait_until(lambda: get_queue(redis).count == 1, timeout=20)
    (root,) = slack_api.roots("C111")
    slack_api.stall(STALLS[stall])
    run_until_done(redis)  # attempts fail while Slack is stalled; rq retries after 1, 2, 4 s
    texts = report_texts(slack_api, "C111", root["ts"])
    assert texts and len(texts) == len(set(texts)), texts
    assert sum(t.startswith("Root cause") for t in texts) == 1
    assert len(slack_api.roots("C111")) == 1


def test_a_5xx_for_a_post_slack_accepted_is_not_posted_again(web, slack_api, redis):
    slack_api.fail("chat.postMessage", status=503, error="service_unavailable", accept=True)
    assert send(web, slack_api, "shop/web", trigger_id="5xx.a")[:2] == (200, b"")
    wait_until(lambda: get_queue(redis).count == 1, timeout=10)
    assert len(slack_api.roots("C111")) == 1


def test_a_slack_outage_of_minutes_delays_the_command_and_the_report_arrives_once(web, slack_api, redis):
    slack_api.outage(6)  # "5 minutes", compressed (see the module docstring)
    assert send(web, slack_api, "shop/web", trigger_id="outage.a")[:2] == (200, b"")
    # the requester hears that it is late (response_url is not the Web API: it still answers)
    late = slack_api.wait_for("response_url", timeout=10)
    assert "has not started yet" in late[0].args["text"]
    wait_until(lambda: get_queue(redis).count == 1, timeout=30)  # started once Slack was back
    run_jobs(redis)
    (root,) = slack_api.roots("C111")
    texts = report_texts(slack_api, "C111", root["ts"])
    assert texts and len(texts) == len(set(texts))
    assert len(slack_api.calls_to("response_url")) == 1  # told once; no "gave up"


def test_a_slack_outage_during_the_report_retries_for_longer_and_posts_once(web, slack_api, redis):
    assert send(web, slack_api, "shop/web", trigger_id="outage.b")[:2] == (200, b"")
    wait_until(lambda: get_queue(redis).count == 1, timeout=10)
    (root,) = slack_api.roots("C111")
    slack_api.outage(4)
    run_until_done(redis)  # fails during the outage; rq retries after 1, 2, 4 s
    texts = report_texts(slack_api, "C111", root["ts"])
    assert len(texts) == len(set(texts)) and not any("diagnosis failed" in t for t in texts)


def test_a_command_that_cannot_start_within_its_budget_is_dropped_with_a_message(web, slack_api, redis, settings):
    slack_api.outage(60)
    assert send(web, slack_api, "shop/web", trigger_id="outage.c")[:2] == (200, b"")
    slack_api.wait_for("response_url", count=2, timeout=40)  # "late", then "stopped trying"
    texts = [c.args["text"] for c in slack_api.calls_to("response_url")]
    assert "has not started yet" in texts[0] and "stopped trying" in texts[1]
    assert get_queue(redis).count == 0 and slack_api.roots("C111") == []
