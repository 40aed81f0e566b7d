"""``ctwatch feed``: an Atom feed of recent change sets that real parsers accept."""

from __future__ import annotations

from pathlib import Path

import feedparser
import lxml.html
import pytest
from lxml import etree

from ctwatch.notify import feed
from ctwatch.store import Store
from tests.test_notify_support import (
    HOSTILE,
    TRIAL,
    ctwatch,
    myeloma,
    save_change,
    with_nct_id,
    with_status,
    with_title,
    write_config,
)

A = "{http://www.w3.org/2005/Atom}"
OTHER = "NCT00000002"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_config(tmp_path, ["stdout"])
    trial = myeloma()
    other = with_nct_id(trial, OTHER)
    with Store(str(tmp_path / "ctwatch.db")) as db:
        save_change(db, trial, with_status(trial, "SUSPENDED"))
        save_change(db, other, with_title(with_status(other, "COMPLETED"), HOSTILE))
    return tmp_path


def test_the_feed_is_valid_atom_with_one_entry_per_change_set(folder: Path) -> None:
    run = ctwatch(folder, "feed", "--out", "changes.atom", "--url",
                  "https://intranet.example.org/ctwatch/changes.atom")
    assert run.code == 0, run.stderr
    data = (folder / "changes.atom").read_bytes()
    parsed = feedparser.parse(data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert [entry.title.split(" — ")[0] for entry in parsed.entries] == [
        f"MAJOR {OTHER}: Overall Status → Completed and 1 more change",
        f"CRITICAL {TRIAL}: Overall Status → Suspended"]  # newest first
    first = parsed.entries[1]
    assert first.title.endswith(" — Isatuximab, Bendamustine, and Prednisone in Refractory "
                                "Multiple Myeloma")
    assert first.link == f"https://clinicaltrials.gov/study/{TRIAL}?tab=history&a=13&b=14"
    assert first.summary == "Overall Status: Recruiting → Suspended"
    content = " ".join(lxml.html.fromstring(first.content[0].value).text_content().split())
    assert "Overall Status Recruiting → Suspended" in content

    root = etree.fromstring(data)
    assert root.tag == f"{A}feed"
    for name in ("id", "title", "updated", "author/" + A + "name"):
        assert root.findtext(A + name), name
    assert root.find(f"{A}link[@rel='self']").get("href").endswith("/changes.atom")
    for entry in root.findall(f"{A}entry"):
        for name in ("id", "title", "updated", "published", "summary", "content"):
            assert entry.findtext(A + name), name
        assert entry.find(f"{A}link[@rel='alternate']").get("href").startswith("https://")
        assert entry.find(f"{A}content").get("type") == "html"


def test_entry_ids_are_stable_and_the_feed_unchanged_without_news(folder: Path) -> None:
    first = ctwatch(folder, "feed")
    second = ctwatch(folder, "feed")
    assert first.code == 0 and first.stdout == second.stdout
    ids = [entry.id for entry in feedparser.parse(first.stdout).entries]
    assert len(set(ids)) == 2 and all(i.startswith("urn:uuid:") for i in ids)
    with Store(str(folder / "ctwatch.db")) as db:
        assert sorted(ids) == sorted(feed.entry_id(c) for c in db.change_sets())


def test_hostile_text_stays_text_in_the_feed(folder: Path) -> None:
    data = ctwatch(folder, "feed", "--limit", "1").stdout.encode()
    root = etree.fromstring(data)
    [entry] = root.findall(f"{A}entry")
    assert HOSTILE in entry.findtext(f"{A}title")
    content = entry.findtext(f"{A}content")  # HTML, as text of the element
    assert "&lt;script&gt;" in content and "<script" not in content and "<img" not in content


def test_an_unwritable_feed_file_is_a_one_line_error(folder: Path) -> None:
    run = ctwatch(folder, "feed", "--out", "no/such/folder/changes.atom")
    assert run.code == 2
    assert run.stderr.strip() == ("ctwatch: error: --out: cannot write "
                                  "no/such/folder/changes.atom: No such file or directory")
