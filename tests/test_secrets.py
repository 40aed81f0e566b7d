"""Passwords never reach a person's screen or a log shipper (issue 11, finding 7): every URL
printed passes through ``logs.mask_url``, ``logs.redact`` masks credentials in any URL of any
message, and the store's database password can come from the environment
(``store_password_env``) instead of the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ctwatch import logs, validate
from ctwatch.cli import main
from ctwatch.config import parse_config
from ctwatch.errors import ConfigError, StoreError
from ctwatch.notify.webhook import WebhookChannel
from ctwatch.store import Store

SECRET = "s3cret-Pa55"
TRIAL = "trials: [NCT04083898]\n"


def invoke(path: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(path), *args])


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("url", "shown"), [
    ("ctwatch.db", "ctwatch.db"),
    ("/var/lib/ctwatch/ctwatch.db", "/var/lib/ctwatch/ctwatch.db"),
    ("postgresql://ops@db.example/ctwatch", "postgresql://ops@db.example/ctwatch"),
    ("postgresql://ops:s3cret@db.example:5432/ctwatch",
     "postgresql://ops:***@db.example:5432/ctwatch"),
    ("postgresql+psycopg://ops:p%40ss@db.example/ctwatch",
     "postgresql+psycopg://ops:***@db.example/ctwatch"),
    ("postgresql://:s3cret@db.example/ctwatch", "postgresql://:***@db.example/ctwatch"),
    ("postgresql://db.example/ctwatch?user=ops&password=s3cret&sslmode=require",
     "postgresql://db.example/ctwatch?user=ops&password=***&sslmode=require"),
    ("https://me:pw@clinicaltrials.gov/api", "https://me:***@clinicaltrials.gov/api"),
    ("https://hooks.example.org/T0K3N?token=abc", "https://hooks.example.org/T0K3N?token=***"),
])
def test_mask_url_hides_passwords_and_keeps_the_rest(url: str, shown: str) -> None:
    assert logs.mask_url(url) == shown


@pytest.mark.parametrize(("url", "shown"), [
    ("https://hooks.example.org/T0K3N/abc", "https://hooks.example.org/…"),
    ("https://me:pw@hooks.example.org:8443/T0K3N?x=1#y", "https://hooks.example.org:8443/…"),
    ("http://127.0.0.1:99999/hook", "http://127.0.0.1/…"),
    ("no url at all", "…"),
])
def test_mask_url_to_its_host_alone(url: str, shown: str) -> None:
    assert logs.mask_url(url, host_only=True) == shown


def test_a_webhook_is_named_by_the_one_masking_function() -> None:
    channel = WebhookChannel("hook", "https://me:pw@hooks.example.org/T0K3N")
    assert channel.where == logs.mask_url(channel.url, host_only=True)


def test_redact_masks_credentials_in_any_url_of_a_message() -> None:
    message = ("store postgresql://ops:hunter2-x@db/ctwatch: cannot open (could not reach "
               "mysql+pymysql://root:toor@10.0.0.1:3306/x); see https://example.org/a:b@c")
    assert logs.redact(message) == (
        "store postgresql://ops:***@db/ctwatch: cannot open (could not reach "
        "mysql+pymysql://root:***@10.0.0.1:3306/x); see https://example.org/a:b@c")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_store_password_is_in_no_error_line(tmp_path: Path, fmt: str) -> None:
    # history does not run config check's checks: the store's own error is printed
    path = write(tmp_path, f"store: 'postgres ql://ops:{SECRET}@db.example/x'\n" + TRIAL)
    result = invoke(path, "--log-format", fmt, "history", "NCT04083898")
    assert result.exit_code == 3
    assert SECRET not in result.stderr and SECRET not in result.stdout
    [line] = result.stderr.splitlines()
    message = json.loads(line)["message"] if fmt == "json" else line
    assert "store postgres ql://ops:***@db.example/x" in message


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_base_url_password_is_refused_unprinted(tmp_path: Path, fmt: str) -> None:
    path = write(tmp_path, f"api: {{base_url: 'https://ops:{SECRET}@clinicaltrials.gov'}}\n"
                           + TRIAL)
    for command in (["config", "check"], ["check"], ["fetch", "NCT04083898"]):
        result = invoke(path, "--log-format", fmt, *command)
        assert result.exit_code == 2, result.stderr
        assert SECRET not in result.stderr and "user name or password" in result.stderr


def test_store_messages_show_the_url_masked(tmp_path: Path) -> None:
    target = f"sqlite://ops:{SECRET}@/{tmp_path}/ctwatch.db"  # SQLite takes no password
    with pytest.raises(StoreError) as raised:
        Store(target)
    assert str(raised.value).startswith(f"store sqlite://ops:***@/{tmp_path}/ctwatch.db: ")
    assert SECRET not in str(raised.value)
    path = write(tmp_path, f"store: '{target}'\n" + TRIAL)
    line = invoke(path, "config", "check").stderr
    assert line == "ctwatch: error: store: a SQLite URL takes no user name, password or host\n"


def test_store_password_env_is_a_documented_key(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CTWATCH_TEST_DB_PASSWORD", SECRET)
    config = parse_config({"store": "postgresql://ops@db.example/ctwatch",
                           "store_password_env": "CTWATCH_TEST_DB_PASSWORD"})
    assert config.store_password_env == "CTWATCH_TEST_DB_PASSWORD"
    assert config.store_password() == SECRET
    assert SECRET not in repr(config)
    assert parse_config({}).store_password() is None


@pytest.mark.parametrize(("text", "problem"), [
    pytest.param("store: 'postgresql://ops@db.example/x'\nstore_password_env: CTWATCH_TEST_NOPE\n",
                 "store_password_env: environment variable CTWATCH_TEST_NOPE is not set",
                 id="not-set"),
    pytest.param("store: ctwatch.db\nstore_password_env: CTWATCH_TEST_DB_PASSWORD\n",
                 "store_password_env: the store is a SQLite file, which takes no password",
                 id="sqlite-file"),
    pytest.param("store: 'postgresql://ops:x@db.example/x'\n"
                 "store_password_env: CTWATCH_TEST_DB_PASSWORD\n",
                 "store_password_env: the store: URL holds a password already; remove it from "
                 "the file", id="two-passwords"),
    pytest.param("store: 'postgresql://ops@db.example/x'\nstore_password_env: [X]\n",
                 "store_password_env: must be the name of an environment variable (got ['X'])",
                 id="not-a-name"),
])
def test_store_password_env_problems(tmp_path: Path, monkeypatch, text: str,
                                     problem: str) -> None:
    monkeypatch.setenv("CTWATCH_TEST_DB_PASSWORD", SECRET)
    monkeypatch.delenv("CTWATCH_TEST_NOPE", raising=False)
    monkeypatch.setattr(validate, "_url_problems", lambda target: [])  # no driver needed
    path = write(tmp_path, text + TRIAL)
    result = invoke(path, "config", "check")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"ctwatch: error: {problem}"]
    assert SECRET not in result.stderr


def test_store_password_env_when_set_passes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CTWATCH_TEST_DB_PASSWORD", SECRET)
    monkeypatch.setattr(validate, "_url_problems", lambda target: [])
    path = write(tmp_path, "store: 'postgresql://ops@db.example/x'\n"
                           "store_password_env: CTWATCH_TEST_DB_PASSWORD\n" + TRIAL)
    assert validate.problems(path) == []
    assert validate.load(path).store_password() == SECRET


def test_a_missing_store_password_is_a_config_error_when_needed(monkeypatch) -> None:
    monkeypatch.delenv("CTWATCH_TEST_NOPE", raising=False)
    config = parse_config({"store": "postgresql://ops@db.example/x",
                           "store_password_env": "CTWATCH_TEST_NOPE"})
    with pytest.raises(ConfigError, match=r"^store_password_env: environment variable "
                                          r"CTWATCH_TEST_NOPE is not set$"):
        config.store_password()


def test_the_store_takes_its_password_apart_from_its_url(monkeypatch) -> None:
    import sqlalchemy

    given = []

    def create_engine(url, **options):
        given.append(url)
        raise sqlalchemy.exc.OperationalError("connect", {}, Exception(f"refused: {url!s}"))

    monkeypatch.setattr(sqlalchemy, "create_engine", create_engine)
    with pytest.raises(StoreError) as raised:
        Store("postgresql://ops@db.example/ctwatch", password=SECRET)
    [url] = given
    assert (url.username, url.password, url.host) == ("ops", SECRET, "db.example")
    assert SECRET not in str(raised.value)
    assert logs.redact(f"connect with {SECRET} failed") == "connect with *** failed"


def test_a_store_error_never_quotes_the_password(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as raised:
        Store("postgres ql://ops@db/x", password=SECRET)
    assert SECRET not in str(raised.value)
