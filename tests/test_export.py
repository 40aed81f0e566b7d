"""`ctwatch export` read back by the analysts' own tools (issue 18).

One store per module, made as a user makes one: two real checks of a local registry serving
real records (fixtures/realdata and NCT04083898), the second after two trials changed, so it
holds snapshots and change sets. The store is exported once in each format, with --history;
every test reads those exports with pandas, DuckDB, the sqlite3 module or pyarrow and compares
them with the trials and change sets the store holds.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections import Counter
from dataclasses import fields
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
import yaml

from ctwatch import timeline
from ctwatch.export import dictionary, rows
from ctwatch.export.tables import BY_NAME, TABLES, THRESHOLD_MEANINGS, chosen, logical_type
from ctwatch.model import ChangeSet, Criterion, Threshold, Trial
from ctwatch.replay import Registry, ReplayServer
from ctwatch.store import Store
from tests.conftest import REGISTRY_STUDIES, Watcher, posted_anew, study_raw
from tests.helpers import MYELOMA, ROOT, ctwatch

MYELOMA_ID = "NCT04083898"
CHANGED = (MYELOMA_ID, "NCT00184067")
FORMATS = ("csv", "sqlite", "parquet")
Tables = dict[str, pd.DataFrame]


def amend(study: dict[str, Any]) -> None:
    """A new registry version: a criterion, the status and the enrollment changed."""
    protocol = study["protocolSection"]
    eligibility = protocol["eligibilityModule"]
    eligibility["eligibilityCriteria"] += "\n\nExclusion Criteria:\n\n* Pregnant or nursing"
    protocol["statusModule"]["overallStatus"] = "ACTIVE_NOT_RECRUITING"
    design = protocol["designModule"]
    design["enrollmentInfo"] = {"count": 24, "type": "ACTUAL"}
    posted_anew(study)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with config.yaml and a store two checks filled."""
    here = tmp_path_factory.mktemp("export")
    registry = Registry(data_timestamp="2026-01-05T09:00:05")
    registry.publish(MYELOMA.read_bytes())
    for nct_id in REGISTRY_STUDIES:
        registry.publish(study_raw(nct_id))
    with ReplayServer(registry) as server:
        config = {"store": "ctwatch.db", "trials": list(registry.ids()),
                  "api": {"base_url": server.url, "requests_per_second": 1000,
                          "timeout_s": 5, "max_retries": 1},
                  "notify": [{"kind": "file", "path": "alerts.jsonl"}]}
        (here / "config.yaml").write_text(yaml.safe_dump(config))
        assert ctwatch(here, "check").code == 0
        for nct_id in CHANGED:
            study = json.loads(registry.record(nct_id) or b"{}")
            amend(study)
            registry.publish(study)
        registry.data_timestamp = "2026-02-05T09:00:05"
        run = ctwatch(here, "check")
        assert run.code == 0, run.stderr
    return here


@pytest.fixture(scope="module")
def exported(folder: Path) -> dict[str, Path]:
    """The store exported in every format, with --history (Parquet when pyarrow is here)."""
    made = {}
    for fmt in FORMATS:
        if fmt == "parquet" and not _has_pyarrow():
            continue
        out = folder / f"export-{fmt}"
        run = ctwatch(folder, "export", "--format", fmt, "--out", str(out), "--history")
        assert run.code == 0, run.stderr
        made[fmt] = out
    return made


def _has_pyarrow() -> bool:
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def trials(folder: Path) -> dict[str, Trial]:
    """The latest version of each stored trial, as the current parser reads it."""
    with Store(str(folder / "ctwatch.db")) as db:
        return {nct_id: timeline.current(db, db.latest(nct_id)).trial  # type: ignore[arg-type]
                for nct_id in db.trial_ids()}


@pytest.fixture(scope="module")
def change_sets(folder: Path) -> list[ChangeSet]:
    with Store(str(folder / "ctwatch.db")) as db:
        return sorted(db.change_sets(), key=lambda change_set: change_set.id)


