"""The CLI: exit codes of DESIGN.md, bad input with clear messages and no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bot.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_broken_example_exits_1_and_prints_the_root_cause(capsys):
    code, out, _ = run(capsys, "diagnose", "shop/web", "--from", "examples/targetport-mismatch")
    assert code == 1
    assert out.splitlines()[0].startswith("✗ FAIL  shop/web")
    assert "K8S-TARGETPORT" in out.splitlines()[1]


def test_healthy_example_exits_0(capsys):
    code, out, _ = run(
        capsys, "diagnose", "cart", "-n", "shop", "--from", "examples/healthy", "--format", "json"
    )
    data = json.loads(out)
    assert code == 0, [x for x in data["findings"] if x["status"] in ("fail", "warn")]
    assert data["verdict"]["status"] == "pass"
    assert data["target"] == {"namespace": "shop", "service": "cart", "cluster": None}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["diagnose", "Shop/Web_1", "--from", "examples/healthy"], "not a valid namespace"),
        (["diagnose", "shop/web_1", "--from", "examples/healthy"], "not a valid Service name"),
        (["diagnose", "shop/web", "-n", "other", "--from", "examples/healthy"], "namespace given twice"),
        (["diagnose", "shop/web", "--from", "does/not/exist"], "no such file"),
        (["diagnose", "shop/web", "--from", "examples/healthy", "--only", "K8S-NOPE"], "unknown check ID"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_unknown_service_says_not_found_with_close_names(capsys):
    code, out, _ = run(capsys, "diagnose", "shop/crat", "--from", "examples/healthy")
    assert code == 2
    assert "not found" in out.lower() and "cart" in out


def test_malformed_dump_exits_2_naming_the_file(tmp_path, capsys):
    bad = tmp_path / "svc.yaml"
    bad.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: web\n")
    code, _, err = run(capsys, "diagnose", "shop/web", "--from", str(bad))
    assert code == 2 and str(bad) in err and "invalid YAML" in err


def test_slack_format_is_block_kit_json(capsys):
    code, out, _ = run(
        capsys,
        "diagnose",
        "default/alb-instance",
        "--from",
        "examples/selector-mismatch",
        "--format",
        "slack",
    )
    messages = json.loads(out)
    assert code == 1 and messages and all("blocks" in m and "text" in m for m in messages)


def test_console_script_bad_input_has_no_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "diagnose", "UPPER/case", "--from", "examples/healthy"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "lbhealth:" in proc.stderr


def test_snapshot_of_a_live_cluster_replays_offline_to_the_same_verdict(tmp_path, monkeypatch, capsys):
    from tests import factories as f
    from tests.fakes.kube_api import FakeKubeAPI

    for var in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_PROFILE",
        "TENCENTCLOUD_SECRET_ID",
        "TENCENTCLOUD_SECRET_KEY",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    objects = [
        f.service(
            ports=[{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": 30080}],
            type="NodePort",
        ),
        f.pod("web-1"),
        f.pod("web-2", ip="127.0.0.3"),
        f.endpoint_slice(
            endpoints=[("127.0.0.2", True, "web-1", "node-1"), ("127.0.0.3", True, "web-2", "node-1")],
            port=8080,
        ),
        f.node(provider_id="kind://docker/kind/kind-control-plane"),
    ]
    with FakeKubeAPI(objects) as kube:
        kubeconfig = kube.write_kubeconfig(str(tmp_path / "kubeconfig"), context="snap")
        monkeypatch.setenv("KUBECONFIG", kubeconfig)
        assert (
            main(["snapshot", "shop/web", "--context", "snap", "--no-probe", "-o", str(tmp_path / "dump")])
            == 0
        )
        assert main(["diagnose", "shop/web", "--context", "snap", "--no-probe", "--format", "json"]) == 1
        reads = kube.total
    out = capsys.readouterr().out
    assert "replay with: lbhealth diagnose shop/web --from" in out
    live = json.loads(out[out.index("{") :])
    assert live["verdict"]["check_id"] == "K8S-TARGETPORT" and reads > 0

    code, replay_out, _ = run(
        capsys, "diagnose", "shop/web", "--from", str(tmp_path / "dump"), "--format", "json"
    )
    replay = json.loads(replay_out)
    assert code == 1
    assert replay["verdict"] == live["verdict"]
    assert replay["api_calls"] == {"k8s": 0, "aws": 0, "tencent": 0}


def test_a_terminal_run_without_a_config_does_not_load_the_settings():
    """No LBHEALTH_CONFIG and no --cluster: nothing to read, so pydantic-settings is not imported (a
    fresh process, as an engineer runs it; part of the cold-start bar, bench/cold_start.py)."""
    code = (
        "import sys; from bot.cli import main; "
        "rc = main(['diagnose', 'shop/web', '--from', 'examples/targetport-mismatch', '--format', 'json']); "
        "print(rc, 'bot.settings' in sys.modules, 'pydantic_settings' in sys.modules, file=sys.stderr)"
    )
    env = {k: v for k, v in os.environ.items() if k.upper() != "LBHEALTH_CONFIG"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert proc.stderr.split()[-3:] == ["1", "False", "False"]


def test_the_config_variable_is_read_in_any_case_as_the_settings_read_it(tmp_path, monkeypatch, capsys):
    config = tmp_path / "lbhealth.yaml"
    config.write_text("clusters:\n  - {name: demo, default: true, sources: [examples/selector-mismatch]}\n")
    monkeypatch.delenv("LBHEALTH_CONFIG", raising=False)
    monkeypatch.setenv("lbhealth_config", str(config))
    code, out, _ = run(capsys, "diagnose", "default/alb-instance", "--format", "json")
    assert code == 1 and json.loads(out)["findings"][0]["check_id"] == "K8S-SELECTOR"


def test_config_cluster_and_severity_overrides(tmp_path, monkeypatch, capsys):
    config = tmp_path / "lbhealth.yaml"
    config.write_text(
        "clusters:\n  - {name: demo, default: true, sources: [examples/selector-mismatch]}\n"
        "severity: {K8S-ENDPOINTS: 0, AWS-FAIL-OPEN: 100}\n"
    )
    monkeypatch.setenv("LBHEALTH_CONFIG", str(config))
    code, out, _ = run(capsys, "diagnose", "default/alb-instance", "--format", "json")
    data = json.loads(out)
    assert data["target"]["cluster"] is None  # the default cluster was used without naming it
    failing = [f["check_id"] for f in data["findings"] if f["status"] in ("fail", "warn")]
    # The override re-ranked the symptoms; the cause still comes first (a symptom never outranks it).
    assert failing == ["K8S-SELECTOR", "AWS-FAIL-OPEN", "AWS-TARGET-HEALTH", "K8S-ENDPOINTS"]
    code, out, _ = run(capsys, "diagnose", "default/alb-instance", "--cluster", "demo", "--format", "json")
    assert json.loads(out)["target"]["cluster"] == "demo"
    code, _, err = run(capsys, "diagnose", "default/alb-instance", "--cluster", "nope")
    assert code == 2 and "unknown cluster 'nope'" in err and "demo" in err
