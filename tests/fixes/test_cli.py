"""`lbhealth fix` end to end on the bundled targetPort example served by the fake API; `lbhealth audit`.

The CLI runs in-process with the person's kube context (a kubeconfig pointing at the fake
API server) and the suite's private Redis as the audit stream. No cloud credentials: the
verification is the re-diagnosis alone, and it says so.
"""

from __future__ import annotations

import json

import pytest

from bot.cli import main


@pytest.fixture
def terminal(shop, no_cloud, redis_url, tmp_path):
    no_cloud.setenv("KUBECONFIG", shop.write_kubeconfig(str(tmp_path / "kubeconfig")))
    no_cloud.setenv("REDIS_URL", redis_url)
    no_cloud.delenv("LBHEALTH_CONFIG", raising=False)
    return shop


def _writes(api):
    return [r for r in api.calls(verb="patch") if r.query.get("dryRun") != "All"]


def test_fix_with_yes_applies_once_verifies_and_exits_0(terminal, capsys):
    code = main(["fix", "shop/web", "FIX-TARGETPORT", "--yes", "--no-probe"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "-    targetPort: 8080" in out and "+    targetPort: 80" in out
    assert "applied FIX-TARGETPORT to Service shop/web" in out
    assert "K8S-TARGETPORT passes on a fresh diagnosis" in out and "re-diagnosis alone" in out
    [write] = _writes(terminal)
    assert write.user_agent.startswith("lbhealth-fix/FIX-TARGETPORT (approver=") and "@terminal; job=cli-" in write.user_agent
    assert terminal.get_object("Service", "shop", "web")["spec"]["ports"][0]["targetPort"] == 80

    assert main(["audit", "--format", "json"]) == 0
    entries = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["event"] for e in entries] == ["approval", "apply", "verification"]
    assert {e["target"] for e in entries} == {"shop/web"} and len({e["digest"] for e in entries}) == 1
    assert entries[0]["result"] == "--yes" and entries[0]["who"].endswith("@terminal")
    assert entries[2]["result"] == "rediagnosed"

    assert main(["audit", "--since", "1h"]) == 0
    text = capsys.readouterr().out
    assert "apply" in text and "FIX-TARGETPORT" in text and "shop/web" in text


def test_dry_run_shows_the_diff_and_writes_nothing(terminal, capsys):
    assert main(["fix", "shop/web", "FIX-TARGETPORT", "--dry-run", "--no-probe"]) == 1
    out, err = capsys.readouterr()
    assert "+    targetPort: 80" in out and "nothing was written" in err
    assert _writes(terminal) == []


def test_without_a_tty_and_without_yes_it_refuses(terminal, capsys):
    assert main(["fix", "shop/web", "FIX-TARGETPORT", "--no-probe"]) == 2
    assert "stdin is not a terminal" in capsys.readouterr().err
    assert _writes(terminal) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fix", "shop/web", "FIX-NOPE", "--yes"], "unknown fix 'FIX-NOPE'"),
        (["fix", "shop/web", "FIX-TRAFFIC-POLICY", "--yes", "--no-probe"], "FIX-TRAFFIC-POLICY is not offered for shop/web: the diagnosis offers FIX-TARGETPORT"),
        (["fix", "Shop/web", "FIX-TARGETPORT", "--yes"], "not a valid namespace"),
        (["audit", "--since", "yesterday"], "--since 'yesterday'"),
    ],
)
def test_bad_input_exits_2(terminal, capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert _writes(terminal) == []


def test_unreachable_api_exits_3(no_cloud, tmp_path, capsys, redis_url):
    from tests.fakes.kube_api import FakeKubeAPI

    with FakeKubeAPI() as dead:
        path = dead.write_kubeconfig(str(tmp_path / "kubeconfig"))
    no_cloud.setenv("KUBECONFIG", path)
    assert main(["fix", "shop/web", "FIX-TARGETPORT", "--yes", "--no-probe"]) == 3
    assert "could not run" in capsys.readouterr().err


def test_audit_without_redis_exits_3(no_cloud, capsys):
    no_cloud.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    assert main(["audit"]) == 3
    assert "Redis at REDIS_URL is not reachable" in capsys.readouterr().err


@pytest.mark.parametrize(("answer", "code", "writes"), [(b"y\n", 0, 1), (b"n\n", 1, 0)])
def test_on_a_terminal_it_asks_before_writing(terminal, answer, code, writes):
    """stdin is a pseudo-terminal: the console asks, and only 'y' applies."""
    import os
    import pty
    import subprocess
    import sys

    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "fix", "shop/web", "FIX-TARGETPORT", "--no-probe"],
                                stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
        os.write(master, answer)
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(master)
        os.close(slave)
    assert proc.returncode == code, err.decode()
    assert b"Apply FIX-TARGETPORT to Service shop/web? [y/N]" in out
    assert b"Traceback" not in err
    assert len(_writes(terminal)) == writes