@pytest.fixture(scope="module")
def snapshot_count(folder: Path) -> int:
    with sqlite3.connect(folder / "ctwatch.db") as db:
        return db.execute("SELECT count(*) FROM snapshots").fetchone()[0]


def load(fmt: str, out: Path, *, history: bool = True) -> Tables:
    """Every table of an export, as pandas reads it (the SQLite file through sqlite3)."""
    names = [table.name for table in chosen(history)]
    if fmt == "csv":
        return {name: pd.read_csv(out / f"{name}.csv", keep_default_na=False,
                                  na_values=[""]) for name in names}
    if fmt == "parquet":
        pq = pytest.importorskip("pyarrow.parquet", reason="Parquet export needs pyarrow "
                                 "(pip install 'ctwatch[parquet]')")
        return {name: pq.read_table(out / f"{name}.parquet").to_pandas() for name in names}
    with sqlite3.connect(out) as db:
        return {name: pd.read_sql(f"SELECT * FROM {name}", db) for name in names}


@pytest.fixture(scope="module", params=FORMATS)
def tables(request: pytest.FixtureRequest, exported: dict[str, Path]) -> Tables:
    if request.param not in exported:
        pytest.skip("Parquet export needs pyarrow (pip install 'ctwatch[parquet]'), "
                    "which is not installed")
    return load(request.param, exported[request.param])


# -- what the trials hold ---------------------------------------------------------------------


def walk(criteria: tuple[Criterion, ...]) -> list[Criterion]:
    return [c for criterion in criteria for c in (criterion, *walk(criterion.children))]


def every_criterion(trial: Trial) -> list[Criterion]:
    e = trial.eligibility
    return walk(e.inclusion) + walk(e.exclusion) + walk(e.unclassified)


def expected_counts(trials: dict[str, Trial], change_sets: list[ChangeSet],
                    snapshots: int) -> dict[str, int]:
    every = trials.values()
    return {
        "studies": len(trials), "eligibilities": len(trials),
        "conditions": sum(len(t.conditions) for t in every),
        "keywords": sum(len(t.keywords) for t in every),
        "design_groups": sum(len(t.arms) for t in every),
        "interventions": sum(len(t.interventions) for t in every),
        "intervention_other_names": sum(len(i.other_names) for t in every
                                        for i in t.interventions),
        "design_outcomes": sum(len(t.outcomes) for t in every),
        "criteria": sum(len(every_criterion(t)) for t in every),
        "thresholds": sum(len(c.thresholds) for t in every for c in every_criterion(t)),
        "facilities": sum(len(t.locations) for t in every),
        "sponsors": sum(bool(t.sponsor.lead) + len(t.sponsor.collaborators) for t in every),
        "snapshots": snapshots, "change_sets": len(change_sets),
        "changes": sum(len(change_set.changes) for change_set in change_sets),
    }


# -- every format, read by pandas -------------------------------------------------------------


def test_every_table_has_its_columns_in_order(tables: Tables) -> None:
    assert {name: list(frame.columns) for name, frame in tables.items()} == \
        {table.name: list(table.names) for table in TABLES}


def test_row_counts_equal_what_the_trials_and_the_store_hold(
        tables: Tables, trials: dict[str, Trial], change_sets: list[ChangeSet],
        snapshot_count: int) -> None:
    counts = {name: len(frame) for name, frame in tables.items()}
    expected = expected_counts(trials, change_sets, snapshot_count)
    assert {name: counts[name] for name in expected} == expected
    # the store gave every table something to hold, so each count above means something
    assert all(count > 0 for name, count in counts.items() if name != "keywords"), counts
    assert len(change_sets) == len(CHANGED)


def test_keys_are_unique_and_stable_integers(tables: Tables, trials: dict[str, Trial]) -> None:
    for name, frame in tables.items():
        assert frame["id"].is_unique, name
        assert pd.api.types.is_integer_dtype(frame["id"]), name
    studies = tables["studies"].set_index("nct_id")
    assert {nct: studies.loc[nct, "id"] for nct in trials} == \
        {nct: int(nct[3:]) for nct in trials}
    arms = tables["design_groups"]
    first = arms[arms.nct_id == MYELOMA_ID].sort_values("id")
    assert list(first.id) == [4083898 * 1_000_000 + n for n in range(1, len(first) + 1)]


