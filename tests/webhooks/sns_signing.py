"""Sign SNS messages locally, the way SNS does, with a generated RSA key and self-signed certificate.

The certificate is served by `LocalCertSource` (the verifier's injectable certificate source), so
nothing is ever fetched from the network.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from bot.webhooks.sns import string_to_sign

REGION = "eu-west-1"
ACCOUNT = "123456789012"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:lbhealth-alarms"
CERT_URL = f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem"


def make_cert(key: rsa.RSAPrivateKey, cn: str = "sns.amazonaws.com", days: int = 365) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


class LocalCertSource:
    """url -> PEM, counting fetches; unknown URLs raise like a failed download."""

    def __init__(self, certs: dict[str, bytes] | None = None) -> None:
        self.certs = dict(certs or {})
        self.fetches: list[str] = []

    def get(self, url: str) -> bytes:
        self.fetches.append(url)
        if url not in self.certs:
            raise OSError(f"404 for {url}")
        return self.certs[url]


class Signer:
    def __init__(self, key_size: int = 2048) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
        self.cert = make_cert(self.key)
        self.source = LocalCertSource({CERT_URL: self.cert})

    def cert_url(self, topic: str) -> str:
        """The certificate URL SNS names for a topic: on the SNS endpoint of the topic's own region."""
        url = CERT_URL.replace(f"sns.{REGION}.", f"sns.{topic.split(':')[3]}.")
        self.source.certs.setdefault(url, self.cert)
        return url

    def sign(self, message: dict[str, Any], version: str = "1", cert_url: str | None = None, key=None) -> dict[str, Any]:
        msg = dict(message)
        cert_url = cert_url or self.cert_url(str(msg.get("TopicArn") or TOPIC))
        msg["SignatureVersion"] = version
        msg["SigningCertURL"] = cert_url
        digest = hashes.SHA1() if version == "1" else hashes.SHA256()
        sig = (key or self.key).sign(string_to_sign(msg), padding.PKCS1v15(), digest)
        msg["Signature"] = base64.b64encode(sig).decode()
        return msg

    def notification(self, alarm: dict[str, Any] | str, *, message_id: str | None = None, topic: str = TOPIC,
                     version: str = "1", timestamp: str | None = None, subject: str | None = "ALARM: example") -> dict[str, Any]:
        msg = {
            "Type": "Notification",
            "MessageId": message_id or str(uuid.uuid4()),
            "TopicArn": topic,
            "Message": alarm if isinstance(alarm, str) else json.dumps(alarm),
            "Timestamp": timestamp or now_iso(),
            "UnsubscribeURL": f"https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic}:c9135db0",
        }
        if subject is not None:
            msg["Subject"] = subject
        return self.sign(msg, version)

    def confirmation(self, *, topic: str = TOPIC, kind: str = "SubscriptionConfirmation", token: str = "2336412f37fb687f5d51e6e2425f004a",
                     subscribe_url: str | None = None, version: str = "1") -> dict[str, Any]:
        region = topic.split(":")[3]
        msg = {
            "Type": kind,
            "MessageId": str(uuid.uuid4()),
            "Token": token,
            "TopicArn": topic,
            "Message": f"You have chosen to subscribe to the topic {topic}.\nTo confirm the subscription, visit the SubscribeURL included in this message.",
            "SubscribeURL": subscribe_url or f"https://sns.{region}.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic}&Token={token}",
            "Timestamp": now_iso(),
        }
        return self.sign(msg, version)


def now_iso(offset_s: float = 0) -> str:
    t = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset_s)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
