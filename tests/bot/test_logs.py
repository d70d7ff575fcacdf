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
