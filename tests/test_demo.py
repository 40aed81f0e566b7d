"""`ctwatch demo` as a person runs it: the real command, what it prints, what it leaves.

The demo is shown once by a real ``python -m ctwatch demo`` process (a smoke test: what a new
user first runs); the other runs are in-process.
"""

from __future__ import annotations

import json
import re
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest

from tests.helpers import MYELOMA, ROOT, ctwatch, environment

TRIAL = "NCT04083898"
DEMO_DATA = ROOT / "ctwatch" / "demo"
HEADER = re.compile(r"^— (\d{4}-\d{2}-\d{2}): (.+) —$", re.MULTILINE)

#: step title → (top severity of its one alert, or None for no alert; lines the alert holds)
EXPECTED: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "recruiting (the first check)": (None, ("first snapshot stored",)),
    "record re-verified, nothing else changed": (None, ("only registry bookkeeping changed",)),
    "eligibility amended": ("major", (
        "[MAJOR] Inclusion criterion 5: Performance status of ECOG ≤ 2 → ≤ 1 (stricter)\n"
        "      was: Performance status of ECOG ≤ «2» Note: Participants with lower performance "
        "status based solely on bone pain secondary to multiple myeloma will be eligible.\n"
        "      now: Performance status of ECOG ≤ «1» Note: Participants with lower performance "
        "status based solely on bone pain secondary to multiple myeloma will be eligible.\n",
        "[MAJOR] Exclusion criterion 6 added: Peripheral neuropathy of grade ≥ 2 at screening.",
        "subject: [ctwatch] MAJOR NCT04083898: Inclusion criterion 5: Performance status of ECOG "
        "≤ 2 → ≤ 1 (stricter) and 1 more change",
    )),
    "enrollment closed": ("major", (
        "[MAJOR] Overall Status: Recruiting → Active, not recruiting",
        "[MAJOR] Enrollment: 37 → 24",
        "[MAJOR] Enrollment Type: Estimated → Actual",
        "[INFO] Location: Washington University School of Medicine, Saint Louis — Recruitment "
        "Status: Recruiting → Active, not recruiting",
        "subject: [ctwatch] MAJOR NCT04083898: Overall Status → Active, not recruiting and 3 more "
        "changes",
    )),
    "primary completion date moved": ("major", (
        "[MAJOR] Primary Completion Date: 2023-10-28 → 2024-06-30",
        "subject: [ctwatch] MAJOR NCT04083898: Primary Completion Date → 2024-06-30",
    )),
    "terminated": ("critical", (
        "[CRITICAL] Overall Status: Active, not recruiting → Terminated",
        "[MAJOR] Why Stopped: (none) → Slow accrual",
        "[MAJOR] Primary Completion Date Type: Estimated → Actual",
        "subject: [ctwatch] CRITICAL NCT04083898: Overall Status → Terminated (Slow accrual) and 6 "
        "more changes",
    )),
}
#: what no step may show: the machine's paths and enum spellings are for the JSON
CODE_SPEAK = re.compile(r"status\.overall|eligibility\.|design\.|\bACTIVE_NOT_RECRUITING\b|"
                        r"\bESTIMATED\b|\bTERMINATED\b")
CHANGE_STEPS = sum(severity is not None for severity, _ in EXPECTED.values())


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def steps(self) -> dict[str, str]:
        """Each step's title → what was printed under its header."""
        parts = HEADER.split(self.stdout)
        return {title: body for _date, title, body in zip(parts[1::3], parts[2::3], parts[3::3],
                                                             strict=True)}


def demo(folder: Path, *args: str, process: bool = False) -> Run:
    """``ctwatch ARGS`` run from ``folder``, its temporary files kept in folder/tmp (TMPDIR, or
    in-process the temporary folder Python has already read from it)."""
    temporary = folder / "tmp"
    temporary.mkdir(exist_ok=True)
    with mock.patch.object(tempfile, "tempdir", str(temporary)):
        result = ctwatch(folder, *args, env=environment(TMPDIR=str(temporary)), process=process)
    return Run(result.code, result.stdout, result.stderr)


@pytest.fixture(scope="module")
def shown(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Run]:
    folder = tmp_path_factory.mktemp("demo")
    (folder / "config.yaml").write_text("not: [a config")  # the demo must not read it
    return folder, demo(folder, "demo", process=True)


@pytest.mark.smoke
def test_the_demo_succeeds_without_config_or_network(shown: tuple[Path, Run]) -> None:
    _, run = shown
    assert run.code == 0, run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert list(run.steps()) == list(EXPECTED)


@pytest.mark.smoke
@pytest.mark.parametrize("title", EXPECTED)
def test_each_step_alerts_as_expected(shown: tuple[Path, Run], title: str) -> None:
    severity, lines = EXPECTED[title]
    body = shown[1].steps()[title]
    alerts = re.findall(rf"^{TRIAL} — ", body, re.MULTILINE)
    tops = re.findall(r"top severity (\w+)", body)
    if severity is None:
        assert (alerts, tops) == ([], [])
        assert "no alert" in body
    else:
        assert (len(alerts), tops) == (1, [severity])
        assert f"https://clinicaltrials.gov/study/{TRIAL}" in body
    for line in lines:
        assert line in body
    assert CODE_SPEAK.search(body) is None


@pytest.mark.smoke
def test_the_demo_ends_with_a_summary_and_leaves_nothing_behind(shown: tuple[Path, Run]) -> None:
    folder, run = shown
    last = run.stdout.strip().splitlines()[-1]
    assert re.fullmatch(rf"replayed {len(EXPECTED)} versions of {TRIAL} from a local registry "
                        rf"\(\d+ requests\): {CHANGE_STEPS} change sets, {len(EXPECTED)} "
                        "snapshots", last)
    assert list((folder / "tmp").iterdir()) == []
    assert sorted(path.name for path in folder.iterdir()) == ["config.yaml", "tmp"]


def test_keep_leaves_a_store_to_explore(tmp_path: Path) -> None:
    run = demo(tmp_path, "demo", "--keep", "kept")
    assert run.code == 0, run.stderr
    store = tmp_path / "kept" / "ctwatch.db"
    assert f"store kept in {store}" in run.stdout
    with sqlite3.connect(store) as db:
        counts = [db.execute(f"select count(*) from {table}").fetchone()[0]
                  for table in ("snapshots", "change_sets")]
        statuses = {row[0] for row in db.execute("select status from outbox")}
    assert counts == [len(EXPECTED), CHANGE_STEPS]
    assert statuses == {"delivered"}
    config = tmp_path / "kept" / "config.yaml"
    assert f"ctwatch --config {config} history {TRIAL}" in run.stdout
    history = demo(tmp_path / "tmp", "--config", str(config), "history", TRIAL)
    assert history.code == 0, history.stderr
    assert "2024-07-22" in history.stdout


def test_keep_refuses_a_folder_that_holds_a_store(tmp_path: Path) -> None:
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "ctwatch.db").write_bytes(b"")
    run = demo(tmp_path, "demo", "--keep", "kept")
    assert run.code == 2
    [line] = run.stderr.splitlines()
    assert line.startswith("ctwatch: error: ") and "already exists" in line
    assert run.stdout == ""


def test_the_bundled_record_is_the_fixture_and_the_data_is_small() -> None:
    bundled = json.loads((DEMO_DATA / f"{TRIAL}.json").read_text(encoding="utf-8"))
    assert bundled == json.loads(MYELOMA.read_text(encoding="utf-8"))
    assert sum(path.stat().st_size for path in DEMO_DATA.iterdir()) < 200_000
