"""What a person gives the `lbhealth` console script: every odd input gets a message, never a traceback.

Each case runs the installed entry point as a process, the way a person meets it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from tests import factories as f
from tests.fakes.kube_api import FakeKubeAPI

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "targetport-mismatch"
# Root reads any file: the unreadable-file case drops root's DAC override (util-linux setpriv).
DROP_DAC = ["setpriv", "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search"]


def lbhealth() -> list[str]:
    script = Path(sys.executable).parent / "lbhealth"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None, prefix: list[str] | None = None):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LBHEALTH_", "AWS_", "TENCENTCLOUD_"))}
    base.update({"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true"})
    proc = subprocess.run(
        [*(prefix or []), *lbhealth(), *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**base, **(env or {})},
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_unreadable_dump_file_is_named_with_what_to_do(tmp_path):
    dump = tmp_path / "kubectl-get.yaml"
    shutil.copy(EXAMPLE / "kubectl-get.yaml", dump)
    dump.chmod(0)
    proc = run("diagnose", "shop/web", "--from", str(dump), prefix=DROP_DAC if os.geteuid() == 0 else None)
    assert proc.returncode == 2
    assert str(dump) in proc.stderr and "permission denied" in proc.stderr


def test_a_fifo_or_device_given_as_a_dump_is_refused(tmp_path):
    fifo = tmp_path / "dump.yaml"
    os.mkfifo(fifo)
    proc = run("diagnose", "shop/web", "--from", str(fifo))
    assert proc.returncode == 2 and "not a regular file or a directory" in proc.stderr


def test_a_directory_given_as_the_config_file(tmp_path):
    proc = run("diagnose", "shop/web", "--from", str(EXAMPLE), env={"LBHEALTH_CONFIG": str(tmp_path)})
    assert proc.returncode == 2 and "LBHEALTH_CONFIG" in proc.stderr and "cannot be read" in proc.stderr


def test_a_file_given_as_the_snapshot_directory(tmp_path):
    target = tmp_path / "dump.json"
    target.write_text("{}")
    proc = run("snapshot", "shop/web", "-o", str(target))
    assert proc.returncode == 2 and "not a directory" in proc.stderr
    assert target.read_text() == "{}"


def test_from_stdin_reads_a_piped_dump():
    text = (EXAMPLE / "kubectl-get.yaml").read_text()
    proc = run("diagnose", "shop/web", "--from", "-", "--format", "json", stdin=text)
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["verdict"]["check_id"] == "K8S-TARGETPORT"


def test_from_stdin_with_other_files():
    text = (EXAMPLE / "aws-elbv2-describe-target-groups.json").read_text()
    proc = run("diagnose", "shop/web", "--from", str(EXAMPLE / "kubectl-get.yaml"), "-", "--format", "json", stdin=text)
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["verdict"]["check_id"] == "K8S-TARGETPORT"


def test_kubectl_describe_output_is_recognised_before_yaml_parsing(tmp_path):
    describe = tmp_path / "svc.txt"
    describe.write_text(
        "Name:                     web\n"
        "Namespace:                shop\n"
        "Labels:                   <none>\n"
        "Annotations:              <none>\n"
        "Selector:                 app=web\n"
        "Type:                     LoadBalancer\n"
        "IP:                       10.100.44.151\n"
        "Port:                     http  80/TCP\n"
        "TargetPort:               8080/TCP\n"
        "Endpoints:                10.0.1.12:8080\n"
        "Events:                   <none>\n"
    )
    proc = run("diagnose", "shop/web", "--from", str(describe))
    assert proc.returncode == 2
    assert "kubectl describe" in proc.stderr and "-o yaml" in proc.stderr and str(describe) in proc.stderr


def test_a_truncated_json_list_says_truncated(tmp_path):
    whole = json.dumps({"apiVersion": "v1", "items": [f.pod("web-1"), f.pod("web-2")], "kind": "List", "metadata": {}}, indent=4)
    cut = tmp_path / "pods.json"
    cut.write_text(whole[: len(whole) // 2])
    proc = run("diagnose", "shop/web", "--from", str(cut))
    assert proc.returncode == 2 and "truncated" in proc.stderr and str(cut) in proc.stderr


def test_a_truncated_yaml_list_says_truncated(tmp_path):
    text = (EXAMPLE / "kubectl-get.yaml").read_text()
    assert text.rstrip().endswith("resourceVersion: ''") or "kind: List" in text
    items_end = text.index("\nkind: List")
    cut = tmp_path / "kubectl-get.yaml"
    cut.write_text(text[:items_end] + "\n")
    proc = run("diagnose", "shop/web", "--from", str(cut))
    assert proc.returncode == 2 and "truncated" in proc.stderr


@pytest.mark.parametrize("order", ["service-first", "from-first"])
def test_from_and_the_service_in_either_order(order):
    args = ["shop/web", "--from", str(EXAMPLE)] if order == "service-first" else ["--from", str(EXAMPLE), "shop/web"]
    proc = run("diagnose", *args, "--format", "json")
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["target"] == {"namespace": "shop", "service": "web", "cluster": None}


@pytest.mark.parametrize("last", [None, "missing.yaml", "examples/"])
def test_from_without_a_service_asks_for_one(last):
    proc = run("diagnose", "--from", str(EXAMPLE), *([last] if last else []))
    assert proc.returncode == 2 and "which Service?" in proc.stderr


def test_version_comes_from_the_installed_distribution():
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"lbhealth {version('lbhealth')}"


def test_help_documents_every_option_its_default_and_the_exit_codes():
    from bot.cli import build_parser

    parser = build_parser()
    top = run("--help")
    assert top.returncode == 0 and "exit codes:" in top.stdout and "could not decide" in top.stdout
    commands = parser._subparsers._group_actions[0].choices  # argparse keeps subcommands here
    for name, sub in commands.items():
        text = run(name, "--help").stdout
        assert "exit codes:" in text, name
        for action in sub._actions:
            if not action.option_strings or action.dest == "help":
                continue
            assert action.help, f"{name} {action.option_strings[0]} has no help"
            if action.default not in (None, False):
                assert "default" in sub.formatter_class(name)._get_help_string(action), (name, action.dest)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_api_down_gives_one_clear_message_and_no_retry_noise(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: down\n"
        f"clusters: [{{name: down, cluster: {{server: 'http://127.0.0.1:{_closed_port()}'}}}}]\n"
        "users: [{name: down, user: {token: t}}]\n"
        "contexts: [{name: down, context: {cluster: down, user: down}}]\n"
    )
    proc = run("diagnose", "shop/web", "--no-probe", env={"KUBECONFIG": str(kubeconfig)})
    assert proc.returncode == 3
    assert "Retrying" not in proc.stderr and "WARNING" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot reach the Kubernetes API" in lines[0] and "connection refused" in lines[0]


def test_snapshot_of_a_service_that_does_not_exist_exits_2_and_writes_nothing(tmp_path):
    with FakeKubeAPI([f.service("cart", "shop"), f.pod("cart-1", labels={"app": "cart"})]) as kube:
        kubeconfig = kube.write_kubeconfig(str(tmp_path / "kubeconfig"))
        out = tmp_path / "dump"
        proc = run("snapshot", "shop/crat", "--no-probe", "-o", str(out), env={"KUBECONFIG": kubeconfig})
    assert proc.returncode == 2, proc.stderr
    assert "nothing written" in proc.stderr and "cart" in proc.stderr
    assert not out.exists()


def test_a_live_run_imports_neither_typed_api_classes_nor_an_unused_cloud_sdk(tmp_path):
    """The typed kubernetes API classes build the client's models (~0.8 s); a cloud SDK not in play is waste."""
    objects = [f.service(type="NodePort"), f.pod("web-1"), f.node(provider_id="kind://docker/kind/kind-control-plane")]
    with FakeKubeAPI(objects) as kube:
        kubeconfig = kube.write_kubeconfig(str(tmp_path / "kubeconfig"))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LBHEALTH_", "AWS_", "TENCENTCLOUD_"))}
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "bot.cli", "diagnose", "shop/web", "--no-probe"],
            capture_output=True, text=True, timeout=120, cwd=ROOT, env={**env, "KUBECONFIG": kubeconfig}, check=False,
        )
        assert kube.total > 0  # it did read the cluster
    assert proc.returncode in (0, 1, 3), proc.stderr[-2000:]
    modules = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "kubernetes.client.rest" in modules  # the ApiClient did the reads
    assert not {m for m in modules if m.startswith(("kubernetes.client.api.", "boto3", "botocore", "tencentcloud"))}


