"""K8S-LB-OWNER: the owning controller, and annotations meant for another one."""

from checks.model import Status
from tests.factories import ingress, make_state, node, pod, run_check, service

ID = "K8S-LB-OWNER"
P = "service.beta.kubernetes.io/aws-load-balancer-"


def test_lbc_owned_service_with_its_annotations_passes():
    svc = service(annotations={P + "type": "external", P + "nlb-target-type": "ip", P + "healthcheck-success-codes": "200-399"})
    [f] = run_check(ID, make_state(svc, pod()))
    assert f.status == Status.PASS
    assert "AWS Load Balancer Controller" in f.summary
    assert f"Service shop/web: AWS Load Balancer Controller (annotation {P}type=external)" in f.evidence


def test_load_balancer_class_names_the_owner():
    svc = service(loadBalancerClass="service.k8s.aws/nlb", annotations={P + "nlb-target-type": "ip"})
    [f] = run_check(ID, make_state(svc, pod()))
    assert f.status == Status.PASS and any("spec.loadBalancerClass=service.k8s.aws/nlb" in e for e in f.evidence)


def test_lbc_only_annotations_on_in_tree_service_are_ignored():
    svc = service(annotations={P + "type": "nlb", P + "nlb-target-type": "ip", P + "healthcheck-success-codes": "200-499"})
    [f] = run_check(ID, make_state(svc, pod()))
    assert f.status == Status.WARN
    assert "in-tree AWS cloud provider (NLB)" in f.summary
    assert f.supports == ("healthcheck-settings",)
    assert any(e.startswith(f"{P}nlb-target-type = 'ip': read only by the AWS Load Balancer Controller; the in-tree provider always registers instances") for e in f.evidence)
    assert any("healthcheck-success-codes" in e for e in f.evidence)


def test_target_type_without_type_annotation_means_classic_elb():
    svc = service(annotations={P + "nlb-target-type": "ip"})
    [f] = run_check(ID, make_state(svc, pod()))
    assert f.status == Status.WARN and "Classic Load Balancer" in f.summary
    assert any("aws-load-balancer-type: external" in e for e in f.evidence)


def test_alb_annotations_on_nginx_ingress_are_ignored():
    ing = ingress(ingress_class="nginx", annotations={"alb.ingress.kubernetes.io/healthcheck-path": "/healthz"})
    state = make_state(service(type="NodePort"), pod(), ing, node())
    [f] = run_check(ID, state)
    assert f.status == Status.WARN
    assert any("class is nginx, not alb" in e for e in f.evidence)
    assert f.supports == ("healthcheck-settings",)


def test_alb_ingress_owned_by_lbc_passes():
    state = make_state(service(type="NodePort"), pod(), ingress(annotations={"alb.ingress.kubernetes.io/scheme": "internal"}))
    [f] = run_check(ID, state)
    assert f.status == Status.PASS
    assert "Ingress shop/web: AWS Load Balancer Controller (class alb)" in f.evidence


def test_clb_settings_on_lbc_nlb_and_tencent_keys_on_aws():
    svc = service(annotations={P + "type": "external", P + "connection-idle-timeout": "60", "service.kubernetes.io/qcloud-loadbalancer-internal-subnetid": "subnet-1"}, )
    state = make_state(svc, pod(), node())
    state.aws.load_balancers = [{"LoadBalancerName": "k8s-shop-web-123", "Type": "network"}]  # the cloud is known from AWS itself
    [f] = run_check(ID, state)
    assert f.status == Status.WARN
    assert any("connection-idle-timeout" in e and "Classic Load Balancer" in e for e in f.evidence)
    assert any("qcloud-loadbalancer-internal-subnetid" in e for e in f.evidence)


def test_aws_annotations_on_clusterip_service_are_ignored():
    svc = service(type="ClusterIP", annotations={P + "healthcheck-path": "/healthz"})
    [f] = run_check(ID, make_state(svc, pod()))
    assert f.status == Status.WARN and any("no controller creates a load balancer" in e for e in f.evidence)


def test_tke_owner_and_unknown_cloud():
    svc = service(annotations={"service.kubernetes.io/loadbalance-id": "lb-1"})
    [f] = run_check(ID, make_state(svc, pod()))
    assert f.status == Status.PASS and "TKE service controller" in f.summary
    [f] = run_check(ID, make_state(service(), pod()))
    assert f.status == Status.SKIP and "not recognised" in f.summary
