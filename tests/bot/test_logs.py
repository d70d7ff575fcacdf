"""Logs are JSON lines and carry the job id of the job that wrote them."""

from __future__ import annotations

import io
import json
import logging

from bot.logs import JsonFormatter, job_context


def test_json_lines_with_job_id_and_extra():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("test.lbhealth.logs")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        with job_context("job-123"):
            log.info("diagnosis started", extra={"target": "prod/shop/web", "attempt": 2})
        log.info("outside <any> job")
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["job_id"] == "job-123" and lines[0]["target"] == "prod/shop/web" and lines[0]["attempt"] == 2
    assert lines[0]["level"] == "info" and lines[0]["msg"] == "diagnosis started" and lines[0]["ts"].endswith("Z")
    assert "job_id" not in lines[1]
    assert "ValueError: boom" in lines[2]["exc"]


def _line(record_args: dict, exc: BaseException | None = None) -> dict:
    from bot.logs import MAX_LINE

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger(record_args.pop("name", "test.lbhealth.redact"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        if exc is not None:
            try:
                raise exc
            except BaseException:
                log.exception(record_args.pop("msg"), **record_args)
        else:
            log.warning(record_args.pop("msg"), **record_args)
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert text.count("\n") == 1 and len(text) <= MAX_LINE + 1, len(text)
    return json.loads(text)


def test_secrets_and_response_urls_are_redacted_everywhere_in_a_line():
    from bot.logs import register_secret

    register_secret("s3cret-from-config")
    line = _line({"msg": "Exception on /webhooks/tencent/t0p-s3cret-path [POST] token xoxb-1-2-abc s3cret-from-config",
                  "extra": {"job": {"response_url": "http://127.0.0.1:9/response/1", "redis": "redis://:pw123@r:6379"}}},
                 exc=RuntimeError("args {'response_url': 'https://hooks.slack.com/commands/T1/2/abc'}"))
    text = json.dumps(line)
    for leaked in ("t0p-s3cret-path", "xoxb-1-2-abc", "s3cret-from-config", "response/1", "pw123", "commands/T1"):
        assert leaked not in text, leaked
    assert "/webhooks/tencent/<redacted>" in line["msg"] and "RuntimeError" in line["exc"]


def test_slack_sdk_webhook_lines_name_no_url():
    line = _line({"name": "slack_sdk.webhook.client", "msg": "A retry handler found: for POST http://127.0.0.1:9/resp-x"})
    assert "resp-x" not in line["msg"] and "<url>" in line["msg"]


def test_attacker_sized_lines_are_bounded():
    from bot.logs import MAX_EXC, MAX_FIELD, MAX_MSG

    line = _line({"msg": "body: " + "A" * 300_000, "extra": {"body": "B" * 300_000, "nested": {"k": ["C" * 1000] * 500}}},
                 exc=ValueError("D" * 300_000))
    assert len(line["msg"]) <= MAX_MSG and len(line["body"]) <= MAX_FIELD and len(line["nested"]) <= MAX_FIELD
    assert len(line["exc"]) <= MAX_EXC and line["exc"].startswith("…")


def test_rq_failure_lines_carry_job_arguments_without_the_response_url():
    """rq logs a failed job with extra={"arguments": job.args, ...}: the response_url in them is redacted."""
    line = _line({"name": "rq.worker", "msg": "Traceback ...", "extra": {
        "func": "bot.worker.run_diagnosis", "arguments": [{"namespace": "shop", "response_url": "http://127.0.0.1:9/r/xyz"}]}})
    assert "r/xyz" not in json.dumps(line) and "shop" in line["arguments"]


def test_refusals_a_stranger_triggers_are_sampled():
    import time

    from bot.logs import Sampled

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("test.lbhealth.sampled")
    log.addHandler(handler)
    log.propagate = False
    sampled = Sampled(log, every=0.2)
    try:
        for _ in range(100):
            sampled.warning(401, "slack request refused", reason="bad signature")
        sampled.warning(413, "slack request refused", reason="too large")
        time.sleep(0.25)
        sampled.warning(401, "slack request refused", reason="bad signature")
    finally:
        log.removeHandler(handler)
    lines = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert [x.get("reason") for x in lines] == ["bad signature", "too large", "bad signature"]
    assert "not_logged" not in lines[0] and lines[2]["not_logged"] == 99
