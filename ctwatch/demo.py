"""``ctwatch demo``: the whole pipeline offline, on bundled versions of NCT04083898.

A local registry (:mod:`ctwatch.replay`) on 127.0.0.1 publishes the versions listed in
``ctwatch/demo/versions.json`` one after the other, each with a new data timestamp; after each
one, :meth:`ctwatch.watch.Watcher.check` runs as cron would run it — the real client over HTTP, the
real parser, a real SQLite store, the diff and its severity rules — and the stdout channel
prints the alerts, each followed by the subject line an e-mail or chat message would carry.
Nothing is left behind unless the store is kept in a folder, where ``ctwatch history`` and
``ctwatch diff`` can then be tried on it.
"""

from __future__ import annotations

import copy
import json
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from ctwatch.checks import RunReport
from ctwatch.config import Config, TrialEntry
from ctwatch.errors import OutputError
from ctwatch.fetch import ApiSettings
from ctwatch.notify.channels import Channel
from ctwatch.notify.present import subject
from ctwatch.replay import Registry, ReplayServer, Version
from ctwatch.watch import Watcher

STORE_FILE = "ctwatch.db"
CONFIG_FILE = "config.yaml"
EXIT_OK = 0
EXIT_FAILED = 3  # as `ctwatch check`: some check failed or an alert was not delivered

Study = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Step:
    """One registry version of the demo: its date, what happened, the edits that make it."""

    date: str
    title: str
    edits: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Script:
    """The bundled sequence: the trial, its first record and the steps that follow."""

    nct_id: str
    base: Study
    steps: tuple[Step, ...]

    def versions(self) -> Iterator[tuple[Step, Study]]:
        """Each step with its full record; every step builds on the one before."""
        study = copy.deepcopy(self.base)
        for step in self.steps:
            for edit in step.edits:
                apply_edit(study, edit)
            refresh_bookkeeping(study, step.date)
            yield step, copy.deepcopy(study)


def load_script() -> Script:
    """The sequence bundled in the package (``ctwatch/demo/versions.json``)."""
    folder = resources.files("ctwatch").joinpath("demo")
    data = json.loads(folder.joinpath("versions.json").read_text(encoding="utf-8"))
    base = json.loads(folder.joinpath(data["base"]).read_text(encoding="utf-8"))
    steps = tuple(Step(v["date"], v["title"], tuple(v["edits"])) for v in data["versions"])
    return Script(data["nct_id"], base, steps)


def apply_edit(study: Study, edit: Mapping[str, Any]) -> None:
    """Apply one edit of versions.json: ``set`` a value, ``unset`` a key, or ``replace`` text."""
    *parents, last = [int(part) if part.isdigit() else part for part in edit["path"].split(".")]
    target: Any = study
    for part in parents:
        target = target[part]
    if edit["op"] == "set":
        target[last] = copy.deepcopy(edit["value"])
    elif edit["op"] == "unset":
        del target[last]
    elif edit["op"] == "replace":
        if edit["old"] not in target[last]:
            raise ValueError(f"{edit['path']}: {edit['old']!r} not found")
        target[last] = target[last].replace(edit["old"], edit["new"])
    else:
        raise ValueError(f"{edit['path']}: unknown edit {edit['op']!r}")


def refresh_bookkeeping(study: Study, date: str) -> None:
    """What the registry changes with every version, none of it worth an alert."""
    study.setdefault("derivedSection", {}).setdefault("miscInfoModule", {})["versionHolder"] = date
    status = study["protocolSection"]["statusModule"]
    status["lastUpdatePostDateStruct"] = {"date": date, "type": "ACTUAL"}
    status["statusVerifiedDate"] = date[:7]


@dataclass(slots=True)
class Tally:
    """What the replay did, for the closing line."""

    versions: int = 0
    change_sets: int = 0
    snapshots: int = 0
    requests: int = 0
    failed: bool = False