def test_studies_hold_each_trials_latest_values(tables: Tables, trials: dict[str, Trial]) -> None:
    studies = tables["studies"].set_index("nct_id")
    for nct_id, trial in trials.items():
        row = studies.loc[nct_id]
        assert (_value(row.brief_title), _value(row.overall_status), _value(row.enrollment),
                _value(row.phase), _value(row.snapshot_id) is not None) == \
            (trial.brief_title, trial.status.overall, trial.design.enrollment.count,
             "/".join(trial.design.phases) or None, True)
    assert studies.loc[MYELOMA_ID, "overall_status"] == "ACTIVE_NOT_RECRUITING"
    assert studies.loc[MYELOMA_ID, "phase"] == "PHASE1/PHASE2"


def test_the_criteria_tree_rebuilt_from_its_table_is_the_trials(
        tables: Tables, trials: dict[str, Trial]) -> None:
    criteria, thresholds = tables["criteria"], tables["thresholds"]
    for nct_id, trial in trials.items():
        rebuilt = rebuild(criteria[criteria.nct_id == nct_id],
                          thresholds[thresholds.nct_id == nct_id])
        for section in rows.SECTIONS:
            assert rebuilt.get(section, ()) == getattr(trial.eligibility, section), \
                (nct_id, section)


def rebuild(criteria: pd.DataFrame, thresholds: pd.DataFrame) -> dict[str, tuple[Criterion, ...]]:
    """The criterion trees of one trial, by section, from its rows: children by parent_id,
    in the order of their keys, each with its thresholds."""
    bound = [column.name for column in BY_NAME["thresholds"].columns[5:]]
    under: dict[tuple[str, int | None], list[Any]] = {}
    for row in criteria.sort_values("id").itertuples():
        parent = None if pd.isna(row.parent_id) else int(row.parent_id)
        under.setdefault((row.section, parent), []).append(row)
    by_criterion: dict[int, list[Threshold]] = {}
    for row in thresholds.sort_values("id").itertuples():
        by_criterion.setdefault(int(row.criterion_id), []).append(_threshold(row, bound))

    def tree(section: str, parent: int | None, depth: int) -> tuple[Criterion, ...]:
        built = []
        for row in under.get((section, parent), []):
            assert row.depth == depth
            built.append(Criterion(row.positional_id, row.text,
                                   tree(section, int(row.id), depth + 1),
                                   tuple(by_criterion.get(int(row.id), ()))))
        return tuple(built)

    return {section: tree(section, None, 1) for section, parent in under if parent is None}


def _threshold(row: Any, bound: list[str]) -> Threshold:
    values = {name: getattr(row, name) for name in bound}
    return Threshold(**{name: None if isinstance(value, float) and pd.isna(value) else value
                        for name, value in values.items()})


def test_arm_intervention_links_are_the_records_own(tables: Tables,
                                                    trials: dict[str, Trial]) -> None:
    links = tables["design_group_interventions"].merge(
        tables["design_groups"][["id", "title"]], left_on="design_group_id", right_on="id") \
        .merge(tables["interventions"][["id", "name"]], left_on="intervention_id",
               right_on="id")
    found = {(row.nct_id, row.title, row.name) for row in links.itertuples()}
    expected = set()
    for nct_id, trial in trials.items():
        names = {intervention.name for intervention in trial.interventions}
        labels = {arm.label for arm in trial.arms}
        expected |= {(nct_id, arm.label, name) for arm in trial.arms
                     for name in arm.interventions if name in names}
        expected |= {(nct_id, label, intervention.name) for intervention in trial.interventions
                     for label in intervention.arms if label in labels}
    assert found == expected
    assert len(links) == len(found)


