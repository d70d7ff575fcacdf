"""A skimmed kubectl YAML List (checks/collect/yaml_list.py) gives the same diagnosis as the whole parse.

Each case loads a dump twice, with and without skimming, and compares the report (verdict, findings,
notes, missing reads) and what a check can read; odd YAML must fall back to the whole parse.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

import pytest
import yaml

from checks.collect import yaml_list
from checks.collect.dump import load_state
from checks.collect.errors import DumpError
from checks.model import Target
from checks.registry import default_registry
from checks.runner import build_report, select
from tests import factories as f
from tests.engine.test_examples import CASES

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = {"probe": False, "node": False, "offline": True, "context": None}
EXAMPLES = [(example, target) for example, target, _, _ in CASES] + [("healthy", "shop/cart"), ("healthy-alb", "web/front")]


def kubectl_list(items: list[dict]) -> str:
    """A List the way `kubectl get -o yaml` lays it out (sorted keys, block style, sequences not indented)."""
    doc = {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}
    return yaml.safe_dump(doc, sort_keys=True, default_flow_style=False)


def other_teams_pods(n: int = 40) -> list[dict]:
    pods = [f.pod(f"app-{i}", f"team-{i % 4}", ip=f"127.9.{i // 250}.{i % 250}", labels={"app": "web"}) for i in range(n)]
    return pods + [f.pod("kube-proxy-abcde", "kube-system", ip="127.9.200.1", labels={"k8s-app": "kube-proxy"})]


def diagnosis(target: str, sources: list[str], skim: bool) -> tuple[dict, object]:
    t = Target.parse(target)
    state = load_state(t, sources, options=OPTIONS, skim_lists=skim)
    report = build_report(state, select(default_registry()), 0.0).to_dict()
    report.pop("duration_ms")
    return report, state


def assert_same_diagnosis(target: str, sources: list[str]) -> tuple[object, object]:
    """The reports are equal, and so is every object a check of `target` can read."""
    full_report, full = diagnosis(target, sources, skim=False)
    skim_report, skimmed = diagnosis(target, sources, skim=True)
    assert skim_report == full_report
    ns = Target.parse(target).namespace
    for kind in set(full.k8s.objects) | set(skimmed.k8s.objects):
        if kind != "Pod":
            assert skimmed.k8s.of_kind(kind) == full.k8s.of_kind(kind)
    for namespace in (ns, "kube-system"):
        assert skimmed.k8s.of_kind("Pod", namespace) == full.k8s.of_kind("Pod", namespace)
    assert (skimmed.reads_done, skimmed.skipped_reads) == (full.reads_done, full.skipped_reads)
    return full, skimmed


@pytest.mark.parametrize(("example", "target"), EXAMPLES)
def test_every_example_with_a_cluster_of_other_pods_gets_the_same_diagnosis(tmp_path, example, target):
    shutil.copytree(ROOT / "examples" / example, tmp_path / example)
    (tmp_path / example / "pods-A.yaml").write_text(kubectl_list(other_teams_pods()))
    full, skimmed = assert_same_diagnosis(target, [str(tmp_path / example)])
    assert len(skimmed.k8s.of_kind("Pod")) == len(full.k8s.of_kind("Pod")) - 40  # the skim did happen


def test_a_left_out_pod_whose_ip_is_a_target_falls_back_to_the_whole_parse(tmp_path):
    shutil.copytree(ROOT / "examples" / "targetport-mismatch", tmp_path / "d")
    stranger = f.pod("stranger", "team-x", ip="192.168.93.144")  # a target Id in the target health answer
    (tmp_path / "d" / "pods-A.yaml").write_text(kubectl_list([*other_teams_pods(), stranger]))
    full, skimmed = assert_same_diagnosis("shop/web", [str(tmp_path / "d")])
    assert skimmed.k8s.objects == full.k8s.objects
    names = [p["metadata"]["name"] for p in skimmed.k8s.pods_by_ip("192.168.93.144")]
    assert "stranger" in names and names == [p["metadata"]["name"] for p in full.k8s.pods_by_ip("192.168.93.144")]


def with_pods_file(tmp_path: Path, text: str) -> list[str]:
    shutil.copytree(ROOT / "examples" / "targetport-mismatch", tmp_path / "d")
    (tmp_path / "d" / "pods-A.yaml").write_text(text)
    return [str(tmp_path / "d")]


# The first pod (team-0, left out) holds the anchor.
ANCHOR_LIST = kubectl_list(other_teams_pods()).replace("      app: web\n", "      app: &shared web\n", 1)
TRICKY = {
    "multi-document": "---\n" + kubectl_list(other_teams_pods()) + "---\n" + yaml.safe_dump(f.pod("web-9", "shop")),
    "CRLF line ends": kubectl_list(other_teams_pods()).replace("\n", "\r\n"),
    # an alias in a pod of the target namespace to an anchor in a left-out pod: the reduced List cannot load
    "anchor in a left-out item": ANCHOR_LIST[: ANCHOR_LIST.index("kind: List\n")]
    + yaml.safe_dump([f.pod("web-9", "shop")], sort_keys=True).replace("app: web", "app: *shared")
    + "kind: List\nmetadata:\n  resourceVersion: ''\n",
    "a comment at column 0": kubectl_list(other_teams_pods()).replace("- apiVersion", "# pods\n- apiVersion", 1),
}


@pytest.mark.parametrize("case", sorted(TRICKY))
def test_odd_yaml_falls_back_to_the_whole_parse(tmp_path, case):
    text = TRICKY[case]
    assert yaml_list.Skim(frozenset({"shop"})).reduce(text) is None or case == "anchor in a left-out item"
    full, skimmed = assert_same_diagnosis("shop/web", with_pods_file(tmp_path, text))
    assert skimmed.k8s.objects == full.k8s.objects


def test_block_scalars_quoted_namespaces_and_flow_items_keep_what_the_target_reads(tmp_path):
    fake_item = "- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: ghost\n    namespace: team-0\n"
    note = "    annotations:\n      note: |\n" + "".join(f"        {line}\n" for line in fake_item.splitlines())
    text = kubectl_list([*other_teams_pods(), f.pod("web-8", "team-0"), f.pod("web-9", "shop", ip="127.0.0.9")])
    for name in ("web-8", "web-9"):  # a block scalar holding item-like lines, in a left-out pod and a kept one
        text = text.replace(f"    name: {name}\n", note + f"    name: {name}\n")
    text = text.replace("    namespace: shop\n", '    namespace: "shop"\n')  # quoted: not recognised, so built
    text = text.replace(kubectl_list([]).split("items: []\n")[1], "")  # drop the tail, then add a flow item
    text += "- {apiVersion: v1, kind: Pod, metadata: {name: web-7, namespace: shop, labels: {app: web}}}\n"
    text += "kind: List\nmetadata:\n  resourceVersion: ''\n"
    assert text.count("note: |") == 2
    full, skimmed = assert_same_diagnosis("shop/web", with_pods_file(tmp_path, text))
    assert len(skimmed.k8s.of_kind("Pod")) < len(full.k8s.of_kind("Pod"))  # team-0's pods were left out
    names = {p["metadata"]["name"] for p in skimmed.k8s.of_kind("Pod", "shop")}
    assert {"web-7", "web-9"} <= names
    assert "- apiVersion: v1" in skimmed.k8s.get("Pod", "shop", "web-9")["metadata"]["annotations"]["note"]
    assert not skimmed.k8s.get("Pod", "team-0", "ghost") and not full.k8s.get("Pod", "team-0", "ghost")


def test_items_are_split_only_in_kubectls_exact_form():
    text = kubectl_list(other_teams_pods(3))
    items = yaml_list.split_items(text)
    assert [yaml.safe_load(i)[0]["metadata"]["name"] for i in items] == ["app-0", "app-1", "app-2", "kube-proxy-abcde"]
    assert yaml_list.split_items(text.replace("\n", "\r\n")) is None
    assert yaml_list.split_items(text.replace("kind: List\n", "kind: PodList\n")) is None
    assert yaml_list.split_items("apiVersion: v1\nitems:\n- {a: 1}\nextra: 1\n" + text[text.index("kind: List"):]) is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [("team-1", "team-1"), ('"team-1"', None), ("yes", None), ("123", None), ("Team", None), ("team-1 # c", None)],
)
def test_a_namespace_is_read_only_when_it_loads_as_that_very_string(line, expected):
    chunk = f"- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: a\n    namespace: {line}\n  spec: {{}}\n"
    assert yaml_list.pod_namespace(chunk) == expected


def test_pod_ips_are_read_only_in_kubectls_form():
    chunk = yaml_list.split_items(kubectl_list([f.pod("a", "team-1", ip="127.9.0.7")]))[0]
    assert yaml_list.pod_ips(chunk) == {"127.9.0.7"}
    flow = chunk.replace("    podIPs:\n    - ip: 127.9.0.7\n", "    podIPs: [{ip: 127.9.0.8}]\n")
    assert flow != chunk and yaml_list.pod_ips(flow) is None
    assert yaml_list.Skim(frozenset(), ips={"127.9.0.7"}).ips_named("{'Id': '127.9.0.7:8080'}")
    assert not yaml_list.Skim(frozenset(), ips={"127.9.0.7"}).ips_named("{'Id': '127.9.0.70'}")


def test_the_benchmarks_cluster_dump_gets_the_same_diagnosis(tmp_path):
    spec = importlib.util.spec_from_file_location("dump_size", ROOT / "bench" / "dump_size.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.write_cluster_dump(tmp_path / "d", 1000, "yaml")  # the scenario plus 1,000 pods in kubectl's shape
    full, skimmed = assert_same_diagnosis(bench.TARGET, [str(tmp_path / "d")])
    assert len(skimmed.k8s.of_kind("Pod")) == len(full.k8s.of_kind("Pod")) - 1000


def test_a_host_network_pod_is_not_found_by_its_nodes_ip_so_it_may_be_left_out():
    pod = f.pod("node-exporter-x", "monitoring", ip="127.0.1.1")
    pod["spec"]["hostNetwork"] = True
    chunk = yaml_list.split_items(kubectl_list([pod]))[0]
    assert yaml_list.pod_ips(chunk) == set()
    assert yaml_list.pod_ips(chunk.replace("hostNetwork: true", "hostNetwork: yes")) is None
    assert yaml_list.pod_ips(chunk.replace("hostNetwork: true", "hostNetwork: false")) is None


def test_host_network_pods_of_other_namespaces_get_the_same_diagnosis(tmp_path):
    pods = other_teams_pods()
    for pod in pods[:5]:  # on the example's node IPs, as node-exporter pods are
        pod["spec"]["hostNetwork"] = True
        pod["status"]["podIP"], pod["status"]["podIPs"] = "192.168.93.144", [{"ip": "192.168.93.144"}]
    full, skimmed = assert_same_diagnosis("shop/web", with_pods_file(tmp_path, kubectl_list(pods)))
    assert len(skimmed.k8s.of_kind("Pod")) == len(full.k8s.of_kind("Pod")) - 40
    assert skimmed.pod_by_ip("192.168.93.144") == full.pod_by_ip("192.168.93.144")


def _damage(text: str, how: str) -> tuple[str, int]:
    """`text` with one left-out pod (team-2's app-2) damaged as `how` says, and the file line of the damage."""
    anchor = "    name: app-2\n    namespace: team-2\n"
    at = text.index(anchor) + len(anchor)
    line = text.count("\n", 0, at) + 1
    damage = {
        "odd indentation": "   owner: ops\n",
        "a tab": "    \tnote: x\n",
        "a lost colon": "    annotations\n",
        "an unclosed quote": "    generateName: 'app-2-\n",
    }
    if how == "a containerPort string":
        i = text.index("containerPort: ", at)
        end = text.index("\n", i)
        return text[:i] + "containerPort: '8080'" + text[end:], None
    return text[:at] + damage[how] + text[at:], line


@pytest.mark.parametrize("how", ["odd indentation", "a tab", "a lost colon", "an unclosed quote", "a containerPort string"])
def test_errors_in_left_out_pods_are_reported_with_the_file_and_line(tmp_path, how):
    text, line = _damage(kubectl_list(other_teams_pods()), how)
    sources = with_pods_file(tmp_path, text)
    with pytest.raises(DumpError) as whole:  # the whole parse refuses the file ...
        diagnosis("shop/web", sources, skim=False)
    assert "pods-A.yaml" in str(whole.value)
    report, skimmed = diagnosis("shop/web", sources, skim=True)  # ... the skim diagnoses and says why it could
    assert report["verdict"]["check_id"] == "K8S-TARGETPORT"
    note = next(n for n in report["notes"] if "pods of other namespaces" in n)
    assert "pods-A.yaml" in note
    if line is not None:  # the line the whole parse names (libyaml may see the damage a line later)
        named = int(re.search(r"at line (\d+)", str(whole.value)).group(1))
        assert named in (line, line + 1) and f"line {named}: invalid YAML" in note
    else:
        assert "containerPort is the string '8080'" in note


def test_a_clean_list_gets_no_note_and_a_file_with_several_damaged_pods_counts_them(tmp_path):
    clean = kubectl_list(other_teams_pods())
    report, _ = diagnosis("shop/web", with_pods_file(tmp_path / "a", clean), skim=True)
    assert not [n for n in report["notes"] if "pods of other namespaces" in n]
    text = clean.replace("    namespace: team-3\n", "    namespace: team-3\n   x: 1\n")
    report, _ = diagnosis("shop/web", with_pods_file(tmp_path / "b", text), skim=True)
    assert any("(and 9 more item(s))" in n for n in report["notes"])
