"""TC-SNAT: IDC backends over CCN/Direct Connect must admit the SNAT IPs."""

from __future__ import annotations

from checks.model import Status
from tests import tencent_factories as tf
from tests.factories import run_check


def one(state):
    [finding] = run_check("TC-SNAT", state)
    return finding


def test_skip_without_idc_backend():
    finding = one(tf.scenario().state())
    assert finding.status == Status.SKIP
    assert "No IDC backend" in finding.summary


def test_unhealthy_ccn_backends_fail_listing_snat_ips():
    sc = tf.scenario(healthy=False, backend_type="CCN", lb=tf.clb(snat_pro=True, snat_ips=("127.0.0.61", "127.0.0.62")))
    finding = one(sc.state())
    assert finding.status == Status.FAIL
    assert finding.cause == "snat"
    assert "127.0.0.61, 127.0.0.62" in finding.summary
    # one rule for every SNAT IP, inserted first (appended, it would sit after a DROP)
    assert finding.next_step.endswith("iptables -I INPUT -p tcp -s 127.0.0.61,127.0.0.62 --dport 30080 -j ACCEPT")


def test_every_snat_ip_is_in_the_command_however_many():
    ips = tuple(f"127.0.0.{60 + i}" for i in range(6))
    sc = tf.scenario(healthy=False, backend_type="CCN", lb=tf.clb(snat_pro=True, snat_ips=ips))
    finding = one(sc.state())
    assert f"-s {','.join(ips)} " in finding.next_step


def test_healthy_ccn_backends_pass_and_missing_snat_ips_fail():
    sc = tf.scenario(backend_type="CCN", lb=tf.clb(snat_pro=True, snat_ips=("127.0.0.61",)))
    assert one(sc.state()).status == Status.PASS
    sc = tf.scenario(backend_type="CCN")
    finding = one(sc.state())
    assert finding.status == Status.FAIL and "no SNAT IP" in finding.summary


def test_skip_without_data():
    st = tf.scenario().state(reads=set())
    st.skipped_reads["tencent.clb"] = "no Tencent Cloud credentials"
    assert one(st).status == Status.SKIP
