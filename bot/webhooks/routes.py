"""HTTP receivers for alarms: CloudWatch through SNS (and EventBridge), Tencent Cloud Monitor.

    register(app, deps)     # bot/http.py calls this on the one Flask app

`deps` is any object (or dict) with: `settings` (bot.settings.Settings), `redis` (a redis client),
`slack` (a slack_sdk WebClient for the root updates of repeats, or None); optional: `cert_source`
(SNS certificates; default HTTPS GET with cache), `confirmer` (SNS subscriptions; default
ConfirmSubscription(TopicArn, Token) through boto3), `policy` (bot.incidents.Policy), `clock`.

EventBridge ("CloudWatch Alarm State Change", via an API destination) posts to /webhooks/eventbridge
or /webhooks/cloudwatch with the header `X-Lbhealth-Secret: $LBHEALTH_EVENTBRIDGE_SECRET`.

Answers, as the senders need them:
- 2xx only after the alarm is recorded in Redis (the Lua transition); finding the Service, the root
  message and the job follow in the workers (bot.incidents.followup), retried from Redis: this web
  tier has no Kubernetes permissions and never reads the cluster;
- 503 when Redis is unavailable, so SNS / Tencent retry;
- 403 forged (bad signature, certificate URL, secret, unknown topic), 400 malformed, 413 > 256 KB;
  logged with the reason, counted, nothing recorded;
- Tencent always gets {"sessionId": ..., "retCode": 0} on success (its legacy success contract).
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import time
from typing import Any

import redis as redis_lib
from flask import Blueprint, Flask, Response, request

from bot.incidents import AlarmDesk, Incidents, Policy
from bot.logs import Sampled, register_secret
from bot.settings import Settings
from bot.webhooks import alarms as parse
from bot.webhooks import metrics
from bot.webhooks.sns import (
    ApiConfirmer,
    CertificateFetcher,
    HttpsCertificateSource,
    SnsRejected,
    SnsVerifier,
    check_envelope,
)

log = logging.getLogger("lbhealth.webhooks")

EVENTBRIDGE_HEADER = "X-Lbhealth-Secret"


def _get(deps: Any, name: str, default: Any = None) -> Any:
    if isinstance(deps, dict):
        return deps.get(name, default)
    return getattr(deps, name, default)


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class WebhookApp:
    def __init__(self, deps: Any) -> None:
        self.deps = deps
        self.settings: Settings = _get(deps, "settings")
        self.redis = _get(deps, "redis")
        self.clock = _get(deps, "clock") or time.time
        self.metrics = metrics
        self._refusal_log = Sampled(log)
        self.certificates = CertificateFetcher(_get(deps, "cert_source") or HttpsCertificateSource())
        self.verifier = SnsVerifier(self.certificates, clock=self.clock)
        self.confirmer = _get(deps, "confirmer") or ApiConfirmer()
        self.max_body = self.settings.lbhealth_max_body_bytes
        policy = _get(deps, "policy") or Policy(
            rediagnose_after=self.settings.lbhealth_alarm_rediagnose_after,
            flap_window=self.settings.lbhealth_alarm_flap_window,
        )
        self.incidents = Incidents(self.redis, policy, clock=self.clock)
        self.desk = AlarmDesk(self.incidents, slack=_get(deps, "slack"), metrics=self)

    # -- metrics hooks -------------------------------------------------------------------------
    def deduplicated(self, source: str) -> None:
        self.metrics.ALARMS_DEDUPLICATED.labels(source).inc()

    def _refuse(self, source: str, status: int, reason: str, extra: dict[str, Any] | None = None) -> Response:
        kind = {400: "malformed", 401: "forged", 403: "forged", 413: "too_large", 503: "unavailable"}.get(status, "refused")
        self.metrics.ALARMS_REFUSED.labels(source, kind).inc()
        self._refusal_log.warning((source, status), "webhook %s refused (%s): %s [from %s]", source, status, reason,
                                  request.remote_addr)
        response = _json(status, {"error": reason, **(extra or {})})
        if status == 503:
            response.headers["Retry-After"] = "20"
        return response

    # -- body ------------------------------------------------------------------------------------
    def _body(self) -> bytes:
        if request.content_length is not None and request.content_length > self.max_body:
            raise Refused(413, f"body of {request.content_length} bytes exceeds {self.max_body}")
        data = request.stream.read(self.max_body + 1)
        if len(data) > self.max_body:
            raise Refused(413, f"body exceeds {self.max_body} bytes")
        return data

    @staticmethod
    def _load(data: bytes) -> Any:
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise Refused(400, f"body is not JSON: {exc}") from exc
        except RecursionError as exc:  # nested deeper than the interpreter's recursion limit
            raise Refused(400, "body is nested too deeply") from exc

    def _file_config(self):
        try:
            return self.settings.file_config()
        except Exception as exc:  # a broken config: no basic auth is known (Tencent's optional extra)
            log.error("config unreadable while receiving an alarm: %s", exc)
            return None

    # -- receiving ---------------------------------------------------------------------------------
    def _record(self, source: str, alarm: parse.Alarm) -> Any:
        try:
            delivery = self.desk.receive(alarm)
        except (redis_lib.exceptions.RedisError, OSError) as exc:
            self.metrics.ALARMS_RECEIVED.labels(source, "unavailable").inc()
            log.error("webhook %s: alarm %s NOT recorded (Redis unavailable: %s); answering 503 so it is retried",
                      source, alarm.dedup_id, exc)
            raise Refused(503, "alarm store unavailable, retry later") from exc
        self.metrics.ALARMS_RECEIVED.labels(source, delivery.outcome).inc()
        log.info("webhook %s: %s %s %s -> %s (incident %s%s)", source, alarm.name, alarm.state, alarm.incident_key,
                 delivery.outcome, delivery.incident_id, ", follow-up due" if delivery.queued else "")
        return delivery

    def cloudwatch(self) -> Response:
        try:
            data = self._load(self._body())
            if parse.is_eventbridge(data) and "Type" not in data:
                return self._eventbridge(data)
            return self._sns(data)
        except Refused as r:
            return self._refuse("cloudwatch", r.status, r.reason)

    def eventbridge(self) -> Response:
        try:
            self._eventbridge_secret()  # before the body is read
            return self._eventbridge(self._load(self._body()))
        except Refused as r:
            return self._refuse("eventbridge", r.status, r.reason)

    def _eventbridge_secret(self) -> None:
        secret = self.settings.lbhealth_eventbridge_secret
        register_secret(secret)
        given = request.headers.get(EVENTBRIDGE_HEADER, "")
        if not secret:
            raise Refused(403, "EventBridge events refused: LBHEALTH_EVENTBRIDGE_SECRET is not set")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            raise Refused(403, f"EventBridge event without the right {EVENTBRIDGE_HEADER} header")

    def _eventbridge(self, data: Any) -> Response:
        self._eventbridge_secret()
        try:
            alarm = parse.parse_eventbridge(data)
        except parse.AlarmRejected as exc:
            raise Refused(400, str(exc)) from exc
        d = self._record("eventbridge", alarm)
        return _json(200, {"outcome": d.outcome, "incident": d.incident_id})

    def _topics(self) -> set[str]:
        """The allowed topic ARNs (environment + config file), re-read at most every 30 s."""
        now = time.monotonic()
        cached = getattr(self, "_topics_cache", None)
        if cached is not None and now - cached[0] < 30:
            return cached[1]
        try:
            topics = set(self.settings.sns_topic_allowlist)
        except Exception:
            topics = {t.strip() for t in self.settings.lbhealth_sns_topics.split(",") if t.strip()}
        self._topics_cache = (now, topics)
        return topics

    def _sns(self, data: Any) -> Response:
        header_type = request.headers.get("x-amz-sns-message-type")
        allowed = self._topics()
        try:
            data = check_envelope(data)  # types and sizes first: a list as TopicArn is a 400, not a 500
        except SnsRejected as exc:
            raise Refused(exc.status, exc.reason) from exc
        claimed = data.get("TopicArn")
        if claimed not in allowed:
            # before any certificate is fetched: an unknown topic costs us nothing (TopicArn is signed,
            # so a message that passes this and verification below really comes from an allowed topic)
            why = "LBHEALTH_SNS_TOPICS is empty" if not allowed else "not in LBHEALTH_SNS_TOPICS / sns_topics"
            raise Refused(403, f"topic {claimed!r} is not allowed ({why})")
        try:
            msg = self.verifier.verify(data, header_type=header_type)
        except SnsRejected as exc:
            raise Refused(exc.status, exc.reason) from exc
        topic = msg.get("TopicArn")
        header_topic = request.headers.get("x-amz-sns-topic-arn")
        if header_topic and header_topic != topic:
            raise Refused(400, "x-amz-sns-topic-arn disagrees with TopicArn")
        if topic not in allowed:
            raise Refused(403, f"topic {topic} is not allowed")
        mtype = msg["Type"]
        if mtype == "SubscriptionConfirmation":
            try:
                self.confirmer.confirm(topic, msg["Token"], msg["SubscribeURL"])
            except SnsRejected as exc:
                raise Refused(exc.status, exc.reason) from exc
            except Exception as exc:
                log.error("SNS subscription to %s could not be confirmed: %s", topic, exc)
                self.metrics.ALARMS_RECEIVED.labels("cloudwatch", "confirm_failed").inc()
                return _json(503, {"error": "confirmation failed, retry later"})
            log.info("SNS subscription to %s confirmed", topic)
            self.metrics.ALARMS_RECEIVED.labels("cloudwatch", "subscription_confirmed").inc()
            return _json(200, {"confirmed": topic})
        if mtype == "UnsubscribeConfirmation":
            log.warning("SNS: this endpoint was unsubscribed from %s (message %s)", topic, msg.get("MessageId"))
            self.metrics.ALARMS_RECEIVED.labels("cloudwatch", "unsubscribed").inc()
            return _json(200, {"unsubscribed": topic})
        try:
            alarm = parse.parse_cloudwatch(msg.get("Message") or "", message_id=msg.get("MessageId") or "", topic_arn=topic)
        except parse.AlarmRejected as exc:
            raise Refused(400, str(exc)) from exc
        d = self._record("cloudwatch", alarm)
        return _json(200, {"outcome": d.outcome, "incident": d.incident_id})

    def tencent(self, secret: str) -> Response:
        session = None
        try:
            try:
                expected = self.settings.tencent_secret
            except ValueError:  # the config file broke since start: refuse rather than guess
                expected = None
            if not expected:
                raise Refused(403, "Tencent callbacks refused: LBHEALTH_TENCENT_WEBHOOK_SECRET is not set")
            register_secret(expected)  # the path holds it: never log it (bot.logs also redacts the path)
            if not hmac.compare_digest(secret.encode(), expected.encode()):
                raise Refused(403, "wrong secret in the callback URL")
            self._basic_auth()
            data = self._load(self._body())
            session = parse.tencent_session_id(data)
            try:
                alarm = parse.parse_tencent(data)
            except parse.AlarmRejected as exc:
                raise Refused(400, str(exc)) from exc
            self._record("tencent", alarm)
            return _json(200, {"sessionId": session, "retCode": 0})
        except Refused as r:
            extra = {"sessionId": session, "retCode": 1} if session else {"retCode": 1}
            return self._refuse("tencent", r.status, r.reason, extra)

    def _basic_auth(self) -> None:
        cfg = self._file_config()
        want = cfg.tencent_basic_auth if cfg else None
        if not want:
            return
        header = request.headers.get("Authorization", "")
        given = ""
        if header.startswith("Basic "):
            try:
                given = base64.b64decode(header[6:], validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                given = ""
        if not hmac.compare_digest(given.encode(), want.encode()):
            raise Refused(401, "basic auth missing or wrong")


def register(app: Flask, deps: Any) -> WebhookApp:
    """Add /webhooks/cloudwatch, /webhooks/eventbridge and /webhooks/tencent/<secret> to `app`."""
    hooks = WebhookApp(deps)
    bp = Blueprint("webhooks", __name__)
    bp.add_url_rule("/webhooks/cloudwatch", "cloudwatch", hooks.cloudwatch, methods=["POST"])
    bp.add_url_rule("/webhooks/eventbridge", "eventbridge", hooks.eventbridge, methods=["POST"])
    bp.add_url_rule("/webhooks/tencent/<path:secret>", "tencent", hooks.tencent, methods=["POST"])
    app.register_blueprint(bp)
    app.extensions["lbhealth_webhooks"] = hooks
    return hooks
