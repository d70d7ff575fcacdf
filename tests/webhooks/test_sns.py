"""SNS signature verification: both signature versions, the certificate URL rules, tampering, staleness."""

from __future__ import annotations

import json
import time

import pytest

from bot.webhooks.sns import (
    CertificateNotFound,
    HttpsCertificateSource,
    SnsRejected,
    SnsVerifier,
    UrlConfirmer,
    string_to_sign,
    validate_cert_url,
    validate_subscribe_url,
)
from tests.webhooks.payloads import cloudwatch_alb
from tests.webhooks.sns_signing import CERT_URL, TOPIC, LocalCertSource, Signer, make_cert, now_iso


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer()


def verifier(signer: Signer, **kw) -> SnsVerifier:
    return SnsVerifier(LocalCertSource({CERT_URL: signer.cert}), **kw)


def test_string_to_sign_matches_the_documented_example():
    msg = {
        "Type": "Notification",
        "MessageId": "4d4dc071-ddbf-465d-bba8-08f81c89da64",
        "TopicArn": "arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P",
        "Subject": "My subject",
        "Message": "My Test Message",
        "Timestamp": "2019-01-31T04:37:04.321Z",
        "UnsubscribeURL": "https://sns.us-east-2.amazonaws.com/?Action=Unsubscribe",
    }
    assert string_to_sign(msg) == (
        b"Message\nMy Test Message\nMessageId\n4d4dc071-ddbf-465d-bba8-08f81c89da64\nSubject\nMy subject\n"
        b"Timestamp\n2019-01-31T04:37:04.321Z\nTopicArn\narn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P\n"
        b"Type\nNotification\n"
    )
    no_subject = {k: v for k, v in msg.items() if k != "Subject"}
    assert b"Subject" not in string_to_sign(no_subject)


