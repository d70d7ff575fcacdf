"""Amazon SNS HTTPS-subscription messages: signature verification and subscription confirmation.

Follows AWS's own validators (aws-php-sns-message-validator, aws-js-sns-message-validator) and
the SNS developer guide:

- the string to sign is ``key\\nvalue\\n`` for each signed key present, in byte order;
  Notification signs Message, MessageId, Subject (if present), Timestamp, TopicArn, Type;
  (Un)SubscriptionConfirmation signs Message, MessageId, SubscribeURL, Timestamp, Token, TopicArn, Type;
- SignatureVersion 1 is SHA1withRSA, 2 is SHA256withRSA; anything else is refused;
- the certificate URL must be https, on ``sns.<region>.amazonaws.com(.cn)`` (not any amazonaws host:
  S3 buckets live there too), with the path SNS uses (``/SimpleNotificationService-<hex>.pem``);
- the certificate is fetched through a `CertificateSource` (production: HTTPS GET with a timeout,
  a size cap and no redirects, cached by URL; tests: a local source), never from the message;
- a message older than `max_age` (SNS gives up on a message after one hour) is refused;
- a subscription is confirmed only for an allowed topic and only after verification, either by
  ``ConfirmSubscription(TopicArn, Token)`` or by GETting the SubscribeURL after checking it points
  at the SNS endpoint of the topic's own region (never an arbitrary URL: CVE-2019-6715-style SSRF).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

log = logging.getLogger(__name__)

CERT_HOST = re.compile(r"^sns\.[a-zA-Z0-9\-]{3,}\.amazonaws\.com(\.cn)?$")
CERT_PATH = re.compile(r"^/SimpleNotificationService(-[A-Za-z0-9]+)?\.pem$")
TOPIC_ARN = re.compile(r"^arn:aws(?:-cn|-us-gov)?:sns:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):(?P<name>[A-Za-z0-9_.-]{1,256})$")

NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
TYPES = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")
MAX_CERT_BYTES = 16 * 1024


class SnsRejected(Exception):
    """The message is refused. `status` is what the endpoint answers (403 forged, 400 malformed)."""

    def __init__(self, reason: str, status: int = 403) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class CertificateSource(Protocol):
    def get(self, url: str) -> bytes:
        """The PEM (or DER) certificate at an already validated URL; raise on any failure."""


def _normalise(message: dict[str, Any]) -> dict[str, Any]:
    """Lambda-style casing (SigningCertUrl, SubscribeUrl, UnsubscribeUrl) -> the HTTP envelope's."""
    out = dict(message)
    for odd, even in (("SigningCertUrl", "SigningCertURL"), ("SubscribeUrl", "SubscribeURL"), ("UnsubscribeUrl", "UnsubscribeURL")):
        if odd in out and even not in out:
            out[even] = out.pop(odd)
    return out


def string_to_sign(message: dict[str, Any]) -> bytes:
    mtype = message.get("Type")
    keys = NOTIFICATION_KEYS if mtype == "Notification" else CONFIRMATION_KEYS
    parts: list[str] = []
    for key in sorted(keys, key=lambda k: k.encode()):
        if key not in message or message[key] is None:
            if key == "Subject":
                continue
            raise SnsRejected(f"signed field {key} is missing", 400)
        value = message[key]
        if not isinstance(value, str):
            raise SnsRejected(f"signed field {key} is not a string", 400)
        parts.append(f"{key}\n{value}\n")
    return "".join(parts).encode("utf-8")


def validate_cert_url(url: Any) -> str:
    if not isinstance(url, str) or not url:
        raise SnsRejected("SigningCertURL is missing")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise SnsRejected(f"SigningCertURL is not a URL: {exc}") from exc
    if parts.scheme != "https":
        raise SnsRejected(f"SigningCertURL scheme is {parts.scheme or 'missing'}, not https")
    host = parts.hostname or ""
    if parts.username or parts.password or port not in (None, 443) or not CERT_HOST.match(host) or parts.netloc.lower() not in (host, f"{host}:443"):
        raise SnsRejected(f"SigningCertURL host {parts.netloc!r} is not sns.<region>.amazonaws.com")
    if not parts.path.endswith(".pem"):
        raise SnsRejected("SigningCertURL does not end in .pem")
    if not CERT_PATH.match(parts.path) or parts.query or parts.fragment:
        raise SnsRejected(f"SigningCertURL path {parts.path!r} is not an SNS signing certificate")
    return url


