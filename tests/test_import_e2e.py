"""`ctwatch import`: saved records of any format become snapshots, oldest first, and the next
`ctwatch check` compares the registry with the newest of them — as cron would run it, on a
SQLite file and on a PostgreSQL database (each test runs on both)."""

from __future__ import annotations

import json

import pytest

from ctwatch.replay import Registry
from tests.conftest import MYELOMA_ID, Watcher
from tests.helpers import FIXTURES, MYELOMA, REALDATA

PALLAS = "NCT02513394"
PALLAS_2020 = REALDATA / "legacy_xml" / f"{PALLAS}.xml"  # last update posted 2020-03-09
PALLAS_2023 = REALDATA / "api_v2" / f"{PALLAS}.json"  # last update posted 2023-06-15
CLASSIC_PAGE = FIXTURES / MYELOMA_ID / "classic_page.html"

pytestmark = pytest.mark.both_stores


@pytest.fixture
def registry() -> Registry:
    """Today's registry: the 2023 record of PALLAS and the record of NCT04083898."""
    served = Registry()
    served.publish(PALLAS_2023.read_bytes())
    served.publish(MYELOMA.read_bytes())
    return served


def snapshots(watcher: Watcher, nct_id: str) -> list[tuple[str, str, int | None]]:
    return [(row["source"], row["registry_date"], row["registry_version"])
            for row in watcher.store.query("select source, registry_date, registry_version "
                                           "from snapshots where nct_id = :trial order by id",
                                           trial=nct_id)]


def test_import_then_check_gives_one_change_set(watcher: Watcher) -> None:
    run = watcher.run("import", str(PALLAS_2020), str(CLASSIC_PAGE))
    assert run.code == 0, run.stderr
    assert "2 records read, 2 new snapshots, 0 change sets" in run.stderr
    assert watcher.alerts() == [] and run.stdout == ""
    assert snapshots(watcher, PALLAS) == [("legacy_xml", "2020-03-09", None)]

    check = watcher.check()
    assert check.code == 0, check.stderr
    assert "2 with changes, 2 new snapshots" in check.stderr
    alerts = {alert["nct_id"]: alert for alert in watcher.alerts()}
    assert set(alerts) == {PALLAS, MYELOMA_ID}
    pallas = alerts[PALLAS]
    assert (pallas["from_date"], pallas["to_date"]) == ("2020-03-09", "2023-06-15")
    paths = {change["path"] for change in pallas["changes"]}
    assert {"status.has_results", "status.primary_completion.date",
            "outcomes[secondary: Overall Survival (OS)]"} <= paths
    assert not {p for p in paths if p.startswith(("arms", "interventions", "eligibility"))}
    # The classic page does not show the sponsor's agency class; nothing else differs.
    assert [c["path"] for c in alerts[MYELOMA_ID]["changes"]] == ["sponsor.lead.class"]
    # The local registry's history index lists one version, none as old as the 2020 archive:
    # the two ends of the change cannot be numbered, so none is.
    assert snapshots(watcher, PALLAS) == [("legacy_xml", "2020-03-09", None),
                                          ("api_v2", "2023-06-15", None)]


def test_records_are_stored_in_registry_date_order(watcher: Watcher) -> None:
    run = watcher.run("import", str(PALLAS_2023), str(PALLAS_2020))
    assert run.code == 0, run.stderr
    assert "2 records read, 2 new snapshots, 1 change sets" in run.stderr
    assert [source for source, _, _ in snapshots(watcher, PALLAS)] == ["legacy_xml", "api_v2"]
    assert watcher.alerts() == []
    history = json.loads(watcher.run("history", PALLAS, "--format", "json").stdout)
    assert [(h["source"], h["changes"] > 0) for h in history] == [
        ("legacy_xml", False), ("api_v2", True)]
    check = watcher.check()  # the registry holds the newest imported record: no change
    assert "0 with changes" in check.stderr
    assert len(snapshots(watcher, PALLAS)) == 2


def test_a_stored_record_adds_nothing_and_an_older_one_is_refused(watcher: Watcher) -> None:
    watcher.run("import", str(PALLAS_2023))
    again = watcher.run("import", str(PALLAS_2023))
    assert again.code == 0 and "1 records read, 0 new snapshots" in again.stderr
    older = watcher.run("import", str(PALLAS_2020))
    assert older.code == 3
    assert (f"ctwatch: error: {PALLAS_2020}: {PALLAS} of 2020-03-09 is older than its latest "
            "snapshot (2023-06-15)") in older.stderr
    assert len(snapshots(watcher, PALLAS)) == 1


def test_an_unreadable_file_is_reported_and_the_others_imported(watcher: Watcher) -> None:
    bad = watcher.folder / "search.html"
    bad.write_text("<!DOCTYPE html><html><body>Search results</body></html>")
    run = watcher.run("import", str(bad), str(PALLAS_2020), "missing.xml")
    assert run.code == 3
    errors = [line for line in run.stderr.splitlines() if "error:" in line]
    assert errors == [
        "ctwatch: error: missing.xml: cannot read: No such file or directory",
        f"ctwatch: error: {bad}: not a ClinicalTrials.gov study page (no NCT id found)"]
    assert len(snapshots(watcher, PALLAS)) == 1


def test_backfill_after_an_import_is_refused(watcher: Watcher) -> None:
    watcher.run("import", str(PALLAS_2020))
    run = watcher.run("backfill", PALLAS)
    assert run.code == 3  # refused, as an older record is (README "Exit codes")
    assert "already has snapshots from checks or imported records" in run.stderr
