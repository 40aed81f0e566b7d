"""``ctwatch config check`` and ``validate.load`` find the same problems, every one of them.

Each bad configuration below is one that ``config check`` used to call OK while ``check`` then
refused it. Both the command and the loader ``check``/``run``/``notify`` read the file with
must name its key, and the same list of problems: that is the "cannot drift" property.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ctwatch import validate
from ctwatch.checks import plan_from
from ctwatch.cli import main
from ctwatch.errors import ConfigError, ConfigProblems

PREFIX = "ctwatch: error: "

# (config.yaml, the key named, a fragment of the message); {tmp} is a fresh folder
BAD = [
    pytest.param("api: {base_url: 'https://clinicaltrials.gov:99999'}\ntrials: [NCT04083898]\n",
                 "api.base_url", "port", id="port-out-of-range"),
    pytest.param("api: {base_url: 'https://clinical trials.gov'}\ntrials: [NCT04083898]\n",
                 "api.base_url", "spaces", id="space-in-url"),
    pytest.param("api: {base_url: 'https://ops:s3cret@clinicaltrials.gov'}\n"
                 "trials: [NCT04083898]\n",
                 "api.base_url", "user name or password", id="credentials-in-url"),
    pytest.param("trials: [NCT04083898, nct04083898]\n",
                 "trials[1]", "NCT04083898 is listed twice", id="duplicate-trial"),
    pytest.param("trials: []\n", "trials", "no trials to watch", id="empty-trial-list"),
    pytest.param("store: '{tmp}/ctwatch.db'\n", "trials", "no trials to watch",
                 id="no-trial-list"),
    pytest.param("store: '{tmp}/no/such/ctwatch.db'\ntrials: [NCT04083898]\n",
                 "store", "folder {tmp}/no/such does not exist", id="store-folder-missing"),
    pytest.param("store: 'sqlite:///{tmp}/no/such/ctwatch.db'\ntrials: [NCT04083898]\n",
                 "store", "folder {tmp}/no/such does not exist", id="sqlite-url-folder-missing"),
    pytest.param("store: 'postgres ql://db.example/ctwatch'\ntrials: [NCT04083898]\n",
                 "store", "not a database URL", id="store-url-unparseable"),
    pytest.param("store: 'postgresql://ops:s3cret@db.example:port/ctwatch'\n"
                 "trials: [NCT04083898]\n",
                 "store", "not a database URL", id="store-url-bad-port"),
    pytest.param("store: 'nosuchdb://db.example/ctwatch'\ntrials: [NCT04083898]\n",
                 "store", "not a database URL", id="store-url-unknown-database"),
    pytest.param("notify: [{kind: stdout, min_severity: high}]\ntrials: [NCT04083898]\n",
                 "notify[0].min_severity", "'high' is not one of", id="min-severity-high"),
    pytest.param("notify: [{kind: stdout}, {kind: stdout}]\ntrials: [NCT04083898]\n",
                 "notify[1]", "a second channel named 'stdout'", id="two-channels-one-name"),
    pytest.param("trials: [{id: NCT04083898, notify: [slack]}]\n",
                 "trials[0].notify[0]", "no channel named 'slack'", id="trial-notify-no-channel"),
    pytest.param("trials: [{id: NCT04083898, notify: [{kind: file, path: x.jsonl, "
                 "min_severity: high}]}]\n",
                 "trials[0].notify[0].min_severity", "'high' is not one of",
                 id="trial-notify-min-severity-high"),
    pytest.param("trials: [{id: NCT04083898, ignore: ['locations[*].contact']}]\n",
                 "trials[0].ignore[0]", "names no part of a trial", id="trial-ignore-bad-path"),
    pytest.param("trials: [NCT04083898]\nschedule: {every: soon}\n",
                 "schedule.every", "is not an interval", id="bad-schedule"),
]

GOOD = [
    pytest.param("trials: [NCT04083898]\n", id="one-trial"),
    pytest.param("store: '{tmp}/ctwatch.db'\ntrials: [NCT04083898]\n"
                 "api: {base_url: 'http://127.0.0.1:8080/'}\n", id="local-registry"),
    pytest.param("store: 'sqlite:///{tmp}/ctwatch.db'\ntrials: [NCT04083898]\n", id="sqlite-url"),
    pytest.param("notify: [{kind: stdout}, {kind: file, path: a.jsonl, name: slack}]\n"
                 "trials: [{id: NCT04083898, notify: [slack, {kind: file, path: b.jsonl}],"
                 " ignore: ['locations[*].contacts']}, NCT00184067]\n"
                 "schedule: '0 7 * * 1-5'\nrules: {severity: {status.completion: major}}\n",
                 id="routes-and-rules"),
]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text.replace("{tmp}", str(tmp_path)), encoding="utf-8")
    return path


def config_check(path: Path) -> Result:
    return CliRunner().invoke(main, ["--config", str(path), "config", "check"])


def reported(result: Result) -> list[str]:
    """The problems ``config check`` printed, one a line."""
    return [line.removeprefix(PREFIX) for line in result.stderr.splitlines()
            if line.startswith(PREFIX)]


@pytest.mark.parametrize(("text", "key", "fragment"), BAD)
def test_config_check_names_the_key(tmp_path: Path, text: str, key: str, fragment: str) -> None:
    result = config_check(write(tmp_path, text))
    assert result.exit_code == 2, result.stderr
    fragment = fragment.replace("{tmp}", str(tmp_path))
    assert [line for line in reported(result) if line.startswith(f"{key}: ")
            and fragment in line], result.stderr
    assert "s3cret" not in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("text", "key", "fragment"), BAD)
def test_load_refuses_what_config_check_reports(tmp_path: Path, text: str, key: str,
                                                fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigProblems) as raised:
        validate.load(path)
    assert [str(problem) for problem in raised.value.problems] == reported(config_check(path))
    assert raised.value.key == key


@pytest.mark.parametrize(("text", "key", "fragment"), BAD)
def test_check_refuses_what_config_check_reports(tmp_path: Path, text: str, key: str,
                                                 fragment: str) -> None:
    path = write(tmp_path, text)
    result = CliRunner().invoke(main, ["--config", str(path), "check"])
    assert result.exit_code == 2  # a configuration error, before any request
    [line] = result.stderr.splitlines()
    assert line.startswith(PREFIX + reported(config_check(path))[0])


@pytest.mark.parametrize("text", GOOD)
def test_a_good_file_passes_both_and_builds_its_watch(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    result = config_check(path)
    assert result.exit_code == 0, result.stderr
    assert reported(result) == []
    assert plan_from(validate.load(path)).trials  # what `ctwatch check` builds next


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("CTWATCH_TEST_NO_SUCH_VAR", raising=False)
    path = write(tmp_path, "store: '{tmp}/gone/ctwatch.db'\n"
                           "api: {base_url: 'https://x.org:99999', timeout_s: 0}\n"
                           "trials: [NCT04083898, NCT123, NCT04083898, "
                           "{id: NCT00184067, ignore: [nope]}]\n"
                           "notify: [{kind: webhook, url_env: CTWATCH_TEST_NO_SUCH_VAR}]\n"
                           "max_failures: 0\nrules: {ignore: [nope]}\n")
    keys = [line.split(": ")[0] for line in reported(config_check(path))]
    assert keys == ["store", "api.base_url", "api.timeout_s", "trials[1]", "trials[2]",
                    "max_failures", "notify[0].url_env", "rules.ignore[0]",
                    "trials[3].ignore[0]"]


def test_one_problem_reads_as_itself_and_more_are_counted(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^trials\[1\]: NCT04083898 is listed twice$"):
        validate.load(write(tmp_path, "trials: [NCT04083898, NCT04083898]\n"))
    with pytest.raises(ConfigError, match=r"^trials\[0\]: 'NCT1' is not an NCT id .* "
                                          r"\(and 2 more; see ctwatch config check\)$"):
        validate.load(write(tmp_path, "trials: [NCT1, NCT2, NCT3]\n"))


def test_a_missing_file_is_the_defaults_which_watch_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "config.yaml"
    with pytest.raises(ConfigError, match=r"^trials: no trials to watch"):
        validate.load(missing, required=False)
    with pytest.raises(ConfigError, match=r"^store: folder"):
        validate.load(write(tmp_path, "store: '{tmp}/gone/x.db'\ntrials: [NCT04083898]\n"))


def test_the_daemon_needs_a_schedule(tmp_path: Path) -> None:
    path = write(tmp_path, "trials: [NCT04083898]\n")
    assert validate.load(path).schedule is None
    with pytest.raises(ConfigError, match=r"^schedule: missing"):
        validate.load(path, daemon=True)


def test_a_trial_list_shared_by_many_trials_is_checked_once(monkeypatch) -> None:
    checked = []
    real = validate.Rules.with_ignore
    monkeypatch.setattr(validate.Rules, "with_ignore",
                        lambda self, patterns, *, key: checked.append(key) or real(
                            self, patterns, key=key))
    trials = [{"id": f"NCT{n:08d}", "ignore": ["locations[*].contacts"]} for n in range(500)]
    trials += [{"id": f"NCT1{n:07d}", "ignore": ["nope"]} for n in range(2)]
    found = validate.problems_of({"trials": trials})
    assert [problem.key for problem in found] == ["trials[500].ignore[0]", "trials[501].ignore[0]"]
    assert [key for key in checked if key.startswith("trials")] == [
        "trials[0].ignore", "trials[500].ignore", "trials[501].ignore"]


def cpu_seconds(document: dict) -> float:
    """The least CPU time of three validations (the machine is shared)."""
    times = []
    for _ in range(3):
        start = time.process_time()
        assert validate.problems_of(document) == []
        times.append(time.process_time() - start)
    return min(times)


def test_validation_is_linear_in_the_number_of_trials() -> None:
    def document(count: int) -> dict:
        return {"notify": [{"kind": "stdout", "name": "team"}],
                "trials": [{"id": f"NCT{n:08d}", "notify": ["team"], "ignore": ["keywords"]}
                           for n in range(count)]}

    small, large = cpu_seconds(document(2_000)), cpu_seconds(document(20_000))
    assert large < 30 * max(small, 1e-3)  # 10 times the trials: ~10 times the time, not 100