def test_confirmation_string_to_sign_includes_token_and_subscribe_url(signer):
    msg = signer.confirmation()
    text = string_to_sign(msg).decode()
    keys = ["MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    assert text.startswith("Message\n" + msg["Message"] + "\n")
    positions = [text.index(f"\n{k}\n{msg[k]}\n") for k in keys]
    assert positions == sorted(positions) and text.endswith("Type\nSubscriptionConfirmation\n")


@pytest.mark.parametrize("version", ["1", "2"])
def test_both_signature_versions_verify(signer, version):
    v = verifier(signer)
    msg = signer.notification(cloudwatch_alb(), version=version)
    assert v.verify(json.loads(json.dumps(msg)), header_type="Notification")["MessageId"] == msg["MessageId"]
    conf = signer.confirmation(version=version)
    assert v.verify(conf)["Token"] == conf["Token"]
    unsub = signer.confirmation(kind="UnsubscribeConfirmation", version=version)
    assert v.verify(unsub)["Type"] == "UnsubscribeConfirmation"


def test_a_v1_signature_presented_as_v2_fails(signer):
    msg = signer.notification(cloudwatch_alb(), version="1")
    msg["SignatureVersion"] = "2"
    with pytest.raises(SnsRejected, match="does not verify"):
        verifier(signer).verify(msg)


def test_v2_can_be_required(signer):
    with pytest.raises(SnsRejected, match="only 2"):
        verifier(signer, require_version="2").verify(signer.notification(cloudwatch_alb(), version="1"))


@pytest.mark.parametrize(
    "url, why",
    [
        ("http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem", "not https"),
        ("https://s3.amazonaws.com/SimpleNotificationService-abc.pem", "not sns"),
        ("https://sns.eu-west-1.amazonaws.com.evil.example/SimpleNotificationService-abc.pem", "not sns"),
        ("https://evilsns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem", "not sns"),
        ("https://sns.eu-west-1.amazonaws.com@evil.example/SimpleNotificationService-abc.pem", "not sns"),
        ("https://sns.eu-west-1.amazonaws.com:8443/SimpleNotificationService-abc.pem", "not sns"),
        ("https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.txt", "does not end in .pem"),
        ("https://sns.eu-west-1.amazonaws.com/my-bucket/cert.pem", "not an SNS signing certificate"),
        ("https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem?x=1", "not an SNS signing certificate"),
        ("https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService.pem", "not an SNS signing certificate"),
        ("https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-xyz.pem", "not an SNS signing certificate"),
        ("https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abcdef12.pem\n", "whitespace or control"),
        ("https://sns.eu-west-1.amazonaws.com\n/SimpleNotificationService-abcdef12.pem", "whitespace or control"),
        ("", "missing"),
    ],
)
def test_certificate_url_rules(url, why):
    with pytest.raises(SnsRejected, match=why):
        validate_cert_url(url)


@pytest.mark.parametrize("url", [CERT_URL, "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-3242f7a3b3.pem",
                                 "https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-01d088a6f77103d0fe307c0069e40ed6.pem"])
def test_certificate_url_accepted(url):
    assert validate_cert_url(url) == url


@pytest.mark.parametrize("url", ["https://s3.amazonaws.com/SimpleNotificationService-abc.pem",
                                 "http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem",
                                 "https://sns.eu-west-1.amazonaws.com/x/evil.pem"])
def test_a_message_with_a_bad_certificate_url_is_refused_before_any_fetch(signer, url):
    src = LocalCertSource({url: signer.cert})
    msg = signer.notification(cloudwatch_alb())
    msg = signer.sign({k: v for k, v in msg.items() if k not in ("Signature", "SigningCertURL", "SignatureVersion")}, cert_url=url)
    with pytest.raises(SnsRejected):
        SnsVerifier(src).verify(msg)
    assert src.fetches == []


@pytest.mark.parametrize("field, value", [("Message", '{"AlarmName": "forged"}'), ("MessageId", "other-id"), ("TopicArn", TOPIC + "x"),
                                          ("Subject", "changed"), ("Timestamp", now_iso(-1)), ("Type", "SubscriptionConfirmation")])
def test_a_tampered_field_fails(signer, field, value):
    msg = signer.notification(cloudwatch_alb())
    msg[field] = value
    with pytest.raises(SnsRejected):
        verifier(signer).verify(msg)


def test_adding_a_subject_is_tampering(signer):
    msg = signer.notification(cloudwatch_alb(), subject=None)
    verifier(signer).verify(dict(msg))
    msg["Subject"] = "injected"
    with pytest.raises(SnsRejected, match="does not verify"):
        verifier(signer).verify(msg)


def test_a_signature_by_another_key_fails(signer):
    other = Signer(key_size=1024)
    msg = other.notification(cloudwatch_alb())  # signed by a key whose cert is not the one at CERT_URL
    with pytest.raises(SnsRejected, match="does not verify"):
        verifier(signer).verify(msg)


def test_stale_and_future_timestamps_are_refused(signer):
    v = verifier(signer)
    with pytest.raises(SnsRejected, match="stale"):
        v.verify(signer.notification(cloudwatch_alb(), timestamp=now_iso(-3700)))
    with pytest.raises(SnsRejected, match="future"):
        v.verify(signer.notification(cloudwatch_alb(), timestamp=now_iso(+600)))
    v.verify(signer.notification(cloudwatch_alb(), timestamp=now_iso(-3500)))  # SNS retries for up to an hour


def test_header_type_must_agree(signer):
    with pytest.raises(SnsRejected, match="disagrees") as e:
        verifier(signer).verify(signer.notification(cloudwatch_alb()), header_type="SubscriptionConfirmation")
    assert e.value.status == 400


@pytest.mark.parametrize("mutate", [
    lambda m: m.update(SignatureVersion="3"),
    lambda m: m.update(Signature="not base64!!"),
    lambda m: m.update(Signature=""),
    lambda m: m.pop("SigningCertURL"),
])
def test_broken_signature_fields(signer, mutate):
    msg = signer.notification(cloudwatch_alb())
    mutate(msg)
    with pytest.raises(SnsRejected):
        verifier(signer).verify(msg)


def test_certificate_fetch_failure_and_expired_certificate(signer):
    with pytest.raises(SnsRejected, match="could not fetch"):
        SnsVerifier(LocalCertSource({})).verify(signer.notification(cloudwatch_alb()))
    expired = SnsVerifier(LocalCertSource({CERT_URL: make_cert(signer.key, days=1)}), clock=lambda: time.time() + 3 * 86400)
    with pytest.raises(SnsRejected):
        expired.verify(signer.notification(cloudwatch_alb()))


def test_certificate_is_fetched_once_per_url(signer):
    src = LocalCertSource({CERT_URL: signer.cert})
    v = SnsVerifier(src)
    for _ in range(5):
        v.verify(signer.notification(cloudwatch_alb()))
    assert src.fetches == [CERT_URL]


def test_lambda_style_casing_is_accepted(signer):
    msg = signer.notification(cloudwatch_alb())
    msg["SigningCertUrl"] = msg.pop("SigningCertURL")
    verifier(signer).verify(msg)


# ---- the production certificate source, with a stand-in session (never the network) ----------------


class _Resp:
    def __init__(self, status: int, body: bytes) -> None:
        self.status_code, self.body, self.closed = status, body, False

    def iter_content(self, n):
        for i in range(0, len(self.body), n):
            yield self.body[i : i + n]

    def close(self):
        self.closed = True


class _Session:
    def __init__(self, resp: _Resp) -> None:
        self.resp, self.calls = resp, []

    def get(self, url, **kw):
        self.calls.append((url, kw))
        return self.resp


def test_https_source_validates_and_caps(signer):
    session = _Session(_Resp(200, signer.cert))
    src = HttpsCertificateSource(session=session)
    assert src.get(CERT_URL) == signer.cert
    assert session.calls[0][1]["allow_redirects"] is False and max(session.calls[0][1]["timeout"]) <= 5
    with pytest.raises(SnsRejected):
        src.get("https://s3.amazonaws.com/SimpleNotificationService-abc.pem")
    assert len(session.calls) == 1
    big = HttpsCertificateSource(session=_Session(_Resp(200, b"x" * 20000)))
    with pytest.raises(CertificateNotFound, match="larger"):
        big.get(CERT_URL)
    with pytest.raises(CertificateNotFound, match="HTTP 302"):
        HttpsCertificateSource(session=_Session(_Resp(302, b""))).get(CERT_URL)
    with pytest.raises(OSError, match="HTTP 503"):
        HttpsCertificateSource(session=_Session(_Resp(503, b""))).get(CERT_URL)


# ---- SubscribeURL ------------------------------------------------------------------------------------


def test_subscribe_url_must_be_the_topics_own_sns_endpoint(signer):
    token = "2336412f37fb687f5d51e6e2425f004a"
    good = f"https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token={token}"
    assert validate_subscribe_url(good, TOPIC, token) == good
    for bad in [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        f"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token={token}",
        f"https://sns.eu-west-1.amazonaws.com.evil.example/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token={token}",
        f"http://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token={token}",
        f"https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&TopicArn={TOPIC}&Token={token}",
        f"https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=other",
    ]:
        with pytest.raises(SnsRejected):
            validate_subscribe_url(bad, TOPIC, token)
    fetched = []
    UrlConfirmer(fetch=fetched.append).confirm(TOPIC, token, good)
    assert fetched == [good]
    with pytest.raises(SnsRejected):
        UrlConfirmer(fetch=fetched.append).confirm(TOPIC, token, "http://169.254.169.254/")
    assert fetched == [good]
