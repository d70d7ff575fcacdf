"""TC-MAP: the Service's CLB and listener, and how they were found."""

from __future__ import annotations

from checks.model import Status
from checks.providers.tencent.mapping import ingresses_for_clb, services_for_clb
from tests import factories as f
from tests import tencent_factories as tf
from tests.factories import run_check


def one(state):
    [finding] = run_check("TC-MAP", state)
    return finding


def test_found_by_annotation_names_listener():
    finding = one(tf.scenario().state())
    assert finding.status == Status.PASS
    assert "lb-web" in finding.summary and "lbl-80" in finding.summary
    assert "service.kubernetes.io/loadbalance-id" in finding.summary
    assert "Service port http TCP:80 -> listener lbl-80 TCP:80" in finding.evidence


def test_found_by_vip_without_annotation():
    sc = tf.scenario(service_kw={"by_annotation": False})
    finding = one(sc.state())
    assert finding.status == Status.PASS
    assert "VIP" in finding.summary and "127.0.0.50" in finding.summary


def test_found_by_existed_lbid_and_uuid_tag():
    sc = tf.scenario(service_kw={"by_annotation": False, "ingress_ip": None, "annotations": {"service.kubernetes.io/tke-existed-lbid": "lb-web"}})
    assert "tke-existed-lbid" in one(sc.state()).summary
    sc = tf.scenario(lb=tf.clb(tags={"tke-lb-serviceuuid": "uid-shop-web"}), service_kw={"by_annotation": False, "ingress_ip": None})
    finding = one(sc.state())
    assert finding.status == Status.PASS
    assert "tke-lb-serviceuuid" in finding.summary


def test_missing_clb_named_by_annotation_fails_with_what_was_tried():
    st = tf.scenario().state()
    st.tencent.load_balancers = []
    st.tencent.listeners = {}
    st.tencent.target_health = []
    st.tencent.targets = {}
    finding = one(st)
    assert finding.status == Status.FAIL
    assert "lb-web" in finding.summary and "does not exist" in finding.summary
    assert "Service annotation service.kubernetes.io/loadbalance-id: lb-web" in finding.evidence
    assert "--LoadBalancerIds" in finding.next_step


def test_service_without_clb_yet_fails():
    svc = tf.tke_service(by_annotation=False, ingress_ip=None)
    st = f.make_state(svc, f.node("node-1", provider_id="qcloud:///800002/ins-node1"))
    finding = one(st)
    assert finding.status == Status.FAIL
    assert "no CLB yet" in finding.summary
    assert any("empty" in e for e in finding.evidence)
    assert "kubectl -n shop describe service web" in finding.next_step


def test_missing_listener_warns():
    sc = tf.scenario(service_kw={"ports": [{"name": "http", "port": 80, "targetPort": 80, "nodePort": 30080}, {"name": "https", "port": 443, "targetPort": 443, "nodePort": 30443}]})
    finding = one(sc.state())
    assert finding.status == Status.WARN
    assert "no listener on port 443" in finding.summary


def test_skips_without_tencent_data_with_the_reason():
    st = tf.scenario().state(reads=set())
    st.skipped_reads["tencent.clb"] = "no Tencent Cloud credentials (set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY)"
    finding = one(st)
    assert finding.status == Status.SKIP
    assert "no Tencent Cloud credentials" in finding.summary


def test_error_names_cam_action():
    st = tf.scenario().state()
    st.read_errors["tencent.clb"] = "clb:DescribeLoadBalancers is not allowed for these credentials"
    finding = one(st)
    assert finding.status == Status.ERROR
    assert "clb:DescribeLoadBalancers" in finding.summary


def test_skips_on_aws():
    st = f.make_state(f.service(annotations={"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}))
    assert one(st).status == Status.SKIP


def test_reverse_mapping_services_for_clb():
    lb = tf.clb(tags={"tke-lb-serviceuuid": "uid-other-b"})
    by_ann = f.service("a", "one", annotations={"service.kubernetes.io/loadbalance-id": "lb-web"})
    by_existed = f.service("c", "one", annotations={"service.kubernetes.io/tke-existed-lbid": "lb-web"}, ports=[{"name": "x", "port": 8080}])
    by_vip = f.service("d", "two", ingress_ip=tf.VIP)
    by_tag = f.service("b", "other")
    by_tag["metadata"]["uid"] = "uid-other-b"
    stranger = f.service("e", "two", ingress_ip="127.0.0.99")
    odd = {"metadata": None, "spec": {"ports": [{"port": "x"}]}}
    got = services_for_clb(lb, [by_ann, by_existed, by_vip, by_tag, stranger, odd, "junk"])
    assert got == [("one", "a"), ("one", "c"), ("two", "d"), ("other", "b")]
    assert services_for_clb(lb, [by_ann, by_existed], port=8080) == [("one", "c")]
    assert services_for_clb(lb, [by_ann], port="9999") == [("one", "a")]
    ing = f.ingress(annotations={"kubernetes.io/ingress.qcloud-loadbalance-id": "lb-web"})
    assert ingresses_for_clb(lb, [ing]) == [("shop", "web")]
