"""Honest verdicts: a partial dump or a denied read is `incomplete` (exit 3), never `pass`; a cause
outranks the symptom it explains; the cloud comes from the Service; a missing Service that an
Ingress still points at is the finding. Each case asserts the verdict and the words a person reads.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from bot import render
from bot.cli import main
from bot.incidents import root_message
from bot.render import render_message
from bot.webhooks.alarms import parse_cloudwatch
from checks.collect.live import Clients
from checks.model import Finding, Status, Target
from checks.rank import rank
from checks.runner import diagnose
from tests import factories as f
from tests.fakes.kube_api import FakeKubeAPI
from tests.webhooks import payloads

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def kube_items(path: Path) -> list[dict]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    return [i for d in docs for i in (d.get("items") if d.get("kind") == "List" else [d])]


def write_items(path: Path, items: list[dict]) -> None:
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))


# ---- incomplete: what decides was missing -------------------------------------------------------


def test_a_dump_with_only_the_service_is_incomplete_and_names_the_commands(tmp_path, capsys):
    svc = [i for i in kube_items(EXAMPLES / "targetport-mismatch" / "kubectl-get.yaml") if i["kind"] == "Service"]
    write_items(tmp_path / "svc.yaml", svc)
    code, out = cli(capsys, "diagnose", "shop/web", "--from", str(tmp_path))
    assert code == 3
    head = out.splitlines()
    assert head[0].startswith("? INCOMPLETE  shop/web (aws)")
    assert "Could not decide" in head[1] and "healthy" not in out and "PASS" not in out
    assert "ROOT CAUSE" not in out
    missing = out[out.index("MISSING") : out.index("passed")]
    for command in (
        "kubectl get pods -n shop -o yaml",
        "kubectl get endpointslices -n shop -o yaml",
        "aws elbv2 describe-target-health --target-group-arn",
    ):
        assert command in missing
    assert "k8s.namespace_pods" not in out and "not collected" not in out  # no internal words

    code, out = cli(capsys, "diagnose", "shop/web", "--from", str(tmp_path), "--format", "json")
    data = json.loads(out)
    assert code == 3 and data["verdict"]["status"] == "incomplete" and data["verdict"]["check_id"] is None
    assert list(data)[:3] == ["target", "verdict", "missing"]  # the JSON leads with what is missing too
    assert {m["read"] for m in data["missing"]} == {"k8s.pods", "k8s.endpoints", "aws.elbv2", "aws.target_health"}
    pods = next(m for m in data["missing"] if m["read"] == "k8s.pods")
    assert pods["supply"] == ["kubectl get pods -n shop -o yaml"] and pods["checks"] == ["K8S-POD-READY"]


def test_target_health_without_pods_is_incomplete_not_pass(tmp_path):
    shutil.copytree(EXAMPLES / "healthy", tmp_path / "d")
    kube = tmp_path / "d" / "kubectl-get.yaml"
    write_items(kube, [i for i in kube_items(kube) if i["kind"] != "Pod"])
    report, _ = diagnose(Target.parse("shop/cart"), sources=[str(tmp_path / "d")])
    assert report.verdict.status == Status.INCOMPLETE and report.exit_code == 3
    assert [m.read for m in report.missing] == ["k8s.pods"]
    assert "the pods the Service selects is missing" in report.verdict.summary

    complete, _ = diagnose(Target.parse("shop/cart"), sources=[str(EXAMPLES / "healthy")])
    assert complete.verdict.status == Status.PASS and complete.missing == [] and complete.exit_code == 0


@pytest.fixture
def no_cloud_credentials(monkeypatch, tmp_path):
    import os

    for var in list(os.environ):
        if var.startswith(("AWS_", "TENCENTCLOUD_")) or var == "LBHEALTH_TENCENT_ENDPOINT":
            monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_rbac_denied_pods_is_incomplete_and_a_warning_is_not_the_root_cause(no_cloud_credentials):
    nlb = {
        "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-intervall": "10",  # a typo: an unrelated warning
    }
    objs = [
        f.service("web", "shop", annotations=nlb),
        f.pod("web-1", "shop", labels={"app": "web"}, ip="127.0.0.10"),
        f.endpoint_slice("web", "shop", endpoints=[("127.0.0.10", True, "web-1", "node-1")]),
        f.node("node-1"),
    ]
    forbidden = {("list", "pods", "shop"), ("list", "nodes", None), ("list", "events", "shop")}
    with FakeKubeAPI(objs, forbidden=forbidden) as api:
        report, _ = diagnose(Target.parse("shop/web"), probe=False, clients=Clients(k8s=api.api_client()))
    assert report.verdict.status == Status.INCOMPLETE and report.exit_code == 3
    pods = next(m for m in report.missing if m.read == "k8s.pods")
    assert "cannot list pods in namespace shop" in pods.reason and "grant RBAC verb 'list' on resource 'pods'" in pods.reason
    text = render.render_text(report)
    assert "ROOT CAUSE" not in text and "ALSO FAILING" not in text
    warnings = text[text.index("WARNINGS") :]
    assert "K8S-NLB-ANNOTATIONS" in warnings
    assert "MISSING" in text and text.index("MISSING") < text.index("WARNINGS")
    typo = next(x for x in report.findings if x.check_id == "K8S-NLB-ANNOTATIONS")
    assert "healthcheck-interval=10 service.beta.kubernetes.io/aws-load-balancer-healthcheck-intervall-" in typo.next_step
    assert "protocol=HTTP" not in typo.next_step  # no step for a cause that is not there
    networkpolicy = next(x for x in report.findings if x.check_id == "K8S-NETWORKPOLICY")
    assert "No pod matches" not in networkpolicy.summary and "Could not read the pods" in networkpolicy.summary


def test_incomplete_renders_for_slack_with_what_is_missing_first(tmp_path):
    svc = [i for i in kube_items(EXAMPLES / "targetport-mismatch" / "kubectl-get.yaml") if i["kind"] == "Service"]
    write_items(tmp_path / "svc.yaml", svc)
    report, _ = diagnose(Target.parse("shop/web"), sources=[str(tmp_path)])
    messages = render.slack_report_messages(report)  # validated against Block Kit inside
    first = messages[0]
    assert first["text"].startswith("Could not decide")
    sections = [b["text"]["text"] for b in first["blocks"] if b["type"] == "section"]
    assert any("kubectl get pods -n shop -o yaml" in s for s in sections)
    job = SimpleNamespace(namespace="shop", service="web", cluster=None, requested_by="U1")
    root = render_message("root_done", job=job, verdict=report.verdict, duration="1.0 s")
    assert root["blocks"][0]["text"]["text"].startswith(":large_yellow_circle: ")
    assert "Could not decide" in root["text"]


# ---- a cause outranks the symptom it explains ----------------------------------------------------


def test_a_symptom_never_outranks_a_cause_whatever_the_priors():
    symptom = Finding("AWS-TARGET-HEALTH", Status.FAIL, "2 of 2 targets unhealthy", symptom=True)
    cause = Finding("K8S-NETWORKPOLICY", Status.WARN, "may block the LB", cause="network-policy")
    noise = Finding("K8S-SOURCE-RANGES", Status.WARN, "NodePort open to the internet")
    ordered, verdict = rank([symptom, noise, cause], {"AWS-TARGET-HEALTH": 100, "K8S-NETWORKPOLICY": 0, "K8S-SOURCE-RANGES": 100})
    assert verdict.check_id == "K8S-NETWORKPOLICY"
    assert [x.check_id for x in ordered] == ["K8S-NETWORKPOLICY", "AWS-TARGET-HEALTH", "K8S-SOURCE-RANGES"]


def test_the_symptom_reads_as_the_consequence(capsys):
    code, out = cli(capsys, "diagnose", "shop/web", "--from", str(EXAMPLES / "targetport-mismatch"))
    assert code == 1
    root = out[out.index("ROOT CAUSE") : out.index("CONSEQUENCES OF THE ROOT CAUSE")]
    assert "K8S-TARGETPORT" in root and "AWS-TARGET-HEALTH" not in root
    assert "AWS-TARGET-HEALTH" in out[out.index("CONSEQUENCES OF THE ROOT CAUSE") :]
    summary = out.splitlines()[1].split("  [")[0].strip()
    assert out.count(summary) == 1  # the summary is printed once
    assert "ALSO FAILING" not in out  # nothing else fails; the warnings are not called failures


# ---- Tencent: readiness probes against the CLB health check, offline ----------------------------


def tke_dump(tmp_path: Path, wrap: bool = True, **health_check) -> Path:
    """examples/tke-httpcode-mask with the listener's HealthCheck changed; DescribeListeners as the
    raw API answer (`Response` wrapper) or as tccli prints it."""
    d = tmp_path / "tke"
    shutil.copytree(EXAMPLES / "tke-httpcode-mask", d)
    path = d / "tccli-clb-DescribeListeners.json"
    data = json.loads(path.read_text())
    data["Listeners"][0]["HealthCheck"].update(health_check)
    path.write_text(json.dumps({"Response": data} if wrap else data))
    return d


def finding(report, check_id: str) -> Finding:
    return next(x for x in report.findings if x.check_id == check_id)


@pytest.mark.parametrize("wrap", [True, False])
def test_tencent_httpcode_mask_without_2xx_3xx_is_the_cause(tmp_path, wrap):
    report, _ = diagnose(Target.parse("mall/order"), sources=[str(tke_dump(tmp_path, wrap=wrap))])
    assert report.verdict.check_id == "TC-HEALTHCHECK" and report.verdict.status == Status.FAIL
    root = report.root_cause
    assert "HttpCode 1 accepts only 100-199" in root.summary and "200-399 on /health" in root.summary
    assert any("readiness probe HTTP GET /health on port 8080 passes on 2 Ready pod(s)" in e for e in root.evidence)
    assert '--HealthCheck \'{"HttpCode":7}\'' in root.next_step and "TkeServiceConfig" in root.next_step
    ids = [x.check_id for x in report.findings if x.failing]
    assert ids.index("TC-TARGET-HEALTH") > ids.index("TC-HEALTHCHECK") and finding(report, "TC-TARGET-HEALTH").symptom
    assert "CONSEQUENCES OF THE ROOT CAUSE" in render.render_text(report)


def test_tencent_check_path_other_than_readiness_with_only_2xx_is_the_cause(tmp_path):
    report, _ = diagnose(Target.parse("mall/order"), sources=[str(tke_dump(tmp_path, HttpCheckPath="/", HttpCode=2))])
    root = report.root_cause
    assert root.check_id == "TC-HEALTHCHECK" and root.cause == "healthcheck-path"
    assert "checks / and accepts only 200-299, but the app's readiness path is /health" in root.summary
    assert '"HttpCheckPath":"/health"' in root.next_step


def test_tencent_other_path_accepting_4xx_is_no_claim(tmp_path):
    report, _ = diagnose(Target.parse("mall/order"), sources=[str(tke_dump(tmp_path, HttpCheckPath="/", HttpCode=2 | 4 | 8))])
    assert finding(report, "TC-HEALTHCHECK").status == Status.PASS
    assert report.verdict.check_id == "TC-TARGET-HEALTH"  # nothing explains the Dead targets: the symptom stays the verdict


def test_tencent_https_check_against_a_plain_http_app_is_the_cause(tmp_path):
    report, _ = diagnose(Target.parse("mall/order"), sources=[str(tke_dump(tmp_path, CheckType="HTTPS", HttpCode=2))])
    root = report.root_cause
    assert root.check_id == "TC-HEALTHCHECK" and "CheckType HTTPS speaks TLS to port 8080" in root.summary
    assert '"CheckType":"HTTP"' in root.next_step


def test_tencent_readiness_on_another_port_proves_nothing(tmp_path):
    d = tke_dump(tmp_path, HttpCode=1)
    kube = d / "kubectl-get.yaml"
    items = kube_items(kube)
    for item in items:
        if item["kind"] == "Pod":
            item["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = 9090
    write_items(kube, items)
    report, _ = diagnose(Target.parse("mall/order"), sources=[str(d)])
    hc = finding(report, "TC-HEALTHCHECK")
    assert not any("200-399" in e for e in hc.evidence)
    assert any("readiness probes use port(s) 9090, not the port the CLB checks" in e for e in hc.evidence)


def test_tencent_host_header_of_readiness_missing_from_the_check_is_named(tmp_path):
    d = tke_dump(tmp_path, HttpCode=2 | 4)
    kube = d / "kubectl-get.yaml"
    items = kube_items(kube)
    for item in items:
        if item["kind"] == "Pod":
            item["spec"]["containers"][0]["readinessProbe"]["httpGet"]["httpHeaders"] = [{"name": "Host", "value": "order.mall.internal"}]
    write_items(kube, items)
    report, _ = diagnose(Target.parse("mall/order"), sources=[str(d)])
    hc = finding(report, "TC-HEALTHCHECK")
    assert hc.status == Status.WARN and "the readiness probe sends Host order.mall.internal, the CLB check sends no Host" in hc.summary
    assert '"HttpCheckDomain":"order.mall.internal"' in hc.next_step
    assert any(e.startswith("what the app answers the CLB's check, by hand") and "curl -X GET http://10.0.0.101:8080/health" in e for e in hc.evidence)


# ---- the cloud comes from the Service ------------------------------------------------------------


def test_a_directory_mixing_aws_output_and_a_tke_service_is_diagnosed_as_tencent(tmp_path):
    d = tmp_path / "mixed"
    shutil.copytree(EXAMPLES / "tke-httpcode-mask", d)
    for name in ("aws-elbv2-describe-target-groups.json", "aws-elbv2-describe-target-health.json"):
        shutil.copy(EXAMPLES / "alb-healthcheck-path" / name, d / name)
    report, _ = diagnose(Target.parse("mall/order"), sources=[str(d)])
    assert report.cloud == "tencent" and report.verdict.check_id == "TC-HEALTHCHECK"
    (note,) = report.notes
    assert "mixes clouds or clusters" in note and "diagnosed as tencent (Service annotation" in note
    assert "aws: AWS load balancer output (elbv2) in the input" in note
    assert "note: The input mixes clouds" in render.render_text(report)


def test_a_tke_service_with_only_aws_files_is_not_called_never_provisioned(tmp_path):
    d = tmp_path / "mixed"
    d.mkdir()
    write_items(d / "k.yaml", [i for i in kube_items(EXAMPLES / "tke-httpcode-mask" / "kubectl-get.yaml")])
    for name in ("aws-elbv2-describe-target-groups.json", "aws-elbv2-describe-target-health.json"):
        shutil.copy(EXAMPLES / "alb-healthcheck-path" / name, d / name)
    report, _ = diagnose(Target.parse("mall/order"), sources=[str(d)])
    assert report.cloud == "tencent" and report.verdict.status == Status.INCOMPLETE
    assert not [x for x in report.findings if x.check_id.startswith("AWS-") and x.failing]
    supply = [line for m in report.missing for line in m.supply]
    assert "tccli clb DescribeTargetHealth --LoadBalancerIds '[\"lb-6efswuxa\"]'" in supply
    assert report.notes and "mixes clouds" in report.notes[0]


# ---- a missing Service that something points at ------------------------------------------------


def test_missing_service_behind_an_ingress_is_the_root_cause(capsys):
    code, out = cli(capsys, "diagnose", "shop/checkout", "--from", str(EXAMPLES / "ingress-missing-service"))
    assert code == 1
    assert out.startswith("✗ FAIL  shop/checkout (aws)")
    assert "Service shop/checkout does not exist, but Ingress shop/checkout still sends traffic to it" in out
    root = out[out.index("ROOT CAUSE") :]
    assert "Ingress shop/checkout routes to Service checkout, which does not exist" in root
    assert 'FailedBuildModel (x9): Failed build model due to ingress: shop/checkout: Service "checkout" not found' in root
    assert "Close names in shop: checkout-v2" in root and "kubectl edit ingress checkout -n shop" in root


def test_missing_service_nothing_points_at_stays_bad_input(tmp_path, capsys):
    items = [i for i in kube_items(EXAMPLES / "ingress-missing-service" / "kubectl-get.yaml") if i["kind"] != "Ingress"]
    write_items(tmp_path / "k.yaml", items)
    code, out = cli(capsys, "diagnose", "shop/checkout", "--from", str(tmp_path))
    assert code == 2 and "did you mean shop/checkout-v2?" in out


# ---- words --------------------------------------------------------------------------------------


def test_skip_reasons_are_never_cut_and_long_lists_collapse():
    from checks.model import Report, Verdict

    command = "kubectl get networkpolicy -n shop -o yaml"
    skips = [Finding(f"K8S-X{i}", Status.SKIP, f"reason {i}: add the output of `{command} --selector app=web-{i}`") for i in range(60)]
    report = Report(Target.parse("shop/web"), Verdict(Status.PASS, None, "ok"), [Finding("K8S-Y", Status.PASS, "fine"), *skips])
    messages = render.slack_report_messages(report)  # Block Kit limits validated inside
    text = messages[-1]["blocks"][-2]["elements"][0]["text"]
    lines = text.splitlines()[1:]
    assert lines[-1].startswith("+") and "more skipped checks" in lines[-1]
    for n, line in enumerate(lines[:-1]):  # every reason whole, its command intact (backticks escaped as ˋ in Slack)
        assert line == f"K8S-X{n}: reason {n}: add the output of ˋ{command} --selector app=web-{n}ˋ", line
    shown = len(lines) - 1
    assert lines[-1].startswith(f"+{60 - shown} ")
    assert all(f"app=web-{i}`" in render.render_text(report) for i in range(60))  # the terminal shows every one


def test_markdown_report_leads_with_what_is_missing(tmp_path):
    svc = [i for i in kube_items(EXAMPLES / "targetport-mismatch" / "kubectl-get.yaml") if i["kind"] == "Service"]
    write_items(tmp_path / "svc.yaml", svc)
    report, _ = diagnose(Target.parse("shop/web"), sources=[str(tmp_path)])
    md = render.render_markdown(report)
    assert md.startswith("# INCOMPLETE: shop/web")
    assert "## Missing" in md and "`kubectl get pods -n shop -o yaml`" in md


def test_a_dump_mixing_two_tke_clusters_says_so(tmp_path):
    d = tmp_path / "two"
    shutil.copytree(EXAMPLES / "tke-httpcode-mask", d)
    other = json.loads((EXAMPLES / "tke-security-group-vip" / "tccli-clb-DescribeLoadBalancers.json").read_text())
    for lb in other["LoadBalancerSet"]:
        lb["Tags"] = [{"TagKey": "tke-clusterId", "TagValue": "cls-other999"}]
    (d / "other-cluster-DescribeLoadBalancers.json").write_text(json.dumps(other))
    report, _ = diagnose(Target.parse("mall/order"), sources=[str(d)])
    (note,) = [n for n in report.notes if "mixes clusters" in n]
    assert "cls-7h3k9d2f (tag tke-clusterId on CLB lb-6efswuxa)" in note and "cls-other999" in note


def test_slack_never_cuts_a_command_and_gives_one_command_per_fix():
    long_step = "kubectl apply -f - <<'EOF'\n" + '{"spec": "' + "x" * 1200 + '"}\nEOF'
    report, _ = diagnose(Target.parse("shop/web"), sources=[str(EXAMPLES / "targetport-mismatch")])
    symptom = next(x for x in report.findings if x.check_id == "AWS-TARGET-HEALTH")
    symptom.next_step = long_step
    messages = render.slack_report_messages(report)
    text = json.dumps(messages)
    assert "x" * 100 not in text and "a command of 1" in text  # said to be too long, never cut short
    root = messages[0]["blocks"]
    assert not any(b["type"] == "section" and b["text"]["text"].startswith("*Next step*") for b in root)  # next step == fix command
    assert sum("kubectl patch svc web -n shop" in b["text"]["text"] for b in root if b["type"] == "section") == 1


def test_alarm_incident_and_too_large_messages_say_could_not_decide(tmp_path):
    svc = [i for i in kube_items(EXAMPLES / "targetport-mismatch" / "kubectl-get.yaml") if i["kind"] == "Service"]
    write_items(tmp_path / "svc.yaml", svc)
    report, _ = diagnose(Target.parse("shop/web"), sources=[str(tmp_path)])
    job = SimpleNamespace(namespace="shop", service="web", cluster=None, requested_by="U1")
    big = render_message("too_large", job=job, verdict=report.verdict, n_findings=80, filename="report.md")
    assert big["blocks"][0]["text"]["text"].startswith(":large_yellow_circle: *Verdict:* Could not decide")
    alarm = parse_cloudwatch(json.dumps(payloads.cloudwatch_alb()), message_id="m1")
    incident = {"id": "abc", "state": "open", "count": 1, "opened_at": 1.0, "flaps": 0, "alarm": alarm.to_dict(),
                "verdict": report.verdict.to_dict()}
    root = root_message(incident, now=50.0)
    assert any("*could not decide*: Could not decide" in (b.get("text") or {}).get("text", "") for b in root["blocks"])


def test_missing_service_a_target_group_binding_points_at_is_the_root_cause():
    from checks.registry import default_registry
    from checks.runner import build_report, select
    from tests.aws_factories import target_group_binding

    state = f.make_state(f.service("web-v2", "shop"), target_group_binding(service="web"))
    specs = select(default_registry())
    report = build_report(state, specs, started=0.0)
    root = report.root_cause
    assert root.check_id == "K8S-SVC-EXISTS" and root.status == Status.FAIL and root.cause == "missing-service"
    assert "TargetGroupBinding shop/k8s-shop-web-tg0123456 registers Service web port 80 in target group" in root.evidence[1]
    assert report.exit_code == 1


def test_a_crashing_check_logs_no_traceback_above_debug(caplog):
    from checks.registry import CheckSpec
    from checks.runner import run_one

    def boom(state):
        raise KeyError("Description")

    spec = CheckSpec("K8S-POD-READY", "Pods are ready", "s", ("k8s.service", "k8s.pods"), "k8s", boom)
    state = f.make_state(f.service(type="ClusterIP"), f.pod("web-1", labels={"app": "web"}))
    with caplog.at_level("DEBUG", logger="checks.runner"):
        (finding,) = run_one(spec, state)
    assert finding.status == Status.ERROR
    assert [r.levelname for r in caplog.records if r.exc_info] == ["DEBUG"]
    assert any(r.levelname == "ERROR" and "KeyError" in r.getMessage() for r in caplog.records)


def test_a_deciding_check_that_crashes_makes_the_verdict_incomplete():
    from checks.registry import CheckSpec
    from checks.runner import build_report

    def boom(state):
        raise KeyError("Description")

    def fine(state):
        return Finding("K8S-SVC-EXISTS", Status.PASS, "exists")

    specs = [
        CheckSpec("K8S-SVC-EXISTS", "t", "s", ("k8s.service",), "k8s", fine),
        CheckSpec("K8S-POD-READY", "Pods are ready", "s", ("k8s.service", "k8s.pods"), "k8s", boom, decides=("k8s.pods",)),
    ]
    state = f.make_state(f.service(type="ClusterIP"), f.pod("web-1", labels={"app": "web"}))
    report = build_report(state, specs, started=0.0)
    assert report.verdict.status == Status.INCOMPLETE and report.exit_code == 3
    (gap,) = report.missing
    assert gap.read == "K8S-POD-READY" and "The check crashed (KeyError" in gap.reason
    assert "the verdict of K8S-POD-READY (Pods are ready)" in report.verdict.summary


def test_a_load_balancer_of_no_recognised_cloud_is_not_called_healthy():
    from checks.registry import default_registry
    from checks.runner import build_report, select

    objs = [
        f.service(),
        f.pod("web-1", labels={"app": "web"}, ip="127.0.0.2", node="node-1"),
        f.endpoint_slice(),
        f.node("node-1", provider_id="kind://docker/kind/node-1"),
    ]
    report = build_report(f.make_state(*objs), select(default_registry()), started=0.0)
    assert report.cloud is None and report.verdict.status == Status.INCOMPLETE
    (gap,) = report.missing
    assert gap.what == "the load balancer's own view of its targets" and "neither AWS nor Tencent Cloud was recognised" in gap.reason
    assert set(gap.checks) == {"AWS-TARGET-HEALTH", "TC-TARGET-HEALTH"}


@pytest.mark.parametrize(
    "kind",
    ["acl", "httpcode"],
)
def test_tencent_cause_with_evidence_outranks_dead_targets(kind):
    from checks.registry import default_registry
    from checks.runner import build_report, select
    from tests import tencent_factories as tf

    if kind == "acl":
        acl = tf.network_acl(ingress=[tf.acl_entry("DROP", "100.64.0.0/10", desc="block NAT range"), tf.acl_entry("ACCEPT", "0.0.0.0/0")])
        state = tf.scenario(healthy=False, acl=acl).state()
        expected = "TC-ACL"
    else:
        state = tf.scenario(healthy=False, hc=tf.health_check(CheckType="HTTP", HttpCode=16, HttpCheckPath="/")).state()
        for pod in state.k8s.of_kind("Pod"):
            pod["spec"]["containers"][0]["readinessProbe"] = {"httpGet": {"path": "/", "port": 80, "scheme": "HTTP"}}
        expected = "TC-HEALTHCHECK"
    report = build_report(state, select(default_registry()), started=0.0, severity={"TC-TARGET-HEALTH": 100, expected: 0})
    assert report.verdict.check_id == expected, [(x.check_id, x.status) for x in report.findings if x.failing]
    th = next(x for x in report.findings if x.check_id == "TC-TARGET-HEALTH")
    assert th.status == Status.FAIL and th.symptom
    assert "CONSEQUENCES OF THE ROOT CAUSE" in render.render_text(report)


def test_words_an_on_call_engineer_reads_in_the_examples():
    def report_of(example: str, target: str):
        return diagnose(Target.parse(target), sources=[str(EXAMPLES / example)])[0]

    fail_open = finding(report_of("selector-mismatch", "default/alb-instance"), "AWS-FAIL-OPEN")
    assert "no pod of the Service is ready, so requests fail now" in fail_open.summary and "traffic may still flow" not in fail_open.summary

    netpol = report_of("networkpolicy-deny", "web/front").root_cause
    assert netpol.check_id == "K8S-NETWORKPOLICY" and "10.1.1.10" not in netpol.summary  # a node IP is not the ALB's source
    assert "VPC_CIDR=$(aws ec2 describe-vpcs --vpc-ids vpc-0123abcd" in netpol.next_step and "10.1.1.10/32" not in netpol.next_step

    nlb = report_of("nlb-annotation-range", "payments/gateway").root_cause
    timeout_line = next(e for e in nlb.evidence if "is not below" in e)
    assert "healthcheck-timeout = '6' (annotation)" in timeout_line
    assert "healthcheck-interval = 5 s (the annotation's '3' brought into range)" in timeout_line

    pending = finding(report_of("pods-pending", "orders/orders"), "K8S-ENDPOINTS")
    assert "targetPort" not in pending.next_step and pending.next_step.startswith("kubectl describe pod orders-7c8d9-aaaaa")

    events = finding(report_of("image-pull-backoff", "api/billing"), "K8S-EVENTS")
    assert not any(e.startswith("Consistent with") for e in events.evidence)  # no internal mechanism names

    alb = report_of("alb-healthcheck-path", "shop/checkout").root_cause
    assert "/lbhealth" not in alb.next_step
    text = render.render_text(report_of("traffic-policy-local", "shop/api"))
    assert "seed 000" not in text and "ALSO FAILING" not in text


def test_a_symptom_nothing_explains_is_not_called_a_root_cause_nor_is_a_lone_warning(tmp_path):
    report, _ = diagnose(Target.parse("mall/order"), sources=[str(tke_dump(tmp_path, HttpCheckPath="/", HttpCode=2 | 4 | 8))])
    assert report.verdict.check_id == "TC-TARGET-HEALTH"
    text = render.render_text(report)
    assert "NO CAUSE FOUND: what the load balancer sees, and no check explains it  TC-TARGET-HEALTH" in text
    assert "ROOT CAUSE" not in text
    assert render.slack_report_messages(report)[0]["text"].startswith("No cause found: ")

    from checks.model import Report, Verdict

    warning = Finding("K8S-SOURCE-RANGES", Status.WARN, "the NodePort is open to the internet")
    lone = Report(Target.parse("shop/web"), Verdict(Status.WARN, "K8S-SOURCE-RANGES", warning.summary), [warning])
    text = render.render_text(lone)
    assert "ROOT CAUSE" not in text and "WARNINGS (1)" in text