def test_history_rows_are_the_stores_change_sets(tables: Tables,
                                                 change_sets: list[ChangeSet]) -> None:
    sets = tables["change_sets"].set_index("id")
    changes = tables["changes"].sort_values("id")
    for change_set in change_sets:
        row = sets.loc[change_set.id]
        assert (row.nct_id, row.from_snapshot_id, row.to_snapshot_id, row.change_count,
                row.top_severity) == (change_set.nct_id, change_set.from_snapshot,
                                      change_set.to_snapshot, len(change_set.changes),
                                      change_set.top_severity.value)
        mine = changes[changes.change_set_id == change_set.id]
        assert [(r.path, r.kind, r.severity, r.label) for r in mine.itertuples()] == \
            [(c.path, c.kind, c.severity.value, c.label) for c in change_set.changes]
        assert [_json(r.old) for r in mine.itertuples()] == [c.old for c in change_set.changes]
        assert [_json(r.new) for r in mine.itertuples()] == [c.new for c in change_set.changes]
    status = changes[changes.path == "status.overall"]
    assert sorted(status.nct_id) == sorted(CHANGED)
    assert {json.loads(new) for new in status.new} == {"ACTIVE_NOT_RECRUITING"}


def _value(cell: Any) -> Any:
    """A cell as Python has it: null (NaN, None, NA) as None."""
    return None if pd.isna(cell) else cell


def _json(text: Any) -> Any:
    return None if not isinstance(text, str) else json.loads(text)


# -- key integrity, by SQL anti-joins ---------------------------------------------------------


def foreign_keys() -> list[tuple[str, str, str, str]]:
    """(table, column, referenced table, referenced column) of every declared reference."""
    return [(table.name, column.name, *column.references.split("."))
            for table in chosen(history=True) for column in table.columns if column.references]


ANTI_JOIN = ("SELECT count(*) FROM {t} AS child LEFT JOIN {r} AS parent "
             "ON child.{c} = parent.{rc} WHERE child.{c} IS NOT NULL AND parent.{rc} IS NULL")


def test_every_foreign_key_resolves_in_sqlite(exported: dict[str, Path]) -> None:
    with sqlite3.connect(exported["sqlite"]) as db:
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        for table, column, target, target_column in foreign_keys():
            query = ANTI_JOIN.format(t=table, c=column, r=target, rc=target_column)
            assert db.execute(query).fetchone() == (0,), (table, column)
        declared = {(table, row[3], row[2], row[4]) for table in BY_NAME
                    for row in db.execute(f"PRAGMA foreign_key_list({table})")}
        assert declared == set(foreign_keys())


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_every_foreign_key_resolves_in_duckdb(exported: dict[str, Path], fmt: str) -> None:
    if fmt not in exported:
        pytest.skip("Parquet export needs pyarrow (pip install 'ctwatch[parquet]')")
    reader = "read_csv_auto" if fmt == "csv" else "read_parquet"
    db = duckdb.connect()
    for table in BY_NAME:
        db.execute(f"CREATE VIEW {table} AS SELECT * FROM "
                   f"{reader}('{exported[fmt] / f'{table}.{fmt}'}')")
    for table, column, target, target_column in foreign_keys():
        query = ANTI_JOIN.format(t=table, c=column, r=target, rc=target_column)
        assert db.execute(query).fetchone() == (0,), (table, column)
    assert db.execute("SELECT count(*) FROM criteria WHERE parent_id IS NOT NULL").fetchone()[0]


def test_sqlite_keeps_types_and_declares_keys(exported: dict[str, Path]) -> None:
    with sqlite3.connect(exported["sqlite"]) as db:
        assert db.execute("SELECT DISTINCT typeof(id), typeof(parent_id) FROM criteria "
                          "WHERE parent_id IS NOT NULL").fetchall() == [("integer", "integer")]
        assert db.execute("SELECT DISTINCT typeof(value) FROM thresholds").fetchall() == \
            [("real",)]
        assert {row[0] for row in db.execute("SELECT adult FROM eligibilities")} <= {0, 1}
        pk = [row[1] for row in db.execute("PRAGMA table_info(studies)") if row[5]]
        assert pk == ["id"]


