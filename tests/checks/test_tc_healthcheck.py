"""TC-HEALTHCHECK: listener/rule HealthCheck vs what the backend answers."""

from __future__ import annotations

from checks.model import Status
from checks.state import ProbeResult
from tests import tencent_factories as tf
from tests.factories import run_check


def run(state):
    return run_check("TC-HEALTHCHECK", state)


def http_scenario(**hc):
    return tf.scenario(hc=tf.health_check(CheckType="HTTP", HttpCheckPath="/healthz", HttpCheckDomain="web.shop", **hc))


def probe(code, ms=20.0, path="/healthz"):
    return ProbeResult(kind="http", subject="node node-1", address="127.0.1.1", port=30080, ok=False, path=path, status_code=code, elapsed_ms=ms)


def test_valid_settings_pass():
    [finding] = run(tf.scenario().state())
    assert finding.status == Status.PASS
    assert "TimeOut 2 s, IntervalTime 5 s" in finding.evidence[0]


def test_probe_code_outside_httpcode_fails_with_modify_command():
    st = http_scenario(HttpCode=2).state()
    st.probes = [probe(404)]
    [finding] = run(st)
    assert finding.status == Status.FAIL
    assert finding.cause == "healthcheck-path"
    assert "answers 404 on /healthz but the check accepts only 200-299 (HttpCode 2)" in finding.summary
    assert "tccli clb ModifyListener --region ap-guangzhou --LoadBalancerId lb-web --ListenerId lbl-80 --HealthCheck '{\"HttpCode\":10}'" in finding.next_step
    assert "TkeServiceConfig" in finding.next_step


def test_accepted_code_passes_and_slow_answer_fails():
    st = http_scenario(HttpCode=10).state()
    st.probes = [probe(404)]
    [finding] = run(st)
    assert finding.status == Status.PASS
    st.probes = [probe(200, ms=3500)]
    [finding] = run(st)
    assert finding.status == Status.FAIL and finding.cause == "healthcheck-settings"
    assert "above TimeOut 2 s" in finding.summary


def test_timeout_not_below_interval_and_thresholds():
    [finding] = run(tf.scenario(hc=tf.health_check(TimeOut=5, IntervalTime=5, HealthNum=12)).state())
    assert finding.status == Status.FAIL
    said = [finding.summary, *finding.evidence]  # the first issue is the summary, the others evidence
    assert any("TimeOut 5 s is not below IntervalTime 5 s" in e for e in said)
    assert any("HealthNum 12 is outside 2-10" in e for e in said)


def test_switched_off_warns():
    [finding] = run(tf.scenario(hc=tf.health_check(HealthSwitch=0)).state())
    assert finding.status == Status.WARN
    assert "switched off" in finding.summary
    assert '"HealthSwitch":1' in finding.next_step


def test_https_backend_suggests_http_check_and_certificates():
    rules = [tf.rule(forward_type="HTTPS", hc=tf.health_check(CheckType="HTTPS", HttpCheckPath="/"))]
    sc = tf.scenario(lst=tf.listener("lbl-443", protocol="HTTPS", port=80, rules=rules), healthy=False)
    [finding] = run(sc.state())
    assert finding.status == Status.WARN
    assert "HTTP check" in finding.summary
    assert any("backends must serve a certificate" in e for e in finding.evidence)
    assert "tccli clb ModifyRule" in finding.next_step and "--LocationId loc-1" in finding.next_step
    rules = [tf.rule(forward_type="HTTP")]
    sc = tf.scenario(lst=tf.listener("lbl-443", protocol="HTTPS", port=80, rules=rules))
    [finding] = run(sc.state())
    assert finding.status == Status.PASS
    assert any("backends need no certificate" in e for e in finding.evidence)


def test_check_port_nobody_listens_on():
    [finding] = run(tf.scenario(hc=tf.health_check(CheckPort=31999)).state())
    assert finding.status == Status.FAIL
    assert "CheckPort 31999" in finding.summary


def test_odd_values_do_not_crash():
    state = tf.scenario(hc=tf.health_check(TimeOut="x", IntervalTime=None, HttpCode=None, CheckType=None)).state()
    [finding] = run_check("TC-HEALTHCHECK", state, odd=True)
    assert finding.status in (Status.FAIL, Status.PASS)


def test_skip_without_clb_data():
    st = tf.scenario().state(reads=set())
    st.skipped_reads["tencent.clb"] = "no Tencent Cloud credentials"
    [finding] = run(st)
    assert finding.status == Status.SKIP


def test_lbview_health_checks_only_the_services_listeners_on_a_shared_clb():
    from checks.lbview import health_checks

    other = tf.listener("lbl-9090", port=9090, hc=tf.health_check(CheckType="HTTP", HttpCheckPath="/other"))
    sc = tf.scenario(hc=tf.health_check(CheckType="HTTP", HttpCheckPath="/healthz"))
    sc.listeners["lb-web"].append(other)
    hcs = health_checks(sc.state())
    assert [h.listener for h in hcs] == ["lbl-80"]
    assert hcs[0].path == "/healthz" and hcs[0].success_codes == "100-199,200-299,300-399,400-499,500-599"
