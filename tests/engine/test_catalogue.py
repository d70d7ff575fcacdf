"""The catalogue holds every ID of CHECKS.md exactly, docs/checks.md is generated from it, and every
check has a scenario where it fires and one where it passes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from checks.catalogue import catalogue_markdown
from checks.registry import default_registry
from checks.sources import source
from tests.factories import RECORD_ENV

ROOT = Path(__file__).resolve().parents[2]
# A copy of the shared specification (../shared/CHECKS.md beside the clone), so that the suite
# checks the catalogue on a fresh clone too; test_vendored_checks_md_matches_the_shared_one keeps it current.
VENDORED = Path(__file__).with_name("CHECKS.md")
SHARED = ROOT.parent / "shared" / "CHECKS.md"
_ID_ROW = re.compile(r"^\| ((?:K8S|PROBE|AWS|TC|NODE|FIX)-[A-Z0-9-]+) \|", re.M)


def spec_ids(path: Path) -> tuple[list[str], list[str]]:
    ids = _ID_ROW.findall(path.read_text())
    return [i for i in ids if not i.startswith("FIX-")], [i for i in ids if i.startswith("FIX-")]


CHECK_IDS, FIX_IDS = spec_ids(VENDORED)


def test_checks_json_lists_every_id_of_checks_md(capsys):
    assert main(["checks", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert sorted(c["id"] for c in data["checks"]) == sorted(CHECK_IDS)
    assert sorted(f["id"] for f in data["fixes"]) == sorted(FIX_IDS)
    assert all(f["used_by"] for f in data["fixes"]), "every fix is offered by some check"
    assert all(c["why"] for c in data["checks"]), "every check says why it matters"


def test_vendored_checks_md_matches_the_shared_one():
    assert len(CHECK_IDS) >= 39 and FIX_IDS, f"{VENDORED} lost its ID tables"
    if not SHARED.exists():
        pytest.skip(f"{SHARED} is not beside this clone: the catalogue was checked against the vendored copy")
    assert spec_ids(SHARED) == (CHECK_IDS, FIX_IDS), f"the specification changed: cp {SHARED} {VENDORED}"


def test_every_read_a_check_declares_has_words_and_a_supply():
    """The runner gates on `reads` and tells the user what is missing: each read has a name a person
    understands, and a command that supplies it offline or a grant that supplies it live (the probes
    and node facts are the bot's own, so their skip says how to turn them on instead)."""
    reads = {r for s in default_registry().all() for r in s.all_reads}
    for read in sorted(reads):
        src = source(read)
        assert not any(w.startswith(("k8s.", "aws.", "tencent.")) for w in src.what.split()), f"{read} has no words for a person"
        assert src.dump or src.grant or read in ("probe", "node"), f"nothing says what supplies {read}"
    required = {r for s in default_registry().all() for r in s.reads}
    assert {"k8s.pods", "aws.target_health", "tencent.clb"} <= required, "cloud and pod checks gate on their reads"


def test_docs_checks_md_is_generated_from_the_catalogue():
    assert (ROOT / "docs" / "checks.md").read_text() == catalogue_markdown(), (
        "regenerate: lbhealth checks --format markdown > docs/checks.md"
    )


@pytest.mark.timeout(900)
def test_every_check_has_a_scenario_where_it_fires_and_one_where_it_passes(tmp_path):
    """Run the check tests and collect what each check concluded on their real-shape scenarios.

    tests.factories.run_check records every finding of a scenario whose State has the real APIs'
    shapes (odd-input runs are not recorded); each check must have failed or warned in one and
    passed in another.
    """
    record = tmp_path / "findings.txt"
    env = {**os.environ, RECORD_ENV: str(record)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/checks"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    seen: dict[str, set[str]] = {}
    for line in record.read_text().splitlines():
        check_id, status = line.split()
        seen.setdefault(check_id, set()).add(status)
    no_fire = [c for c in CHECK_IDS if not seen.get(c, set()) & {"fail", "warn"}]
    no_pass = [c for c in CHECK_IDS if "pass" not in seen.get(c, set())]
    assert not no_fire, f"no scenario where these checks fail or warn: {no_fire}"
    assert not no_pass, f"no scenario where these checks pass: {no_pass}"
