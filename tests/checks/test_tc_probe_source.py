"""TC-PROBE-SOURCE: VIP vs 100.64.0.0/10 probe source, and IPVS kube-proxy."""

from __future__ import annotations

from checks.model import Status
from tests import factories
from tests import tencent_factories as tf
from tests.factories import run_check


def one(state):
    [finding] = run_check("TC-PROBE-SOURCE", state)
    return finding


def kube_proxy_cm(mode):
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
        "data": {"config.conf": f"apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: {mode}\n"},
    }


def kube_proxy_ds(arg):
    return factories.daemonset(containers=[{"name": "kube-proxy", "image": "kube-proxy:v1.30.4", "command": ["kube-proxy", arg]}])


def test_range_source_passes_and_mentions_iptables():
    finding = one(tf.scenario().state())
    assert finding.status == Status.PASS
    assert "100.64.0.0/10" in finding.summary and "iptables" in finding.summary
    assert finding.next_step.startswith("iptables -I INPUT -p tcp -s 100.64.0.0/10 --dport 30080 -j ACCEPT")  # first, not after a DROP


def test_vip_source_with_ipvs_configmap_fails():
    sc = tf.scenario(hc=tf.health_check(SourceIpType=0), extra_objects=[kube_proxy_cm("ipvs")])
    finding = one(sc.state())
    assert finding.status == Status.FAIL
    assert finding.cause == "probe-source"
    assert "IPVS" in finding.summary and "127.0.0.50" in finding.summary
    assert "ConfigMap kube-system/kube-proxy data config.conf: mode: ipvs" in " ".join(finding.evidence)
    assert "--HealthCheck '{\"SourceIpType\":1}'" in finding.next_step


def test_vip_source_with_ipvs_arg_fails_and_iptables_mode_passes():
    sc = tf.scenario(hc=tf.health_check(SourceIpType=0), extra_objects=[kube_proxy_ds("--proxy-mode=ipvs")])
    assert one(sc.state()).status == Status.FAIL
    sc = tf.scenario(hc=tf.health_check(SourceIpType=0), extra_objects=[kube_proxy_cm("iptables")])
    finding = one(sc.state())
    assert finding.status == Status.PASS
    assert "VIP 127.0.0.50" in finding.summary


def test_public_clb_with_ipvs_only_warns():
    sc = tf.scenario(hc=tf.health_check(SourceIpType=0), lb=tf.clb(type="OPEN"), extra_objects=[kube_proxy_cm("ipvs")])
    assert one(sc.state()).status == Status.WARN


def test_missing_source_type_is_explained():
    sc = tf.scenario(hc=tf.health_check(SourceIpType=None))
    finding = one(sc.state())
    assert any("2023-02-24" in e for e in finding.evidence)


def test_skip_without_data():
    st = tf.scenario().state(reads=set())
    st.skipped_reads["tencent.clb"] = "no Tencent Cloud credentials"
    assert one(st).status == Status.SKIP


def test_ipvs_in_a_shell_command_of_the_daemonset():
    ds = kube_proxy_ds("--proxy-mode=iptables")
    ds["spec"]["template"]["spec"]["containers"][0]["command"] = ["/bin/sh", "-c", "kube-proxy --kubeconfig=/etc/kube-proxy/config --proxy-mode=ipvs --v=2"]
    sc = tf.scenario(hc=tf.health_check(SourceIpType=0), extra_objects=[ds])
    finding = one(sc.state())
    assert finding.status == Status.FAIL
    assert "DaemonSet kube-system/kube-proxy arg --proxy-mode=ipvs" in " ".join(finding.evidence)


def test_unreported_source_says_so_in_words_and_admits_every_port_in_one_rule():
    hc = tf.health_check()
    hc.pop("SourceIpType", None)
    finding = one(tf.scenario(hc=hc).state())
    assert any("SourceIpType not reported" in e for e in finding.evidence)
    assert not any("None" in e for e in finding.evidence)  # no Python repr of the missing field
    assert finding.next_step.startswith("iptables -I INPUT -p tcp -s ") and ";" not in finding.next_step