def topic_region(topic_arn: str) -> str | None:
    m = TOPIC_ARN.match(topic_arn or "")
    return m.group("region") if m else None


def validate_subscribe_url(url: Any, topic_arn: str, token: str) -> str:
    """The SubscribeURL, if (and only if) it is the ConfirmSubscription call for this topic and token
    on the SNS endpoint of the topic's region; anything else raises (never fetch it)."""
    if not isinstance(url, str):
        raise SnsRejected("SubscribeURL is missing", 400)
    parts = urlsplit(url)
    region = topic_region(topic_arn)
    host = parts.hostname or ""
    allowed = {f"sns.{region}.amazonaws.com", f"sns.{region}.amazonaws.com.cn"} if region else set()
    if parts.scheme != "https" or host not in allowed or parts.netloc.lower() != host or parts.username:
        raise SnsRejected(f"SubscribeURL host {parts.netloc!r} is not the SNS endpoint of {region}")
    query = parse_qs(parts.query, keep_blank_values=True)
    if query.get("Action") != ["ConfirmSubscription"] or query.get("TopicArn") != [topic_arn] or query.get("Token") != [token]:
        raise SnsRejected("SubscribeURL is not ConfirmSubscription for this topic and token")
    return url


def parse_timestamp(value: Any) -> float:
    if not isinstance(value, str):
        raise SnsRejected("Timestamp is missing", 400)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise SnsRejected(f"Timestamp {value!r} is not ISO 8601", 400) from exc


class HttpsCertificateSource:
    """Production source: HTTPS GET (TLS verified, no redirects, timeout, size cap), cached by URL.

    Only called with URLs `validate_cert_url` accepted, and it checks again before fetching.
    """

    def __init__(self, ttl: float = 24 * 3600, timeout: float = 3.0, session: Any = None) -> None:
        self.ttl = ttl
        self.timeout = timeout
        self._session = session
        self._cache: dict[str, tuple[float, bytes]] = {}
        self._lock = threading.Lock()

    def get(self, url: str) -> bytes:
        validate_cert_url(url)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(url)
            if hit and hit[0] > now:
                return hit[1]
        import requests

        session = self._session or requests
        resp = session.get(url, timeout=self.timeout, allow_redirects=False, stream=True)
        try:
            if resp.status_code != 200:
                raise SnsRejected(f"certificate fetch answered HTTP {resp.status_code}")
            body = b""
            for chunk in resp.iter_content(4096):
                body += chunk
                if len(body) > MAX_CERT_BYTES:
                    raise SnsRejected("certificate larger than 16 KB")
        finally:
            resp.close()
        with self._lock:
            self._cache[url] = (now + self.ttl, body)
        return body


