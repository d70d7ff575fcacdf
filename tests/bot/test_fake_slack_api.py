"""The fake Slack Web API answers slack_sdk's WebClient the way Slack does, and records calls."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from tests.fakes.slack_api import FakeSlackAPI


@pytest.fixture
def fake():
    api = FakeSlackAPI()
    yield api
    api.stop()


def test_post_update_thread_and_permalink(fake):
    client = WebClient(token="xoxb-test", base_url=fake.url)
    assert client.auth_test()["user_id"]
    root = client.chat_postMessage(channel="C1", text="root")
    reply = client.chat_postMessage(channel="C1", text="reply", thread_ts=root["ts"],
                                    blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}])
    assert float(reply["ts"]) > float(root["ts"])
    client.chat_update(channel="C1", ts=root["ts"], text="done")
    assert fake.messages[("C1", root["ts"])]["text"] == "done"
    assert [m["text"] for m in fake.thread("C1", root["ts"])] == ["reply"]
    assert fake.calls_to("chat.postMessage")[1].args["blocks"][0]["type"] == "section"
    link = client.chat_getPermalink(channel="C1", message_ts=root["ts"])["permalink"]
    assert "C1" in link
    assert client.chat_postEphemeral(channel="C1", user="U1", text="psst")["ok"]


def test_programmed_errors(fake):
    client = WebClient(token="xoxb-test", base_url=fake.url)
    fake.fail("chat.postMessage", error="not_in_channel", channel="C2")
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C2", text="x")
    assert err.value.response["error"] == "not_in_channel"
    assert client.chat_postMessage(channel="C2", text="x")["ok"]  # once only


def test_rate_limit_is_retried_by_the_sdk_handler(fake):
    client = WebClient(token="xoxb-test", base_url=fake.url,
                       retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)])
    fake.fail("chat.postMessage", status=429, retry_after=0)
    assert client.chat_postMessage(channel="C1", text="x")["ok"]
    assert len(fake.calls_to("chat.postMessage")) == 2


def test_files_upload_v2_round_trip(fake):
    client = WebClient(token="xoxb-test", base_url=fake.url)
    root = client.chat_postMessage(channel="C1", text="root")
    client.files_upload_v2(channel="C1", thread_ts=root["ts"], content="# report\n", filename="r.md", title="Report")
    (f,) = fake.files.values()
    assert f["content"] == b"# report\n" and f["thread_ts"] == root["ts"] and f["channel"] == "C1"
    assert fake.methods()[-3:] == ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]
