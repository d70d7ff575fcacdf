"""Amazon SNS HTTPS-subscription messages: signature verification and subscription confirmation.

Follows AWS's own validators (aws-php-sns-message-validator, aws-js-sns-message-validator) and
the SNS developer guide:

- the string to sign is ``key\\nvalue\\n`` for each signed key present, in byte order;
  Notification signs Message, MessageId, Subject (if present), Timestamp, TopicArn, Type;
  (Un)SubscriptionConfirmation signs Message, MessageId, SubscribeURL, Timestamp, Token, TopicArn, Type;
- SignatureVersion 1 is SHA1withRSA, 2 is SHA256withRSA; anything else is refused;
- the certificate URL must be https, on ``sns.<region>.amazonaws.com(.cn)`` (not any amazonaws host:
  S3 buckets live there too) of the topic's own region, with the path SNS uses
  (``/SimpleNotificationService-<hex>.pem``);
- every envelope field is type- and size-checked before anything else (a 400, never a 500);
- the certificate is fetched through a `CertificateSource` (production: HTTPS GET with a timeout,
  a size cap and no redirects; tests and benches: a local source), never from the message, and
  off the request thread by `CertificateFetcher` (see there: what a request whose certificate is
  not cached yet is answered, and why);
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
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

log = logging.getLogger(__name__)

# All matched with fullmatch (`$` would accept a trailing newline).
CERT_HOST = re.compile(r"sns\.(?P<region>[a-z0-9-]{3,32})\.amazonaws\.com(\.cn)?")
CERT_PATH = re.compile(r"/SimpleNotificationService-[0-9a-f]{8,64}\.pem")
TOPIC_ARN = re.compile(r"arn:aws(?:-cn|-us-gov)?:sns:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):(?P<name>[A-Za-z0-9_.-]{1,256})")

NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
TYPES = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")
STRING_FIELDS = ("Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion", "Signature",
                 "SigningCertURL", "SubscribeURL", "UnsubscribeURL", "Token")
MAX_FIELD = 2048  # every field but Message (bounded by the body limit): ARNs, URLs, ids, a base64 signature
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


def check_envelope(message: Any) -> dict[str, Any]:
    """The normalised envelope if every field has the type and size SNS sends; raises 400 otherwise."""
    if not isinstance(message, dict):
        raise SnsRejected("body is not a JSON object", 400)
    message = _normalise(message)
    for key in STRING_FIELDS:
        value = message.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise SnsRejected(f"{key} is a {type(value).__name__}, not a string", 400)
        if key != "Message" and len(value) > MAX_FIELD:
            raise SnsRejected(f"{key} is longer than {MAX_FIELD} characters", 400)
    return message


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
    if re.search(r"[\s\x00-\x1f\x7f]", url):  # urlsplit would silently drop tabs and newlines
        raise SnsRejected("SigningCertURL contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise SnsRejected(f"SigningCertURL is not a URL: {exc}") from exc
    if parts.scheme != "https":
        raise SnsRejected(f"SigningCertURL scheme is {parts.scheme or 'missing'}, not https")
    host = parts.hostname or ""
    if parts.username or parts.password or port not in (None, 443) or not CERT_HOST.fullmatch(host) or parts.netloc.lower() not in (host, f"{host}:443"):
        raise SnsRejected(f"SigningCertURL host {parts.netloc!r} is not sns.<region>.amazonaws.com")
    if not parts.path.endswith(".pem"):
        raise SnsRejected("SigningCertURL does not end in .pem")
    if not CERT_PATH.fullmatch(parts.path) or parts.query or parts.fragment:
        raise SnsRejected(f"SigningCertURL path {parts.path!r} is not an SNS signing certificate")
    return url


def topic_region(topic_arn: str) -> str | None:
    m = TOPIC_ARN.fullmatch(topic_arn) if isinstance(topic_arn, str) else None
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


class CertificateNotFound(Exception):
    """The certificate host answered that there is no such certificate (a definitive 4xx)."""


class HttpsCertificateSource:
    """Production source: HTTPS GET (TLS verified, no redirects, timeouts, size cap); no cache
    (`CertificateFetcher` caches). Only called with URLs `validate_cert_url` accepted, and it checks
    again before fetching."""

    def __init__(self, timeout: tuple[float, float] = (2.0, 3.0), session: Any = None) -> None:
        self.timeout = timeout  # (connect, read) seconds
        # One session, made now: importing requests and building a session inside the first fetch,
        # in the middle of a burst, took the GIL from the acknowledgements (bench/slack_ack.py).
        self._session = session if session is not None else requests.Session()

    def get(self, url: str) -> bytes:
        validate_cert_url(url)
        resp = self._session.get(url, timeout=self.timeout, allow_redirects=False, stream=True)
        try:
            if resp.status_code >= 500:
                raise OSError(f"certificate fetch answered HTTP {resp.status_code}")
            if resp.status_code != 200:  # 3xx (never followed) and 4xx: there is no certificate there
                raise CertificateNotFound(f"certificate fetch answered HTTP {resp.status_code}")
            body = b""
            for chunk in resp.iter_content(4096):
                body += chunk
                if len(body) > MAX_CERT_BYTES:
                    raise CertificateNotFound("certificate larger than 16 KB")
        finally:
            resp.close()
        return body


class CertificateFetcher:
    """Signing certificates by URL, fetched off the request thread, at most `workers` at a time.

    Why: the certificate URL comes from the (not yet verified) message, so a stranger can name a new
    one in every request; fetched on the request thread, 48 such requests stalled every web thread
    (slash-command acks at 7-9 s). Here:

    - a cached certificate is returned at once (kept `ttl`, 24 h: SNS rotates them rarely);
    - a URL is fetched once at a time (single flight), by a pool of `workers` threads, with at most
      `max_inflight` different URLs queued or fetching; beyond that a request is refused at once;
    - a request waits for its fetch at most `wait` seconds, and only while fewer than `max_waiting`
      requests wait (so forged requests hold at most that many web threads, for that long);
    - a failure is remembered (negative cache): a definitive one (the host says 4xx: no such
      certificate, which is what a forged name gets) for `bad_ttl`, answered 403, and SNS, which
      treats 4xx as final, does not retry; a transient one (timeout, 5xx, network) for `retry_ttl`,
      answered 503.

    What SNS does with a 503 (protocols.md 2.1): a status outside 2xx-4xx is a failed attempt,
    retried after 20 s, 3 times. So a genuine notification whose certificate is not cached yet is
    not lost: it is answered within `wait` (0.5 s: a certificate from sns.<region>.amazonaws.com
    normally arrives well within it), else 503 and its retry 20 s later finds the certificate cached.
    `retry_ttl` (15 s) is shorter than those 20 s, so a transient failure cannot refuse the retry.

    The limit this leaves: while strangers keep `max_inflight` (4) fetches of forged names busy, a
    genuine new certificate waits its turn (SNS's retries give it about a minute); the real SNS host
    answers a forged name with a 4xx at once, so that queue drains quickly, unlike a dead host's.
    Measured with bench/slack_ack.py --forged-sns 50 (README, Benchmarks).
    """

    def __init__(self, source: CertificateSource, *, workers: int = 2, max_inflight: int = 4, wait: float = 0.5,
                 max_waiting: int = 2, ttl: float = 24 * 3600, bad_ttl: float = 3600, retry_ttl: float = 15,
                 max_entries: int = 4096, clock: Callable[[], float] = time.monotonic) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.source = source
        self.wait, self.max_inflight, self.max_waiting = wait, max_inflight, max_waiting
        self.ttl, self.bad_ttl, self.retry_ttl, self.max_entries = ttl, bad_ttl, retry_ttl, max_entries
        self.clock = clock
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sns-cert")
        self._good: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._bad: OrderedDict[str, tuple[float, SnsRejected]] = OrderedDict()
        self._inflight: dict[str, Future] = {}
        self._waiting = 0
        self._lock = threading.Lock()

    def get(self, url: str) -> bytes:
        with self._lock:
            cached = self._cached(url)
            if isinstance(cached, bytes):
                return cached
            future = self._inflight.get(url)
            if future is None:
                if len(self._inflight) >= self.max_inflight:
                    raise SnsRejected("too many signing certificates are being fetched; retry later", 503)
                future = self._inflight[url] = self._pool.submit(self._fetch, url)
            if self._waiting >= self.max_waiting:
                raise SnsRejected("the signing certificate is being fetched; retry later", 503)
            self._waiting += 1
        try:
            return future.result(timeout=self.wait)
        except FutureTimeout:
            raise SnsRejected("the signing certificate is being fetched; retry later", 503) from None
        finally:
            with self._lock:
                self._waiting -= 1

    def _cached(self, url: str) -> bytes | None:
        now = self.clock()
        hit = self._good.get(url)
        if hit and hit[0] > now:
            return hit[1]
        bad = self._bad.get(url)
        if bad and bad[0] > now:
            raise SnsRejected(*bad[1])
        return None

    def _fetch(self, url: str) -> bytes:
        try:
            body = self.source.get(url)
        except (CertificateNotFound, SnsRejected) as exc:
            refusal, ttl = (f"no SNS signing certificate at that URL ({exc})", 403), self.bad_ttl
        except Exception as exc:  # network, TLS, 5xx: refuse for now; SNS retries in 20 s
            refusal, ttl = (f"could not fetch the signing certificate ({type(exc).__name__}); retry later", 503), self.retry_ttl
        else:
            self._remember(self._good, url, (self.clock() + self.ttl, body))
            return body
        finally:
            with self._lock:
                self._inflight.pop(url, None)
        self._remember(self._bad, url, (self.clock() + ttl, refusal))
        raise SnsRejected(*refusal)

    def _remember(self, cache: OrderedDict, url: str, entry: tuple[float, Any]) -> None:
        with self._lock:
            cache[url] = entry
            cache.move_to_end(url)
            while len(cache) > self.max_entries:
                cache.popitem(last=False)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


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
        except Exception as exc:  # network, TLS, ...: refuse for now (503), SNS retries later
            raise SnsRejected(f"could not fetch the signing certificate: {type(exc).__name__}", 503) from exc
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
        message = check_envelope(message)
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
        cert_region = CERT_HOST.fullmatch(urlsplit(url).hostname or "").group("region")
        if cert_region != topic_region(message.get("TopicArn")):
            raise SnsRejected(f"SigningCertURL is in {cert_region}, not in the topic's region")
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