def test_parquet_columns_carry_their_types_and_meanings(exported: dict[str, Path]) -> None:
    pq = pytest.importorskip("pyarrow.parquet", reason="Parquet export needs pyarrow "
                             "(pip install 'ctwatch[parquet]')")
    if "parquet" not in exported:
        pytest.skip("no parquet export")
    schema = pq.read_schema(exported["parquet"] / "thresholds.parquet")
    assert str(schema.field("id").type) == "int64"
    assert str(schema.field("value").type) == "double"
    assert schema.field("section").metadata[b"description"].decode() == \
        BY_NAME["thresholds"].columns[3].meaning


# -- one trial alone, keys, re-parsing ----------------------------------------------------------


def test_a_trial_exported_alone_has_the_same_rows_and_keys(folder: Path,
                                                           exported: dict[str, Path]) -> None:
    out = folder / "alone.db"
    run = ctwatch(folder, "export", "--format", "sqlite", "--out", str(out), MYELOMA_ID)
    assert run.code == 0, run.stderr
    with sqlite3.connect(out) as alone, sqlite3.connect(exported["sqlite"]) as every:
        for table in chosen(history=False):
            query = f"SELECT * FROM {table.name} WHERE nct_id = ? ORDER BY id"
            assert alone.execute(query, (MYELOMA_ID,)).fetchall() == \
                every.execute(query, (MYELOMA_ID,)).fetchall(), table.name
        assert alone.execute("SELECT count(DISTINCT nct_id) FROM criteria").fetchone() == (1,)
        names = {row[0] for row in alone.execute("SELECT name FROM sqlite_master "
                                                 "WHERE type = 'table'")}
        assert "changes" not in names  # no --history


def test_a_snapshot_of_an_older_parser_is_exported_as_the_parser_reads_it_now(
        folder: Path, tmp_path: Path, exported: dict[str, Path]) -> None:
    shutil.copy(folder / "ctwatch.db", tmp_path / "ctwatch.db")
    (tmp_path / "config.yaml").write_text("store: ctwatch.db\n")
    with sqlite3.connect(tmp_path / "ctwatch.db") as db:
        db.execute("UPDATE snapshots SET parser_version = 1, trial = json_set(trial, "
                   "'$.brief_title', 'as an old parser read it') WHERE nct_id = ?",
                   (MYELOMA_ID,))
    out = tmp_path / "out"
    run = ctwatch(tmp_path, "export", "--format", "csv", "--out", str(out))
    assert run.code == 0, run.stderr
    again, before = load("csv", out, history=False), load("csv", exported["csv"], history=False)
    for table in chosen(history=False):
        assert again[table.name].equals(before[table.name]), table.name
    with sqlite3.connect(tmp_path / "ctwatch.db") as db:  # nothing was written to the store
        assert db.execute("SELECT DISTINCT parser_version FROM snapshots WHERE nct_id = ?",
                          (MYELOMA_ID,)).fetchall() == [(1,)]


@pytest.mark.both_stores
def test_the_store_is_read_alike_on_sqlite_and_postgresql(watcher: Watcher,
                                                          tmp_path: Path) -> None:
    """The store's reads (ctwatch.store.exports: latest snapshots by NCT id, streamed) on
    each store ctwatch keeps, a few trials at a time."""
    assert watcher.check().code == 0
    watcher.publish(amend, "NCT00184067")
    assert watcher.check().code == 0
    out = tmp_path / "out.db"
    named = sorted(REGISTRY_STUDIES)[:3]
    run = watcher.run("export", "--format", "sqlite", "--out", str(out), "--history", *named)
    assert run.code == 0, run.stderr
    with sqlite3.connect(out) as db:
        assert [row[0] for row in db.execute("SELECT nct_id FROM studies ORDER BY id")] == named
        assert db.execute("SELECT count(*) FROM snapshots").fetchone() == \
            (len(named) + ("NCT00184067" in named),)
        assert db.execute("SELECT DISTINCT nct_id FROM changes").fetchall() == \
            [("NCT00184067",)]
        written = db.execute("SELECT count(*) FROM changes").fetchone()[0]
    with watcher.store.open() as store:
        assert written == sum(len(change_set.changes) for change_set in store.change_sets())