class SnsVerifier:
    def __init__(
        self,
        cert_source: CertificateSource,
        *,
        max_age: float = 3600.0,
        max_future: float = 300.0,
        clock: Callable[[], float] = time.time,
        require_version: str | None = None,
    ) -> None:
        self.cert_source = cert_source
        self.max_age = max_age
        self.max_future = max_future
        self.clock = clock
        self.require_version = require_version  # e.g. "2" to refuse SHA1 signatures
        self._keys: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _public_key(self, url: str) -> rsa.RSAPublicKey:
        with self._lock:
            key = self._keys.get(url)
        if key is not None:
            return key
        try:
            raw = self.cert_source.get(url)
        except SnsRejected:
            raise
        except Exception as exc:  # network, TLS, ...: refuse, SNS will retry later
            raise SnsRejected(f"could not fetch the signing certificate: {type(exc).__name__}: {exc}") from exc
        try:
            cert = x509.load_pem_x509_certificate(raw) if b"-----BEGIN" in raw else x509.load_der_x509_certificate(raw)
        except ValueError as exc:
            raise SnsRejected(f"the signing certificate does not parse: {exc}") from exc
        now = datetime.fromtimestamp(self.clock(), tz=UTC)
        if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
            raise SnsRejected("the signing certificate is expired or not yet valid")
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise SnsRejected("the signing certificate does not hold an RSA key")
        with self._lock:
            if len(self._keys) > 64:
                self._keys.clear()
            self._keys[url] = key
        return key

    def verify(self, message: dict[str, Any], header_type: str | None = None) -> dict[str, Any]:
        """The normalised message if it is authentic; raises SnsRejected otherwise."""
        if not isinstance(message, dict):
            raise SnsRejected("body is not a JSON object", 400)
        message = _normalise(message)
        mtype = message.get("Type")
        if mtype not in TYPES:
            raise SnsRejected(f"unknown message Type {mtype!r}", 400)
        if header_type is not None and header_type != mtype:
            raise SnsRejected(f"x-amz-sns-message-type {header_type!r} disagrees with Type {mtype!r}", 400)
        version = message.get("SignatureVersion")
        if version not in ("1", "2"):
            raise SnsRejected(f"SignatureVersion {version!r} is not 1 or 2")
        if self.require_version and version != self.require_version:
            raise SnsRejected(f"SignatureVersion {version} refused (only {self.require_version} accepted)")
        url = validate_cert_url(message.get("SigningCertURL"))
        try:
            signature = base64.b64decode(message.get("Signature") or "", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SnsRejected("Signature is not base64") from exc
        if not signature:
            raise SnsRejected("Signature is missing")
        data = string_to_sign(message)
        ts = parse_timestamp(message.get("Timestamp"))
        now = self.clock()
        if now - ts > self.max_age:
            raise SnsRejected(f"message is stale ({int(now - ts)} s old)")
        if ts - now > self.max_future:
            raise SnsRejected(f"message timestamp is {int(ts - now)} s in the future")
        key = self._public_key(url)
        digest = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303 (SNS SignatureVersion 1 is SHA1withRSA)
        try:
            key.verify(signature, data, padding.PKCS1v15(), digest)
        except InvalidSignature as exc:
            raise SnsRejected("signature does not verify") from exc
        return message


class SubscriptionConfirmer(Protocol):
    def confirm(self, topic_arn: str, token: str, subscribe_url: str) -> None: ...


class ApiConfirmer:
    """ConfirmSubscription(TopicArn, Token) through boto3 (honours AWS_ENDPOINT_URL): no URL followed.

    Without AWS credentials, `fallback` (a UrlConfirmer: GET of the SubscribeURL, only once it is
    proven to be the ConfirmSubscription call on the topic's own SNS endpoint) is used instead.
    """

    def __init__(self, client_factory: Callable[[str], Any] | None = None, fallback: Any = None) -> None:
        self.client_factory = client_factory
        self.fallback = fallback if fallback is not None else UrlConfirmer()

    def confirm(self, topic_arn: str, token: str, subscribe_url: str) -> None:
        from botocore.exceptions import NoCredentialsError

        region = topic_region(topic_arn)
        try:
            if self.client_factory is not None:
                client = self.client_factory(region or "us-east-1")
            else:
                import boto3
                from botocore.config import Config

                client = boto3.client("sns", region_name=region,
                                      config=Config(retries={"mode": "standard"}, connect_timeout=3, read_timeout=5))
            client.confirm_subscription(TopicArn=topic_arn, Token=token)
        except NoCredentialsError:
            log.info("no AWS credentials for ConfirmSubscription; confirming %s through its validated SubscribeURL", topic_arn)
            self.fallback.confirm(topic_arn, token, subscribe_url)


class UrlConfirmer:
    """GET the SubscribeURL, only after `validate_subscribe_url` accepted it; `fetch(url)` is injectable."""

    def __init__(self, fetch: Callable[[str], Any] | None = None) -> None:
        self.fetch = fetch

    def confirm(self, topic_arn: str, token: str, subscribe_url: str) -> None:
        url = validate_subscribe_url(subscribe_url, topic_arn, token)
        if self.fetch is not None:
            self.fetch(url)
            return
        import requests

        resp = requests.get(url, timeout=5, allow_redirects=False)
        if resp.status_code != 200:
            raise RuntimeError(f"ConfirmSubscription answered HTTP {resp.status_code}")
