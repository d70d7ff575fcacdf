"""A third cloud provider plugs in with one registration: lbview, the runner, the report's api_calls
and the templates iterate the registry. The fake provider here lives only in this test; nothing
outside it names "acme"."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import pytest

from bot import render
from checks import providers
from checks.collect import dump, live
from checks.lbview import cloud_conflicts, detect_cloud, health_checks, probe_sources, target_type
from checks.model import Finding, Status, Target
from checks.providers.base import HealthCheck, ProbeSource, Source
from checks.registry import READS, Registry, check, default_registry
from checks.runner import build_report
from checks.state import State
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
    lb_words = "Acme"
    target_health_command = "Acme: acmectl balancers health <balancer-id>"

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


def test_without_the_registration_nothing_knows_it():
    state = make_state(service(annotations={"acme.example/balancer": "b-1"}), node(provider_id="acme://zone-a/vm-1"))
    assert "acme" not in providers.names()
    assert detect_cloud(state) is None
    assert health_checks(state) == []
