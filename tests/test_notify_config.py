"""Channel configuration: kinds, keys, names, secrets from the environment, per-trial routing."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from ctwatch import notify
from ctwatch.errors import ConfigError
from ctwatch.fetch import ApiSettings
from ctwatch.notify.chat import AppriseChannel, redact
from ctwatch.notify.mail import EmailChannel
from ctwatch.notify.webhook import WebhookChannel
from ctwatch.replay import ReplayServer
from tests.test_notify_support import ctwatch, environment, write_config

ENV = {"SMTP_PASSWORD": "hunter2-hunter2", "HOOK_URL": "https://hooks.example.org/T0K3N/abc",
       "CHAT_URL": "json://127.0.0.1:9/chat-T0K3N"}
EMAIL = {"kind": "email", "to": "ra@example.org", "from": "ctwatch@example.org",
         "smtp": {"host": "smtp.example.org", "user": "ctwatch", "password_env": "SMTP_PASSWORD"}}


def build(*entries: Any, environ: dict[str, str] | None = None) -> list[notify.Channel]:
    return notify.build(list(entries), environ=ENV if environ is None else environ)


def test_every_kind_builds_with_stable_names_and_defaults() -> None:
    channels = build("stdout", {"kind": "file", "path": "alerts.jsonl"}, EMAIL,
                     {"kind": "webhook", "url_env": "HOOK_URL"},
                     {"kind": "webhook", "url": "http://127.0.0.1:8080/hook"},
                     {"kind": "apprise", "url_env": "CHAT_URL"},
                     {"kind": "apprise", "url": "ntfy://ntfy.example.org/topic", "name": "ntfy"})
    assert [c.name for c in channels] == [
        "stdout", "file:alerts.jsonl", "email:ra@example.org", "webhook:HOOK_URL",
        "webhook:127.0.0.1", "apprise:CHAT_URL", "ntfy"]
    assert {(c.min_severity, c.digest) for c in channels} == {("minor", False)}


def test_email_defaults_to_starttls_on_port_587() -> None:
    [channel] = build(EMAIL)
    assert isinstance(channel, EmailChannel)
    smtp = channel.smtp
    assert (smtp.port, smtp.starttls, smtp.ssl, smtp.user) == (587, True, False, "ctwatch")
    assert smtp.password == ENV["SMTP_PASSWORD"]
    assert ENV["SMTP_PASSWORD"] not in repr(smtp)
    [implicit] = build({**EMAIL, "smtp": {**EMAIL["smtp"], "ssl": True}})
    assert isinstance(implicit, EmailChannel)
    assert (implicit.smtp.port, implicit.smtp.starttls) == (465, False)


def test_min_severity_and_digest_are_read() -> None:
    [channel] = build({"kind": "stdout", "min_severity": "critical", "digest": True})
    assert (channel.min_severity, channel.digest) == ("critical", True)


#: min_severity (None: not given) → the top severities of the change sets sent on the channel
SENT = {
    "info": ["info", "minor", "major", "critical"],
    "minor": ["minor", "major", "critical"],
    None: ["minor", "major", "critical"],
    "major": ["major", "critical"],
    "critical": ["critical"],
}


@pytest.mark.parametrize(("min_severity", "sent"), SENT.items())
def test_min_severity_sends_what_reaches_it_in_the_order_of_severities(
        min_severity: str | None, sent: list[str]) -> None:
    given = {"min_severity": min_severity} if min_severity else {}
    [channel] = build({"kind": "stdout", **given})
    assert {s for s in SENT["info"] if channel.accepts(s)} == set(sent)


@pytest.mark.parametrize("value", ["high", "Major", " major", "", None, 3, ["major"]])
def test_an_unknown_min_severity_is_one_line_naming_the_key(value: Any) -> None:
    with pytest.raises(ConfigError) as raised:
        build({"kind": "stdout", "min_severity": value})
    assert str(raised.value) == (f"notify[0].min_severity: {value!r} is not one of info, minor, "
                                 "major, critical")


BAD = [
    ({"kind": "sms"}, "notify[0].kind: unknown channel kind 'sms'"),
    ({"kind": "stdout", "colour": "red"}, "notify[0].colour: unknown key"),
    ({**EMAIL, "password": "x"}, "secrets come from the environment"),
    ({"kind": "stdout", "min_severity": "high"}, "notify[0].min_severity: 'high' is not one"),
    ({"kind": "stdout", "digest": "yes"}, "notify[0].digest: must be true or false"),
    ({"kind": "file"}, "notify[0].path: missing"),
    ({**EMAIL, "to": ["not an address"]}, "notify[0].to: not an e-mail address"),
    ({**EMAIL, "from": None}, "notify[0].from: missing"),
    ({**EMAIL, "smtp": {"host": "h", "port": 0}}, "notify[0].smtp.port: must be a port"),
    ({**EMAIL, "smtp": {"host": "h", "ssl": True, "starttls": True}}, "smtp.starttls: ssl"),
    ({**EMAIL, "smtp": {"host": "h", "password_env": "SMTP_PASSWORD"}}, "smtp.user: missing"),
    ({**EMAIL, "smtp": {"host": "h", "starttls": False, "user": "u",
                        "password_env": "SMTP_PASSWORD"}}, "smtp.user: would send the password"),
    ({**EMAIL, "smtp": {**EMAIL["smtp"], "password_env": "NOPE"}},
     "notify[0].smtp.password_env: environment variable NOPE is not set"),
    ({"kind": "webhook"}, "notify[0].url: give either url or url_env"),
    ({"kind": "webhook", "url": "http://a", "url_env": "HOOK_URL"}, "give either url or url_env"),
    ({"kind": "webhook", "url_env": "NOPE"}, "notify[0].url_env: environment variable NOPE"),
    ({"kind": "webhook", "url": "ftp://example.org/x"}, "notify[0].url: 'ftp://example.org/x' is"),
    ({"kind": "webhook", "url": "http://a", "retries": -1}, "notify[0].retries: must be a number"),
    ({"kind": "apprise", "url": "nosuchscheme://T0K3N@x"}, "notify[0].url: the nosuchscheme://"),
]


@pytest.mark.parametrize(("entry", "message"), BAD)
def test_a_bad_channel_is_a_config_error_naming_its_key(entry: Any, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        build(entry)
    assert message in str(raised.value)
    assert not any(secret in str(raised.value) for secret in (*ENV.values(), "T0K3N"))


def test_a_secret_url_from_the_environment_is_never_in_a_message() -> None:
    with pytest.raises(ConfigError) as raised:
        build({"kind": "webhook", "url_env": "HOOK_URL"},
              environ={"HOOK_URL": "ftp://T0K3N@example.org"})
    assert str(raised.value) == ("notify[0].url_env: the URL in HOOK_URL is not an http(s) URL")
    with pytest.raises(ConfigError) as raised:
        build({"kind": "apprise", "url_env": "CHAT_URL"},
              environ={"CHAT_URL": "nosuchscheme://T0K3N"})
    assert "T0K3N" not in str(raised.value)


def test_two_channels_need_two_names() -> None:
    with pytest.raises(ConfigError, match=r"notify\[1\]: a second channel named 'stdout'"):
        build("stdout", "stdout")
    assert [c.name for c in build("stdout", {"kind": "stdout", "name": "terminal"})] == [
        "stdout", "terminal"]


def test_channel_urls_are_shown_without_their_secrets() -> None:
    [hook, chat] = build({"kind": "webhook", "url_env": "HOOK_URL"},
                         {"kind": "apprise", "url_env": "CHAT_URL"})
    assert isinstance(hook, WebhookChannel) and isinstance(chat, AppriseChannel)
    assert hook.where == "https://hooks.example.org/…"
    assert redact("could not reach 127.0.0.1 at json://127.0.0.1:9/chat-T0K3N (chat-T0K3N)",
                  ENV["CHAT_URL"]) == "could not reach *** at *** (***)"


# -- per-trial routing --------------------------------------------------------------------------


def test_a_trial_goes_to_its_own_channels_and_the_others_to_all() -> None:
    routing = notify.routing(
        ["stdout", {"kind": "file", "path": "all.jsonl", "name": "all"}],
        [("NCT04083898", ()),
         ("NCT00184067", ["all", {"kind": "file", "path": "team.jsonl"}]),
         ("NCT00973089", [{"kind": "file", "path": "team.jsonl"}])],
        environ=ENV)
    assert [c.name for c in routing.channels] == ["stdout", "all", "file:team.jsonl"]
    assert routing.routes == {"NCT04083898": ("stdout", "all"),
                              "NCT00184067": ("all", "file:team.jsonl"),
                              "NCT00973089": ("file:team.jsonl",)}


def test_a_trial_naming_an_unknown_channel_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"trials\[0\]\.notify\[0\]: no channel named 'chat' "
                                          r"in notify: \(names: stdout\)"):
        notify.routing(["stdout"], [("NCT04083898", ["chat"])], environ=ENV)


def test_a_missing_secret_stops_check_before_any_request(tmp_path: Path, replay: ReplayServer,
                                                         fast_api: ApiSettings) -> None:
    api = {key: value for key, value in asdict(fast_api).items() if key != "user_agent"}
    write_config(tmp_path, [EMAIL], api=api)
    run = ctwatch(tmp_path, "check", env=environment())
    assert run.code == 2
    assert run.stderr.strip() == ("ctwatch: error: notify[0].smtp.password_env: environment "
                                  "variable SMTP_PASSWORD is not set")
    assert sum(replay.counts.values()) == 0