@pytest.mark.parametrize("content", ["", "null\n", "---\n---\n"])
def test_an_empty_dump_is_bad_input_not_a_healthy_report(tmp_path, content):
    empty = tmp_path / "kubectl-get.yaml"
    empty.write_text(content)
    proc = run("diagnose", "shop/web", "--from", str(empty))
    assert proc.returncode == 2 and "no Kubernetes objects" in proc.stderr and "kubectl get" in proc.stderr
    piped = run("diagnose", "shop/web", "--from", "-", stdin=content)
    assert piped.returncode == 2 and "<stdin>" in piped.stderr


def test_only_with_no_check_id():
    proc = run("diagnose", "shop/web", "--from", str(EXAMPLE), "--only", " , ")
    assert proc.returncode == 2 and "--only" in proc.stderr


def test_ctrl_c_ends_with_one_line_and_130():
    import signal
    import time

    proc = subprocess.Popen(
        [*lbhealth(), "diagnose", "shop/web", "--from", "-"],  # waits for a dump on stdin
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )
    time.sleep(1.5)  # let it start and block on the read
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip() == "lbhealth: interrupted"


def test_a_reader_that_goes_away_is_no_error():
    producer = subprocess.Popen([*lbhealth(), "checks"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    assert producer.stdout is not None
    producer.stdout.close()  # like `lbhealth checks | true`: nobody reads, the first write fails with EPIPE
    _, err = producer.communicate(timeout=60)
    assert producer.returncode == 0, err
    assert err == b""
