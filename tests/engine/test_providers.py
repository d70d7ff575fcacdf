"""A third cloud provider plugs in with one registration: lbview, the runner, the report's api_calls,
the templates, the fix engine (its writer, verification's target health) and the alarm follow-up
(incident key, Service mapping, diagnosis options) iterate the registry. The fake provider here lives
only in this test; nothing outside it names "acme"."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import pytest

from bot import render
from bot.fixes import cloud, engine, sg_rule, verify
from bot.fixes.base import CloudResult, CloudWrite, Permission, PlanError, require
from bot.fixes.model import FixContext, Outcome
from checks import providers
from checks.collect import apishapes, dump, live
from checks.lbview import cloud_conflicts, detect_cloud, health_checks, probe_sources, target_type
from checks.model import Finding, FixPlan, ObjectRef, Status, Target
from checks.providers.base import HealthCheck, ProbeSource, Source
from checks.registry import READS, Registry, check, default_registry
from checks.runner import build_report
from checks.state import State
from tests.engine.acme_collector import AcmeClient
from tests.factories import make_state, node, service


@dataclass
class AcmeState:
    region: str | None = None
    balancers: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.balancers


class Acme:
    name = "acme"
    title = "Acme Cloud"
    collector = "tests.engine.acme_collector"
    dump_module = "tests.engine.acme_collector"
    shapes_module = "tests.engine.acme_collector"
    dump_tool = "acmectl"
    annotation_prefixes = ("acme.example/",)
    ingress_classes = ("acme",)
    ingress_annotation_prefixes = ("ingress.acme.example/",)
    lb_domains = (".lb.acme.example",)
    provider_id_prefixes = ("acme://",)
    dump_evidence = "Acme balancer output in the input"
    check_prefix = "ACME"
    check_package = "tests.engine.no_acme_checks_are_imported"  # the catalogue is loaded before Acme joins
    reads = ("acme.balancers",)
    sources = {"acme.balancers": Source("the Acme balancer", ("acmectl balancers show {bal}{region}",), "Acme role balancer:Read")}
    grantee = "the bot's Acme role"
    lb_words = "Acme"
    target_health_command = "Acme: acmectl balancers health <balancer-id>"
    target_health_read = "acme.balancers"
    alarm_mapper = "tests.engine.acme_collector"

    def command_fields(self, state: State) -> dict[str, str]:
        return {"bal": "b-1"}

    def state_slice(self, state: State) -> AcmeState:
        raw = state.clouds.setdefault(self.name, {"balancers": ()})
        return AcmeState(region=raw.get("region"), balancers=raw["balancers"])

    def lb_address(self, state: State, ip: str) -> str:
        return "an Acme balancer address" if ip == "127.0.77.1" else ""

    def cluster_names(self, state: State) -> dict[str, str]:
        return {"acme-prod": "tag cluster on balancer b-1"} if self.state_slice(state).balancers else {}

    def target_type(self, state: State) -> str:
        return "ip"

    def health_checks(self, state: State) -> list[HealthCheck]:
        return [HealthCheck(source="Acme balancer b-1", protocol="HTTP", port="8080", path="/ready", target_type="ip")]

    def probe_sources(self, state: State) -> tuple[list[ProbeSource], str]:
        return [ProbeSource("127.0.78.0/24", "Acme health-check range")], "the Acme documentation"

    def target_health(self, state: State) -> tuple[int, int]:
        raw = state.clouds.get(self.name) or {}
        return len(raw.get("healthy") or ()), len(raw.get("balancers") or ())

    def settle_s(self, state: State) -> float:
        return 7.0 * 2 if self.state_slice(state).balancers else 0.0

    def alarm_key(self, alarm: dict) -> str:
        return f"acme:{alarm.get('region') or ''}:{alarm['lb']['balancer']}"

    def alarm_subject(self, alarm: dict) -> tuple[str, str]:
        return "Acme balancer", alarm["lb"]["balancer"]

    def alarm_options(self, alarm: dict) -> dict:
        return {"acme_balancer": alarm["lb"]["balancer"]}


@pytest.fixture
def acme():
    default_registry()  # the built-in catalogue, loaded before Acme joins
    p = Acme()
    providers.register(p)
    yield p
    providers.unregister(p.name)


def test_registered_provider_is_recognised_and_asked_for_every_view(acme):
    state = make_state(service(annotations={"acme.example/balancer": "b-1"}), node(provider_id="acme://zone-a/vm-1"))
    assert providers.names() == ("aws", "tencent", "acme")
    assert detect_cloud(state) == "acme"
    assert target_type(state) == "ip"
    assert [hc.path for hc in health_checks(state)] == ["/ready"]
    assert probe_sources(state) == ([ProbeSource("127.0.78.0/24", "Acme health-check range")], "the Acme documentation")


def test_evidence_from_hostname_address_and_node(acme):
    by_host = make_state(service(hostname="web-123.lb.acme.example"))
    by_ip = make_state(service(ingress_ip="127.0.77.1"))
    by_node = make_state(service(), node(provider_id="acme://zone-a/vm-1"))
    assert [detect_cloud(s) for s in (by_host, by_ip, by_node)] == ["acme"] * 3


def test_mixed_input_names_the_registered_provider(acme):
    state = make_state(service(annotations={"service.beta.kubernetes.io/aws-load-balancer-type": "external"}))
    state.clouds["acme"] = {"balancers": ("b-1",)}
    notes = cloud_conflicts(state)
    assert detect_cloud(state) == "aws"
    assert "ignored as belonging elsewhere: acme: Acme balancer output in the input" in notes[0]


def test_report_counts_and_renders_the_registered_providers_calls(acme):
    state = make_state(service(annotations={"acme.example/balancer": "b-1"}))
    state.api_calls.update({"k8s": 4, "acme": 3})
    report = build_report(state, default_registry().all(), time.monotonic())
    assert report.cloud == "acme"
    assert report.api_calls == {"k8s": 4, "aws": 0, "tencent": 0, "acme": 3}
    assert "api calls: k8s 4, aws 0, tencent 0, acme 3" in render.render_text(report)
    assert "API calls: k8s 4, aws 0, tencent 0, acme 3;" in render.render_markdown(report)
    slack = json.dumps(render.slack_report_messages(report))
    assert "API calls: k8s 4, aws 0, tencent 0, acme 3" in slack


def test_catalogue_and_deciding_reads_take_the_providers_layer_and_reads(acme):
    catalogue = Registry()

    @check("ACME-TARGET-HEALTH", title="Acme balancer targets healthy", seed="Check the balancer's targets",
           reads=("k8s.service", "acme.balancers"), decides=("acme.balancers",), registry=catalogue)
    def acme_targets(state: State) -> Finding:
        return Finding("ACME-TARGET-HEALTH", Status.PASS, "every target healthy")

    assert catalogue.get("ACME-TARGET-HEALTH").layer == "acme"
    state = make_state(service(annotations={"acme.example/balancer": "b-1"}), reads=set(READS), offline=True)
    state.clouds["acme"] = {"balancers": (), "region": "eu-1"}
    report = build_report(state, catalogue.all(), time.monotonic())
    assert report.verdict.status == Status.INCOMPLETE
    assert [(m.read, m.what, m.reason, m.supply) for m in report.missing] == [
        ("acme.balancers", "the Acme balancer", "not in the dump", ("acmectl balancers show b-1 --region eu-1",))
    ]


def test_no_cloud_recognised_names_every_provider(acme):
    catalogue = Registry()

    @check("ACME-TARGET-HEALTH", title="Acme balancer targets healthy", seed="Check the balancer's targets",
           reads=("acme.balancers",), decides=("acme.balancers",), registry=catalogue)
    def acme_targets(state: State) -> None:
        return None

    state = make_state(service(), node(provider_id="gce://p/z/vm-1"))
    gap = build_report(state, catalogue.all(), time.monotonic()).missing[0]
    assert gap.read == "cloud"
    assert "neither AWS nor Tencent Cloud nor Acme Cloud was recognised" in gap.reason
    assert "AWS/CLB/Acme hostname or node providerID aws:// or qcloud:// or acme://" in gap.reason
    assert gap.supply[-1] == "Acme: acmectl balancers health <balancer-id>"


def test_live_collection_asks_only_the_provider_in_front(acme):
    catalogue = Registry()

    @check("ACME-TARGET-HEALTH", title="Acme balancer targets healthy", seed="Check the balancer's targets",
           reads=("acme.balancers",), registry=catalogue)
    @check("AWS-TARGET-HEALTH-TOO", title="AWS targets", seed="Check the targets", reads=("aws.target_health",),
           registry=catalogue)
    def targets(state: State) -> None:
        return None

    state = live.collect(Target.parse("shop/web"), catalogue.all(), options={"cloud": "acme"}, clients=live.Clients())
    assert state.did_read("acme.balancers") and state.clouds["acme"]["balancers"] == ("b-1",)
    assert state.api_calls["acme"] == 1 and state.api_calls["aws"] == 0
    assert state.skipped_reads["aws.target_health"] == "not applicable: the load balancer is on acme"


def test_dump_recognises_its_output_and_names_its_cli_when_absent(acme, tmp_path):
    (tmp_path / "svc.json").write_text(json.dumps(service()))
    (tmp_path / "acme.json").write_text(json.dumps({"AcmeBalancers": ["b-1"]}))
    state = dump.load_state(Target.parse("shop/web"), [str(tmp_path)])
    assert state.did_read("acme.balancers") and detect_cloud(state) == "acme"
    assert state.skipped_reads["aws.elbv2"] == "offline: the dump has no AWS CLI output for this"

    (tmp_path / "acme.json").unlink()
    state = dump.load_state(Target.parse("shop/web"), [str(tmp_path)])
    assert state.skipped_reads["acme.balancers"] == "offline: the dump has no acmectl output for this"


def test_dump_checks_its_output_against_its_shapes(acme, tmp_path):
    assert apishapes.response_model({"AcmeBalancers": ["b-1"]}) == ({"AcmeBalancers": list}, "acmectl balancers list")
    assert apishapes.document_problems({"AcmeBalancers": ["b-1"]}) == []
    (tmp_path / "svc.json").write_text(json.dumps(service()))
    (tmp_path / "acme.json").write_text(json.dumps({"AcmeBalancers": "b-1"}))
    with pytest.raises(dump.DumpError, match="AcmeBalancers is the string 'b-1'; acmectl balancers list prints a list there"):
        dump.load_state(Target.parse("shop/web"), [str(tmp_path)])


def test_without_the_registration_nothing_knows_it():
    state = make_state(service(annotations={"acme.example/balancer": "b-1"}), node(provider_id="acme://zone-a/vm-1"))
    assert "acme" not in providers.names()
    assert detect_cloud(state) is None
    assert health_checks(state) == []
    assert apishapes.response_model({"AcmeBalancers": ["b-1"]}) is None and cloud.writer("acme") is None


# ---- the fix engine: a registered provider's writer takes its plans, and verify asks the provider -----


class AcmeFirewall:
    """The fake provider's writer: its firewall API is a dict (the calls it would send, and their undo)."""

    provider = "acme"
    checks = ("ACME-SG",)
    permissions = (Permission("acme-role", action="firewall:Allow"), Permission("acme-role", action="firewall:Deny"))

    def __init__(self) -> None:
        self.firewall: dict[str, list[str]] = {"fw-1": ["tcp 22 from 127.0.0.0/24"]}

    def owns(self, api_version: str) -> bool:
        return api_version.startswith("acme/")

    def plan_write(self, plan: FixPlan, fix_id: str) -> CloudWrite:
        require(set(plan.patch) == {"Firewall", "Allow"}, fix_id, "Firewall and Allow only")
        return CloudWrite("acme", "Allow", plan.patch, plan.target.namespace, plan.command)

    def authorize(self, write: CloudWrite, clients: Any) -> CloudResult:
        self.firewall[write.params["Firewall"]] += write.params["Allow"]
        return CloudResult("applied", f"allowed on {write.params['Firewall']}")

    def revoke(self, pre_image: dict[str, Any], clients: Any) -> CloudResult:
        params = pre_image["params"]
        self.firewall[params["Firewall"]] = [r for r in self.firewall[params["Firewall"]] if r not in params["Allow"]]
        return CloudResult("applied", f"denied again on {params['Firewall']}")

    def revoke_command(self, pre_image: dict[str, Any]) -> str:
        return f"acmectl firewall deny {pre_image['params']['Firewall']}"

    def rules(self, write: CloudWrite, clients: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        group = write.params["Firewall"]
        return {group: list(self.firewall[group])}, {group: self.firewall[group] + write.params["Allow"]}


@pytest.fixture
def acme_writes(acme):
    w = AcmeFirewall()
    cloud.register(w)
    yield w
    cloud.unregister(w.provider)


def _acme_plan() -> FixPlan:
    return FixPlan(id="FIX-SG-RULE", title="t", patch={"Firewall": "fw-1", "Allow": ["tcp 30080 from 127.0.78.0/24"]},
                   command="acmectl firewall allow fw-1 tcp/30080 127.0.78.0/24", target=ObjectRef("SecurityGroup", "fw-1", "eu-1", "acme/v1"),
                   patch_type="cloud-api")


def test_fix_engine_writes_through_the_registered_providers_writer(acme_writes):
    assert sg_rule.CHECKS == ("AWS-SG", "TC-SG", "ACME-SG") and acme_writes.permissions[0] in sg_rule.PERMISSIONS
    assert sg_rule.write(_acme_plan(), None) == CloudWrite("acme", "Allow", _acme_plan().patch, "eu-1", _acme_plan().command)

    p = engine.preview(_acme_plan(), Target.parse("shop/web"), FixContext(), check_id="ACME-SG")
    assert p.after == {"fw-1": ["tcp 22 from 127.0.0.0/24", "tcp 30080 from 127.0.78.0/24"]}
    assert "acme security group fw-1 ingress rules" in p.diff and "\n+- tcp 30080 from 127.0.78.0/24\n" in p.diff
    off = engine.apply(p.to_dict(), "U1", "j1", FixContext())
    assert off.status == "command" and off.message.endswith("acmectl firewall allow fw-1 tcp/30080 127.0.78.0/24")
    assert acme_writes.firewall["fw-1"] == ["tcp 22 from 127.0.0.0/24"]  # cloud writes off: nothing sent

    write = sg_rule.write(_acme_plan(), None)
    assert cloud.authorize(write, live.Clients()).status == "applied"
    pre = {"provider": "acme", "params": write.params, "region": "eu-1"}
    applied = Outcome("applied", "allowed", "FIX-SG-RULE", p.target, p.object, p.digest, pre_image=pre, cloud=True)
    by_hand = engine.rollback(applied.to_dict(), "U2", "j2", FixContext())
    assert by_hand.status == "command" and by_hand.message.endswith("acmectl firewall deny fw-1")
    back = engine.rollback(applied.to_dict(), "U2", "j2", FixContext(cloud_writes=True))
    assert (back.status, back.message) == ("rolled-back", "denied again on fw-1")
    assert acme_writes.firewall["fw-1"] == ["tcp 22 from 127.0.0.0/24"]


def test_a_plan_for_an_unregistered_cloud_api_is_refused(acme):
    with pytest.raises(PlanError, match="unknown cloud API 'acme/v1'"):
        sg_rule.write(_acme_plan(), None)  # Acme reads, but has no writer: nothing to send it to
    assert "ACME-SG" not in sg_rule.CHECKS and cloud.writer("acme") is None


def test_verification_asks_the_provider_in_front_for_target_health_and_its_timing(acme):
    state = make_state(service(), reads={"acme.balancers"})
    state.clouds["acme"] = {"balancers": ("b-1", "b-2"), "healthy": ("b-1",)}
    assert verify._health(state, "acme") == (1, 2)
    assert verify._timeout(state, "acme") == 7.0 * 2 + verify.VERIFY_MARGIN_S
    state.read_errors["acme.balancers"] = "denied: Acme role balancer:Read"
    assert verify._health(state, "acme") is None
    assert verify._why_not_read(state, "acme") == "denied: Acme role balancer:Read"
    assert verify._health(state, None) is None and verify._timeout(make_state(service()), "acme") == verify.DEFAULT_TIMEOUT_S


def test_an_alarm_on_the_registered_provider_is_keyed_mapped_and_queued_through_it(acme, redis_url):
    """The webhook parser (per source) says which provider the alarm is on; from there the incident key,
    the Service mapping (fake Kubernetes API) and the diagnosis options come from that provider, in the
    workers' follow-up, with real Redis and the real queue."""
    import redis as redis_lib

    from bot.incidents import Incidents
    from bot.incidents.followup import FollowUps
    from bot.queue import DiagnosisJob, enqueue_diagnosis, get_queue
    from bot.webhooks.alarms import Alarm
    from bot.webhooks.jobs import Mapper, job_options
    from checks.collect.alarm_map import Clients
    from tests.fakes.kube_api import FakeKubeAPI

    alarm = Alarm(source="acme-hook", provider="acme", state="ALARM", name="b-1 unhealthy", dedup_id="d-1", region="eu-1",
                  lb={"balancer": "b-1"})
    assert (alarm.incident_key, alarm.subject_kind, alarm.subject) == ("acme:eu-1:b-1", "Acme balancer", "b-1")
    r = redis_lib.Redis.from_url(redis_url)
    web = service("web", annotations={"acme.example/balancer": "b-1"})
    with FakeKubeAPI([service("other", annotations={"acme.example/balancer": "b-2"}), web]) as kube:
        incidents = Incidents(r)
        assert incidents.record(alarm).need_enqueue
        clients = Clients(kube=lambda ctx: kube.api_client())
        mapper = Mapper(r, clients=clients)
        follow = FollowUps(incidents, slack=None, enqueue=enqueue_diagnosis, route=lambda a, m: "C0ACME", mapper=mapper)
        try:
            assert follow.drain()
        finally:
            follow.stop()
        assert kube.count(verb="list", resource="services", cluster_wide=True) == 1
    # its own API client came through the shared Clients, which name no cloud
    assert AcmeClient.made == ["eu-1"] and clients.cloud("acme", "eu-1", AcmeClient).calls == ["b-1"]
    [job] = [get_queue(r).fetch_job(i) for i in get_queue(r).job_ids]
    payload = job.args[0]
    assert (payload["namespace"], payload["service"], payload["incident_key"]) == ("shop", "web", "acme:eu-1:b-1")
    assert payload["extra"]["mapping"]["how"] == "annotation acme.example/balancer=b-1"
    options = job_options(DiagnosisJob.model_validate(payload))
    assert options == {"acme_balancer": "b-1", "cloud": "acme"}
    r.close()
