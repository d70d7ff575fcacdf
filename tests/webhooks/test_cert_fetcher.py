"""CertificateFetcher: certificates are fetched off the request thread, once per URL, with bounded waiting,
a bounded number in flight, and a negative cache whose answer (403 final, 503 retry) follows the failure."""

from __future__ import annotations

import threading

import pytest

from bot.webhooks.sns import CertificateFetcher, CertificateNotFound, SnsRejected

URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-{:032x}.pem"


class Source:
    """Answers from `certs`; `gate` (when set) holds every fetch until released; counts fetches."""

    def __init__(self, certs=None, error: Exception | None = None) -> None:
        self.certs, self.error, self.fetches = dict(certs or {}), error, []
        self.gate = threading.Event()
        self.gate.set()

    def get(self, url: str) -> bytes:
        self.fetches.append(url)
        self.gate.wait(10)
        if url in self.certs:
            return self.certs[url]
        raise self.error or CertificateNotFound("HTTP 404")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_cached_certificate_is_fetched_once_even_by_concurrent_requests():
    src = Source({URL.format(1): b"PEM"})
    src.gate.clear()
    fetcher = CertificateFetcher(src, wait=5, max_waiting=8)
    results = []
    threads = [threading.Thread(target=lambda: results.append(fetcher.get(URL.format(1)))) for _ in range(6)]
    for t in threads:
        t.start()
    src.gate.set()
    for t in threads:
        t.join(5)
    assert results == [b"PEM"] * 6 and src.fetches == [URL.format(1)]
    assert fetcher.get(URL.format(1)) == b"PEM" and len(src.fetches) == 1


def test_a_certificate_that_does_not_exist_is_refused_403_and_remembered():
    src = Source()
    fetcher = CertificateFetcher(src)
    for _ in range(3):
        with pytest.raises(SnsRejected) as exc:
            fetcher.get(URL.format(2))
        assert exc.value.status == 403
    assert src.fetches == [URL.format(2)]


def test_a_transient_failure_is_503_and_forgotten_before_sns_retries():
    clock = Clock()
    src = Source(error=OSError("timed out"))
    fetcher = CertificateFetcher(src, clock=clock)
    with pytest.raises(SnsRejected) as exc:
        fetcher.get(URL.format(3))
    assert exc.value.status == 503
    with pytest.raises(SnsRejected):
        fetcher.get(URL.format(3))
    assert len(src.fetches) == 1  # remembered for retry_ttl
    clock.now += 16  # SNS retries after 20 s: the failure is forgotten by then
    src.error, src.certs = None, {URL.format(3): b"PEM"}
    assert fetcher.get(URL.format(3)) == b"PEM" and len(src.fetches) == 2


def test_a_hanging_host_costs_a_request_at_most_wait_and_holds_at_most_max_waiting_threads():
    src = Source()
    src.gate.clear()  # the host never answers
    fetcher = CertificateFetcher(src, wait=0.2, max_waiting=2, max_inflight=4)
    answers: list[int] = []
    lock = threading.Lock()

    def ask(n: int) -> None:
        try:
            fetcher.get(URL.format(100 + n))
        except SnsRejected as exc:
            with lock:
                answers.append(exc.status)

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert answers == [503] * 10  # all answered (none waits on the host), retryable
    assert len(src.fetches) <= 4  # max_inflight: the rest were refused without a fetch
    src.gate.set()
    fetcher.close()
