"""deploy/Dockerfile, read as Docker reads it (instructions per stage): multi-stage, the same base
pinned by digest in both stages, non-root, no build tools in the final stage, `lbhealth --version` last.
(No image is built here: this machine has no Docker daemon and reaches no image registry.)"""

from __future__ import annotations

import json
import re
import shlex

from tests.deploy.chart import ROOT

DOCKERFILE = ROOT / "deploy" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins in instructions():
        if ins[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def test_multi_stage_on_one_pinned_base():
    args = dict(a.split("=", 1) for w, a in instructions() if w == "ARG" and "=" in a)
    # an exact patch release on an exact Debian release, by digest: what is built is what was tested
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", args["PYTHON_IMAGE"])
    froms = [s[0][1] for s in stages()]
    assert len(froms) == 2 and all(f.split()[0] == "${PYTHON_IMAGE}" for f in froms)


def test_final_stage_runs_as_non_root_without_build_tools():
    build, final = stages()
    assert ("COPY", "--from=build /opt/lbhealth /opt/lbhealth") in final
    assert not [a for w, a in final if w == "COPY" and not a.startswith("--from=build")]  # no sources
    runs = " ".join(a for w, a in final if w == "RUN")
    assert "pip uninstall --yes --quiet pip setuptools wheel" in runs
    assert not re.search(r"apt-get|apk |gcc|build-essential|pip install", runs)
    (user,) = [a for w, a in final if w == "USER"]
    assert user.split(":")[0].isdigit() and int(user.split(":")[0]) >= 1000
    assert json.loads(dict(final)["ENTRYPOINT"]) == ["lbhealth"]


def test_the_build_ends_by_running_lbhealth_version_as_that_user():
    final = stages()[-1]
    words = [w for w, _ in final]
    assert final[-1] == ("RUN", '["lbhealth", "--version"]')
    assert words.index("USER") < len(final) - 1


def test_the_build_stage_installs_the_wheel_into_a_venv_without_pip():
    build = stages()[0]
    run = " ".join(a for w, a in build if w == "RUN")
    assert "python -m venv --without-pip /opt/lbhealth" in run
    steps = [shlex.split(s) for s in run.split("&&")]
    assert ["pip", "wheel", "--no-cache-dir", "--no-deps", "--wheel-dir", "/wheels", "."] in steps
    copied = {a.split()[0] for w, a in build if w == "COPY"}
    assert {"bot", "checks", "templates"} <= copied  # bot/templates links to templates/


def test_the_build_context_is_what_the_dockerfile_copies():
    """.dockerignore lets through exactly the sources the build stage copies (no .venv, .git, tests)."""
    lines = [ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines[0] == "*"
    admitted = {ln[1:] for ln in lines if ln.startswith("!")}
    copied = {src for w, a in stages()[0] if w == "COPY" for src in a.split()[:-1]}
    assert admitted == copied
    assert all((ROOT / path).exists() for path in admitted)
