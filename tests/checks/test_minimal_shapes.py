"""Every check runs on minimal real-shape objects: only the fields the APIs always return.

Fixtures tend to carry every field a check reads; a real cluster omits empty ones (no podIP on a
Pending pod, no Reason on a healthy target, no HealthCheck path on a TCP target group, no
endpoints on an EndpointSlice of a Service that selects nothing). run_check validates these
objects against the SDKs' models, so they are what the APIs return; no check may crash on them.
"""

from __future__ import annotations

import pytest

from checks.model import Status
from checks.registry import default_registry
from tests import aws_factories as a
from tests import tencent_factories as tf
from tests.factories import make_state, run_check

ALL_IDS = [s.id for s in default_registry().all()]
META = {"uid": "5f0c6d1e-0000-4000-8000-000000000001", "resourceVersion": "1", "creationTimestamp": "2026-11-21T10:00:00Z"}


def service(annotations=None):
    meta = {"name": "web", "namespace": "shop", **META}
    if annotations:
        meta["annotations"] = annotations
    return {
        "apiVersion": "v1", "kind": "Service", "metadata": meta,
        "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "clusterIP": "127.0.9.1", "sessionAffinity": "None",
                 "externalTrafficPolicy": "Cluster", "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80, "nodePort": 30080}]},
        "status": {"loadBalancer": {}},
    }


def pod(running: bool):
    status = {"phase": "Pending", "qosClass": "BestEffort"}
    if running:
        status.update(phase="Running", podIP="127.0.0.2", hostIP="127.0.1.1", containerStatuses=[
            {"name": "app", "image": "nginx:1.25", "imageID": "", "ready": True, "restartCount": 0, "state": {"running": {}}}])
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"}, **META},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}], **({"nodeName": "node-1"} if running else {})},
            "status": status}


def node(provider_id):
    info = {k: "x" for k in ("architecture", "bootID", "containerRuntimeVersion", "kernelVersion", "kubeProxyVersion",
                             "kubeletVersion", "machineID", "operatingSystem", "osImage", "systemUUID")}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1", **META},
            "spec": {"providerID": provider_id},
            "status": {"nodeInfo": info, "addresses": [{"type": "InternalIP", "address": "127.0.1.1"}]}}


def empty_slice():
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": "web-x1", "namespace": "shop", "labels": {"kubernetes.io/service-name": "web"}, **META}}


def aws_world(state, running):
    lb = {"LoadBalancerArn": a.arn("loadbalancer", "net/k8s-shop-web/0123456789abcdef"), "DNSName": a.dns_name("k8s-shop-web"),
          "LoadBalancerName": "k8s-shop-web", "Scheme": "internet-facing", "VpcId": a.VPC_ID, "State": {"Code": "active"},
          "Type": "network", "AvailabilityZones": [{"ZoneName": "us-east-1a", "SubnetId": "subnet-1"}], "IpAddressType": "ipv4"}
    tg = {"TargetGroupArn": a.arn("targetgroup", "k8s-shop-web/fedcba9876543210"), "TargetGroupName": "k8s-shop-web",
          "Protocol": "TCP", "Port": 30080, "VpcId": a.VPC_ID, "HealthCheckProtocol": "TCP", "HealthCheckPort": "traffic-port",
          "HealthCheckEnabled": True, "HealthCheckIntervalSeconds": 10, "HealthCheckTimeoutSeconds": 10,
          "HealthyThresholdCount": 3, "UnhealthyThresholdCount": 3, "LoadBalancerArns": [lb["LoadBalancerArn"]],
          "TargetType": "instance", "IpAddressType": "ipv4"}
    health = {"State": "healthy"} if running else {"State": "unhealthy", "Reason": "Target.Timeout"}
    state.aws.load_balancers = [lb]
    state.aws.target_groups = [tg]
    state.aws.target_health = {tg["TargetGroupArn"]: [{"Target": {"Id": a.INSTANCE_1, "Port": 30080}, "TargetHealth": health}]}


def tencent_world(state, running):
    state.tencent.load_balancers = [{"LoadBalancerId": tf.LB_ID, "LoadBalancerName": "web", "LoadBalancerType": "INTERNAL",
                                     "Forward": 1, "LoadBalancerVips": [tf.VIP], "Status": 1, "VpcId": tf.VPC}]
    state.tencent.listeners = {tf.LB_ID: [{"ListenerId": tf.LISTENER_ID, "Protocol": "TCP", "Port": 80}]}
    state.tencent.targets = {tf.LB_ID: [{"ListenerId": tf.LISTENER_ID, "Protocol": "TCP", "Port": 80, "Targets": [
        {"Type": "CVM", "InstanceId": "ins-node1", "Port": 30080, "Weight": 10, "PrivateIpAddresses": ["127.0.1.1"]}]}]}
    state.tencent.target_health = [{"LoadBalancerId": tf.LB_ID, "Listeners": [{"ListenerId": tf.LISTENER_ID, "Protocol": "TCP", "Port": 80,
                                    "Rules": [{"Targets": [{"IP": "127.0.1.1", "Port": 30080, "HealthStatus": running}]}]}]}]


@pytest.mark.parametrize("running", [True, False], ids=["running", "pending"])
@pytest.mark.parametrize("cloud", ["aws", "tencent", "unknown"])
def test_every_check_runs_on_minimal_real_objects(cloud, running):
    annotations = {tf.LB_ID_ANN: tf.LB_ID} if cloud == "tencent" else None
    provider = {"aws": f"aws:///us-east-1a/{a.INSTANCE_1}", "tencent": "qcloud:///800002/ins-node1", "unknown": "kind://docker/x"}[cloud]
    state = make_state(service(annotations), pod(running), node(provider), empty_slice())
    {"aws": aws_world, "tencent": tencent_world}.get(cloud, lambda *_: None)(state, running)
    for check_id in ALL_IDS:
        for finding in run_check(check_id, state):  # validates the objects' shapes first
            assert finding.status != Status.ERROR, (check_id, finding.summary)
            assert finding.summary and "\n" not in finding.summary