def run(out: TextIO, *, workdir: Path | None = None) -> int:
    """Replay the bundled versions and print each step's alerts on ``out``; an exit code.

    The store is a SQLite file in a temporary folder, removed at the end, or ``workdir``'s
    ``ctwatch.db`` (kept, with a config.yaml pointing at it) when a folder is given."""
    script = load_script()
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="ctwatch-demo-") as temp:
            tally = replay(script, Path(temp) / STORE_FILE, out)
        out.write(closing(script, tally))
    else:
        store_path = prepare(workdir)
        tally = replay(script, store_path, out)
        config = write_config(workdir, store_path, script.nct_id)
        out.write(closing(script, tally) + f"store kept in {store_path}; try:\n"
                  f"  ctwatch --config {config} history {script.nct_id}\n"
                  f"  ctwatch --config {config} diff {script.nct_id}\n")
    return EXIT_FAILED if tally.failed else EXIT_OK


def closing(script: Script, tally: Tally) -> str:
    return (f"\nreplayed {tally.versions} versions of {script.nct_id} from a local registry "
            f"({tally.requests} requests): {tally.change_sets} change sets, "
            f"{tally.snapshots} snapshots\n")


def prepare(workdir: Path) -> Path:
    """The store file to keep in ``workdir``: a new folder, or one without a store or config."""
    folder = workdir.resolve()
    for name in (STORE_FILE, CONFIG_FILE):
        if (folder / name).exists():
            raise OutputError(f"{folder / name} already exists: keep the demo in a new folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{folder}: cannot create the folder: {error.strerror}") from None
    return folder / STORE_FILE


def write_config(workdir: Path, store_path: Path, nct_id: str) -> Path:
    """A config.yaml naming the kept store, so that history and diff find it from anywhere."""
    path = workdir.resolve() / CONFIG_FILE
    path.write_text(f"store: {json.dumps(str(store_path))}\ntrials: [{nct_id}]\n",
                    encoding="utf-8")
    return path


def replay(script: Script, store_path: Path, out: TextIO) -> Tally:
    """Publish each version on a local registry and check it; the alerts go to ``out``."""
    registry = Registry()
    tally = Tally()
    with ReplayServer(registry) as server:
        watcher = Watcher(local_config(server.url, store_path, script.nct_id), stdout=out)
        for index, (step, study) in enumerate(script.versions()):
            registry.publish(study)
            registry.add_version(script.nct_id, Version(step.date, study))
            registry.data_timestamp = f"{step.date}T09:00:00"
            out.write(f"\n— {step.date}: {step.title} —\n")
            out.flush()
            report = watcher.check()
            out.write(outcome(report, watcher.plan.channels, first=index == 0))
            tally.versions += 1
            tally.change_sets += len(report.change_sets)
            tally.failed |= report.went_wrong
        tally.snapshots = len(watcher.history(script.nct_id))
        tally.requests = sum(server.counts.values())
    return tally


def local_config(base_url: str, store_path: Path, nct_id: str) -> Config:
    """The demo's configuration: the local registry without pacing, alerts on stdout."""
    api = ApiSettings(base_url=base_url, requests_per_second=1_000_000, timeout_s=10,
                      max_retries=1)
    return Config(store=str(store_path), api=api, trials=(TrialEntry(nct_id),),
                  notify=("stdout",))


def outcome(report: RunReport, channels: Sequence[Channel], *, first: bool) -> str:
    """Lines for what a check did besides the alerts it printed: why there was none, failures."""
    lines = [f"  check failed: {failure.error}" for failure in report.failures]
    lines += [f"  check failed: {report.error}"] if report.error else []
    lines += [f"  alert not delivered on {name}: {error}" for name, error in report.undelivered]
    for change_set in report.change_sets:
        if not any(channel.accepts(change_set.top_severity) for channel in channels):
            lines.append(f"  (no alert: {len(change_set.changes)} changes of severity "
                         f"{change_set.top_severity} stored, below every channel's minimum)")
        else:  # what an e-mail or chat message about it would be titled
            lines.append(f"  subject: {subject([change_set])}")
    if not (report.failures or report.change_sets):
        lines.append(f"  (no alert: {_quiet_reason(first, report.new_snapshots)})")
    return "".join(f"{line}\n" for line in lines)


def _quiet_reason(first: bool, new_snapshots: int) -> str:
    if first:
        return "first snapshot stored, nothing to compare with yet"
    if new_snapshots:
        return "new snapshot stored, only registry bookkeeping changed"
    return "the record is unchanged"
