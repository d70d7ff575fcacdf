"""The CLI: exit codes of DESIGN.md, bad input with clear messages and no traceback."""

from __future__ import annotations

import json
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
