"""The wheel as a user installs it: built from this checkout, installed into a fresh venv, it renders
reports from its own package data and installs no top-level `templates` package."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the built wheel and no access to the checkout; the project's own venv lends
    the third-party dependencies (a path entry, not a site dir: its editable-install finder stays off)."""
    tmp = tmp_path_factory.mktemp("wheel")
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"), str(ROOT), cwd=tmp)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp / "dist").glob("lbhealth-*.whl")
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    site = next((env_dir / "lib").glob("python3*/site-packages"))
    deps = next(p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())
    (site / "zz_lbhealth_test_deps.pth").write_text(deps + "\n")
    install = run(sys.executable, "-m", "pip", "--python", str(env_dir / "bin" / "python"), "install", "--no-deps", "-q", str(wheel), cwd=tmp)
    assert install.returncode == 0, install.stderr
    return env_dir


def test_wheel_installs_no_top_level_templates_and_renders_from_package_data(installed, tmp_path):
    py = installed / "bin" / "python"
    site = next((installed / "lib").glob("python3*/site-packages"))
    assert not (site / "templates").exists()
    assert (site / "bot" / "templates" / "report.txt.j2").is_file()
    top = next(site.glob("lbhealth-*.dist-info")) / "top_level.txt"
    assert "templates" not in top.read_text().split()
    probe = run(str(py), "-I", "-c", "import importlib.util, bot.render as r; print(importlib.util.find_spec('templates')); print(r.__file__)", cwd=tmp_path)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split("\n")[:2] == ["None", str(site / "bot" / "render.py")]
    example = ROOT / "examples" / "targetport-mismatch"
    text = run(str(installed / "bin" / "lbhealth"), "diagnose", "shop/web", "--from", str(example), cwd=tmp_path)
    assert text.returncode == 1 and "K8S-TARGETPORT" in text.stdout, text.stderr  # 1: a failing finding
    slack = run(str(installed / "bin" / "lbhealth"), "diagnose", "shop/web", "--from", str(example), "--format", "slack", cwd=tmp_path)
    assert slack.returncode == 1, slack.stderr
    assert json.loads(slack.stdout)


def test_the_installed_lbhealth_knows_the_version_the_chart_deploys(installed, tmp_path):
    """The image's last build step runs `lbhealth --version`; the chart's default image tag is its appVersion."""
    out = run(str(installed / "bin" / "lbhealth"), "--version", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    chart = yaml.safe_load((ROOT / "deploy" / "helm" / "lbhealth" / "Chart.yaml").read_text())
    assert out.stdout.split()[-1] == project == chart["appVersion"], out.stdout