# -- rows from a trial's published shape --------------------------------------------------------


def test_a_threshold_stored_without_a_field_reads_it_as_null(trials: dict[str, Trial]) -> None:
    data = trials[MYELOMA_ID].to_dict()
    for criterion in data["eligibility"]["inclusion"]:
        for child in [criterion, *criterion["children"]]:
            for bound in child["thresholds"]:
                bound.pop("unit")
    found = rows.trial_rows(data, 1, None)["thresholds"]
    assert found and all(row["unit"] is None for row in found
                         if row["section"] == "inclusion")


def test_every_row_has_its_tables_columns(trials: dict[str, Trial]) -> None:
    for trial in trials.values():
        for name, made in rows.trial_rows(trial.to_dict(), 1, "2026-01-05").items():
            assert all(list(row) == list(BY_NAME[name].names) for row in made), name


def test_threshold_columns_are_the_threshold_fields() -> None:
    columns = BY_NAME["thresholds"].columns
    assert [c.name for c in columns[5:]] == [f.name.rstrip("_") for f in fields(Threshold)]
    assert set(THRESHOLD_MEANINGS) >= {f.name for f in fields(Threshold)}
    assert [logical_type(hint) for hint in (str | None, float | int, int, float | None,
                                            bool, tuple[str, ...])] == \
        ["text", "real", "integer", "real", "boolean", "json"]


# -- the data dictionary ------------------------------------------------------------------------


def test_the_shipped_data_dictionary_is_the_generated_one() -> None:
    shipped = (ROOT / "docs" / "data-dictionary.md").read_text(encoding="utf-8")
    assert shipped == dictionary.markdown(), (
        "docs/data-dictionary.md is out of date: python -m ctwatch.export.dictionary > "
        "docs/data-dictionary.md")


def test_the_dictionary_describes_every_table_and_column() -> None:
    text = dictionary.markdown()
    for table in TABLES:
        assert f"\n## {table.name}\n" in text
        for column in table.columns:
            assert column.meaning.strip() and f"| `{column.name}` | {column.type} |" in text
    assert Counter(table.aact for table in TABLES if table.aact).most_common(1)[0][1] == 1


# -- the analysts' one-line questions -------------------------------------------------------------

#: README, "Exports for analysts": "every watched trial whose inclusion requires ANC ≥ 1.5×10^9/L"
SQL = ("SELECT DISTINCT nct_id FROM thresholds WHERE section = 'inclusion' "
       "AND measure_code = 'anc' AND comparator IN ('>=', '>') AND value_si >= 1.5")
#: the same in pandas over the CSV export: t = pd.read_csv("export/thresholds.csv"); t.query(…)
QUERY = ("section == 'inclusion' and measure_code == 'anc' and comparator in ['>=', '>'] "
         "and value_si >= 1.5")


def test_the_anc_question_in_sql_over_sqlite(exported: dict[str, Path]) -> None:
    with sqlite3.connect(exported["sqlite"]) as db:
        assert [row[0] for row in db.execute(SQL)] == [MYELOMA_ID]


def test_the_anc_question_in_pandas_over_csv(exported: dict[str, Path]) -> None:
    t = pd.read_csv(exported["csv"] / "thresholds.csv")
    assert list(t.query(QUERY).nct_id.unique()) == [MYELOMA_ID]


def test_the_anc_question_as_written_in_each_record(exported: dict[str, Path]) -> None:
    """The same question by the measure as written, which needs no coding."""
    with sqlite3.connect(exported["sqlite"]) as db:
        found = db.execute("SELECT DISTINCT nct_id, value, unit FROM thresholds WHERE "
                           "section = 'inclusion' AND measure = 'absolute neutrophil count' "
                           "AND comparator IN ('>=', '>')").fetchall()
    assert (MYELOMA_ID, 1500.0, "/mm3") in found
