"""Control and bidi characters of registry text never reach a terminal or a mail reader as
such (issue 11, finding 8): the text channels show them escaped (``\\x1b``, ``\\u202e``), HTML
escapes them too, the JSON channels keep the exact text."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import replace
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from ctwatch.model import ChangeSet, Trial
from ctwatch.notify import present, render
from ctwatch.notify.channels import FileChannel, StdoutChannel
from ctwatch.notify.chat import AppriseChannel
from ctwatch.notify.mail import EmailChannel, Smtp
from ctwatch.store import Store
from tests.test_notify_support import myeloma, save_change, with_exclusion, with_title

ESCAPE = "\x1b]8;;https://evil.example\x07click\x1b]8;;\x07 \x1b[2J\x1b[31mred\x1b[0m"
BIDI = "safe \u202egnp.exe\u202c \u2066iso\u2069 \u200e\u200f\u061c"
OTHERS = "nul\x00 bell\x07 bs\x08 del\x7f c1\x9b csi\x85 vt\x0b ff\x0c cr\rdone"
HOSTILE = f"{ESCAPE} {BIDI} {OTHERS}"
#: what no text channel may carry: C0 but tab and newline, DEL, C1, the bidi controls
FORBIDDEN = {chr(c) for c in (*range(0x20), *range(0x7f, 0xa0)) if chr(c) not in "\t\n"} | set(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def stopped(trial: Trial, why: str) -> Trial:
    """The trial terminated for reason ``why``, which a subject line quotes."""
    return replace(trial, status=replace(trial.status, overall="TERMINATED", why_stopped=why))


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[ChangeSet]:
    trial = myeloma()
    with Store(str(tmp_path / "ctwatch.db")) as db:
        yield save_change(db, trial, stopped(with_exclusion(with_title(trial, HOSTILE), HOSTILE),
                                             HOSTILE))


def raw_controls(text: str) -> set[str]:
    return {char for char in text if char in FORBIDDEN}


@pytest.mark.parametrize(("text", "shown"), [
    ("plain text, «quoted» — ok", "plain text, «quoted» — ok"),
    ("a\x1b[31mb", "a\\x1b[31mb"),
    ("tab\tand\nnewline", "tab\tand\nnewline"),
    ("cr\r del\x7f c1\x9b nel\x85", "cr\\x0d del\\x7f c1\\x9b nel\\x85"),
    ("\u202eabc\u202c \u2066x\u2069 \u200e\u200f\u061c",
     "\\u202eabc\\u202c \\u2066x\\u2069 \\u200e\\u200f\\u061c"),
    ("lone \ud800 surrogate", "lone \\ud800 surrogate"),
])
def test_visible_escapes_controls_and_keeps_the_rest(text: str, shown: str) -> None:
    assert present.visible(text) == shown


def test_the_terminal_alert_shows_controls_escaped(hostile: ChangeSet) -> None:
    out = io.StringIO()
    StdoutChannel("stdout", out).send([hostile])
    text = out.getvalue()
    assert raw_controls(text) == set()
    assert "\\x1b[2J\\x1b[31mred" in text and "\\u202egnp.exe\\u202c" in text
    assert text.count("\n") == render.message_text([hostile]).count("\n") + 1


def test_the_diff_text_shows_controls_escaped(hostile: ChangeSet) -> None:
    assert raw_controls(render.text(hostile)) == set()


def email() -> EmailChannel:
    smtp = Smtp("localhost", 25, False, False, None, None, 5)
    return EmailChannel("email", "ctwatch@example.org", ["ra@example.org"], smtp)


def test_the_e_mail_shows_controls_escaped_in_every_part(hostile: ChangeSet) -> None:
    message = message_from_bytes(bytes(email().message([hostile])), policy=policy.default)
    assert raw_controls(str(message["Subject"])) == set()
    assert "\\x1b" in str(message["Subject"])
    parts = {part.get_content_type(): part.get_content() for part in message.iter_parts()}
    assert raw_controls(parts["text/plain"]) == set()
    assert "\\u202e" in parts["text/plain"]
    assert raw_controls(parts["text/html"]) == set()
    assert "\\u202e" in parts["text/html"]


def test_registry_text_cannot_add_mail_headers(tmp_path: Path) -> None:
    trial = myeloma()
    why = "x\r\nBcc: victim@example.org\n\r\nbody"  # the subject quotes why a study stopped
    with Store(str(tmp_path / "ctwatch.db")) as db:
        change_set = save_change(db, trial, stopped(with_title(trial, why), why))
    data = bytes(email().message([change_set]))
    message = message_from_bytes(data, policy=policy.default)
    assert message["Bcc"] is None
    assert "victim@example.org" in str(message["Subject"])


def test_markdown_and_the_chat_title_show_controls_escaped(hostile: ChangeSet) -> None:
    markdown = render.message_markdown([hostile])
    assert raw_controls(markdown) == set()
    assert "x1b" in markdown and "u202e" in markdown
    assert raw_controls(render.subject([hostile])) == set()


def test_the_chat_channel_sends_escaped_text(hostile: ChangeSet,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    sent = {}

    class Service:
        def notify(self, **message: object) -> bool:
            sent.update(message)
            return True

    monkeypatch.setattr(AppriseChannel, "_service", lambda self: Service())
    AppriseChannel("chat", "json://127.0.0.1:9/x").send([hostile])
    assert raw_controls(str(sent["body"])) == set() and raw_controls(str(sent["title"])) == set()


@pytest.mark.parametrize("render_page", [render.diff_html, render.html_fragment])
def test_html_pages_escape_bidi_controls(hostile: ChangeSet, render_page) -> None:
    assert raw_controls(render_page(hostile)) == set()


def test_the_json_channels_keep_the_exact_text(hostile: ChangeSet, tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    FileChannel("file", path).send([hostile])
    [line] = path.read_text(encoding="utf-8").rstrip("\n").split("\n")
    assert json.loads(line)["title"] == HOSTILE
    assert "\x1b" not in line and "\\u001b" in line  # JSON itself escapes C0 controls
