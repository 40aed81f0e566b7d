"""A hostile or broken config.yaml costs one short line and exit 2, never a traceback, a hang or
a memory blow-up (issue 11, finding 6): odd shapes, values that are not numbers, ports out of
range, drivers not installed, a lock path that is a folder, YAML alias bombs, deep nesting and
huge files."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ctwatch import config, validate
from ctwatch.cli import main
from ctwatch.errors import StoreError
from ctwatch.store import Store
from tests.helpers import ROOT

PREFIX = "ctwatch: error: "
TRIAL = "trials: [NCT04083898]\n"
HOOK = "{kind: webhook, url: 'http://127.0.0.1:9/hook'"
MAIL = "{kind: email, to: a@example.org, from: b@example.org, smtp: {host: localhost"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def invoke(path: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(path), *args])


def one_line(result: Result, code: int = 2) -> str:
    """The one error line of a command that failed with ``code``."""
    assert result.exit_code == code, (result.exit_code, result.stderr[:2000])
    [line] = result.stderr.splitlines()
    assert line.startswith(PREFIX) and "Traceback" not in result.stderr
    assert "unexpected" not in line  # an error ctwatch knows, not a bug
    return line.removeprefix(PREFIX)


# (config.yaml, the key named, a fragment of the message)
BAD = [
    pytest.param(TRIAL + "notify: [{kind: [stdout]}]\n", "notify[0].kind", "unknown channel kind",
                 id="kind-is-a-list"),
    pytest.param(TRIAL + "notify: [{kind: {stdout: 1}}]\n", "notify[0].kind",
                 "unknown channel kind", id="kind-is-a-mapping"),
    pytest.param("trials: [{id: NCT04083898, notify: [{kind: [file]}]}]\n",
                 "trials[0].notify[0].kind", "unknown channel kind", id="trial-kind-is-a-list"),
    pytest.param(TRIAL + "notify: [[stdout]]\n", "notify[0]", "must be a mapping with a kind",
                 id="channel-is-a-list"),
    pytest.param(TRIAL + "api: {timeout_s: .nan}\n", "api.timeout_s", "(got nan)",
                 id="api-timeout-nan"),
    pytest.param(TRIAL + "api: {deadline_s: .inf}\n", "api.deadline_s", "finite",
                 id="api-deadline-inf"),
    pytest.param(TRIAL + f"notify: [{HOOK}, timeout_s: .nan}}]\n", "notify[0].timeout_s",
                 "(got nan)", id="webhook-timeout-nan"),
    pytest.param(TRIAL + f"notify: [{HOOK}, timeout_s: .inf}}]\n", "notify[0].timeout_s",
                 "(got inf)", id="webhook-timeout-inf"),
    pytest.param(TRIAL + f"notify: [{HOOK}, retries: .inf}}]\n", "notify[0].retries",
                 "must be a number", id="webhook-retries-inf"),
    pytest.param(TRIAL + f"notify: [{HOOK}, retries: 1000000}}]\n", "notify[0].retries",
                 "from 0 to 10", id="webhook-retries-huge"),
    pytest.param(TRIAL + f"notify: [{HOOK}, backoff_s: .nan}}]\n", "notify[0].backoff_s",
                 "(got nan)", id="webhook-backoff-nan"),
    pytest.param(TRIAL + f"notify: [{MAIL}, timeout_s: .nan}}}}]\n",
                 "notify[0].smtp.timeout_s", "(got nan)", id="smtp-timeout-nan"),
    pytest.param(TRIAL + f"notify: [{MAIL}, timeout_s: -.inf}}}}]\n",
                 "notify[0].smtp.timeout_s", "(got -inf)", id="smtp-timeout-minus-inf"),
    pytest.param(TRIAL + "notify: [{kind: webhook, url: 'http://127.0.0.1:99999/hook'}]\n",
                 "notify[0].url", "port", id="webhook-port-99999"),
    pytest.param(TRIAL + "notify: [{kind: webhook, url: 'http://127.0.0.1:x/hook'}]\n",
                 "notify[0].url", "port", id="webhook-port-not-a-number"),
    pytest.param(TRIAL + "notify: [{kind: webhook, url: 'http://[::1/hook'}]\n",
                 "notify[0].url", "not an http(s) URL", id="webhook-url-unclosed-bracket"),
    pytest.param(TRIAL + "notify: [{kind: apprise, url: 'json://127.0.0.1:99999/chat'}]\n",
                 "notify[0].url", "port", id="apprise-port-99999"),
    pytest.param(TRIAL + "notify: [{kind: apprise, url: 'json://[::1/chat'}]\n",
                 "notify[0].url", "not one apprise understands", id="apprise-unclosed-bracket"),
    pytest.param(TRIAL + "api: {timeout_s: 1.0e+10}\n", "api.timeout_s", "at most 86400 seconds",
                 id="api-timeout-overflows-timers"),
    pytest.param(TRIAL + f"notify: [{HOOK}, timeout_s: 1.0e+10}}]\n", "notify[0].timeout_s",
                 "from 0.1 to 600", id="webhook-timeout-overflows-timers"),
    pytest.param(TRIAL + "schedule: 2020-13-45\n", "", "cannot read the value '2020-13-45'",
                 id="impossible-date"),
    pytest.param(TRIAL + "max_failures: !!bool maybe\n", "", "cannot read the value 'maybe'",
                 id="tag-that-cannot-build"),
    pytest.param(TRIAL + "api: {requests_per_second: 1.0e-300}\n", "api.requests_per_second",
                 "one request an hour", id="pace-of-ages"),
    pytest.param(TRIAL + "max_failures: " + "9" * 5000 + "\n", "", "Exceeds the limit",
                 id="int-of-5000-digits"),
]


@pytest.mark.parametrize(("text", "key", "fragment"), BAD)
def test_config_check_and_check_say_one_line(tmp_path: Path, text: str, key: str,
                                             fragment: str) -> None:
    path = write(tmp_path, text)
    for command in (["config", "check"], ["check"]):
        line = one_line(invoke(path, *command))
        assert line.startswith(f"{key or path}: ") and fragment in line, line


def test_a_store_driver_that_is_not_installed_is_a_store_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as where it is not installed
    with pytest.raises(StoreError) as raised:
        Store("postgresql://ops:s3cret@db.example/ctwatch")
    message = str(raised.value)
    assert message == ("store postgresql://ops:***@db.example/ctwatch: the postgresql driver "
                       "psycopg is not installed")
    # history reads the configuration without config check's checks: the store says it
    path = write(tmp_path, "store: 'postgresql://ops:s3cret@db.example/ctwatch'\n" + TRIAL)
    line = one_line(invoke(path, "history", "NCT04083898"), code=3)
    assert line == message



@pytest.mark.parametrize("target", ["postgres ql://ops:s3cret@db/x", "nosuchdb://ops:s3cret@h/x",
                                    "postgresql://ops:s3cret@db.example:port/x"])
def test_a_store_url_that_cannot_be_used_is_a_store_error(target: str) -> None:
    with pytest.raises(StoreError) as raised:
        Store(target)
    assert "s3cret" not in str(raised.value) and "\n" not in str(raised.value)


def test_a_lock_path_that_is_a_folder_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "ctwatch.db.lock").mkdir()
    with Store(str(tmp_path / "ctwatch.db")) as db, pytest.raises(StoreError) as raised, \
            db.lock():
        pass
    assert str(raised.value) == (f"store {tmp_path}/ctwatch.db: cannot use its lock file "
                                 f"{tmp_path}/ctwatch.db.lock (Is a directory)")
    path = write(tmp_path, f"store: '{tmp_path}/ctwatch.db'\n" + TRIAL)
    assert one_line(invoke(path, "check"), code=3) == str(raised.value)
    assert one_line(invoke(path, "status"), code=3) == str(raised.value)


def alias_bomb(levels: int = 9) -> str:
    """The "billion laughs" of YAML: nine lines, each nine aliases of the line before."""
    lines = ["a: &a [x,x,x,x,x,x,x,x,x]"]
    for previous, name in itertools.pairwise("abcdefghij"[:levels]):
        lines.append(f"{name}: &{name} [{','.join([f'*{previous}'] * 9)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("where", ["top", "trials", "notify"])
def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path: Path, where: str) -> None:
    bomb = alias_bomb()
    assert len(bomb) < 400
    text = {"top": bomb, "trials": bomb + "trials: *i\n",
            "notify": bomb + TRIAL + "notify: *i\n"}[where]
    path = write(tmp_path, text)
    start = time.process_time()
    for command in (["config", "check"], ["check"]):
        line = one_line(invoke(path, *command))
        assert line == f"{path}: line 2: YAML aliases (*a) are not accepted; write the value out"
    assert time.process_time() - start < 5


def test_an_alias_of_one_value_is_refused_too(tmp_path: Path) -> None:
    path = write(tmp_path, "notify: [&out {kind: stdout}]\ntrials: "
                           "[{id: NCT04083898, notify: [*out]}]\n")
    assert one_line(invoke(path, "config", "check")) == (
        f"{path}: line 2: YAML aliases (*out) are not accepted; write the value out")


def test_anchors_alone_are_harmless(tmp_path: Path) -> None:
    path = write(tmp_path, "trials: &watched [NCT04083898]\n")
    assert invoke(path, "config", "check").exit_code == 0


@pytest.mark.smoke
def test_deep_nesting_is_refused_without_a_crash(tmp_path: Path) -> None:
    # libyaml composes nodes recursively in C: 50,000 brackets crashed the process
    # (segmentation fault), so this runs in a process of its own
    depth = 50_000
    write(tmp_path, "trials: " + "[" * depth + "]" * depth + "\n")
    result = subprocess.run([sys.executable, "-m", "ctwatch", "config", "check"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, check=False,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr == (f"{PREFIX}config.yaml: line 1: nested more than "
                             f"{config.MAX_CONFIG_DEPTH} levels deep\n")


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    path = write(tmp_path, TRIAL)
    with path.open("a") as handle:
        handle.write(("#" * 1023 + "\n") * (config.MAX_CONFIG_BYTES // 1024 + 1))
    line = one_line(invoke(path, "config", "check"))
    assert line == f"{path}: larger than {config.MAX_CONFIG_BYTES // 2**20} MB, the limit"
    assert config.MAX_CONFIG_BYTES == 16 * 2**20


def test_an_endless_file_is_refused(tmp_path: Path) -> None:
    line = one_line(invoke(Path("/dev/zero"), "config", "check"))
    assert line == f"/dev/zero: larger than {config.MAX_CONFIG_BYTES // 2**20} MB, the limit"


HUGE = "x" * 1_000_000


@pytest.mark.parametrize("text", [
    pytest.param(f"trials: ['NCT{HUGE}']\n", id="nct-id"),
    pytest.param(f"trials: [NCT04083898]\napi: {{base_url: 'http://{HUGE}.org:99999'}}\n",
                 id="base-url"),
    pytest.param(f"trials: [NCT04083898]\n{HUGE}: 1\n", id="unknown-key"),
    pytest.param(f"trials: [NCT04083898]\nnotify: [{{kind: '{HUGE}'}}]\n", id="kind"),
    pytest.param(f"trials: [NCT04083898]\nnotify: [{{kind: stdout, min_severity: '{HUGE}'}}]\n",
                 id="min-severity"),
    pytest.param(f"trials: [NCT04083898]\nschedule: '{HUGE}'\n", id="schedule"),
    pytest.param(f"trials: [{{id: NCT04083898, ignore: ['{HUGE}']}}]\n", id="ignore"),
])
def test_an_error_quotes_little_of_a_huge_value(tmp_path: Path, text: str) -> None:
    line = one_line(invoke(write(tmp_path, text), "config", "check"))
    assert len(line) <= validate.MAX_MESSAGE + 1, len(line)


@pytest.mark.parametrize("key", ["a\nb", "\x1b[31mred", "x" * 1000])
def test_an_unknown_key_is_named_on_one_printable_line(tmp_path: Path, key: str) -> None:
    path = tmp_path / "config.yaml"
    import yaml

    path.write_text(yaml.safe_dump({"trials": ["NCT04083898"], key: 1}))
    line = one_line(invoke(path, "config", "check"))
    assert "unknown key" in line and "\x1b" not in line and len(line) < 500
