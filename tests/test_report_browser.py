"""``ctwatch report``: the HTML page of a trial's history, opened in a real headless browser
(Debian's chromium), which reads its rendered text, takes a screenshot and prints it."""

from __future__ import annotations

import functools
import json
import os
import shutil
import struct
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import lxml.html
import pytest

from ctwatch.model import Trial
from ctwatch.store import Store
from tests.test_notify_support import (
    HOSTILE,
    TRIAL,
    ctwatch,
    myeloma,
    save_change,
    with_exclusion,
    with_status,
    write_config,
)

BROWSER = shutil.which("chromium")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars")

#: a same-origin page that reads the report as the browser rendered it
PROBE = """<!DOCTYPE html><html><body><pre id="out"></pre>
<iframe id="report" src="report.html" style="width:1200px;height:1600px"></iframe>
<script>
document.getElementById("report").addEventListener("load", function () {
  var doc = this.contentDocument, del = doc.querySelector("del");
  document.getElementById("out").textContent = JSON.stringify({
    text: doc.body.innerText,
    title: doc.title,
    scripts: doc.querySelectorAll("script, img, [onerror]").length,
    deleted: getComputedStyle(del).textDecorationLine,
    inserted: getComputedStyle(doc.querySelector("ins")).backgroundColor,
    external: this.contentWindow.performance.getEntriesByType("resource").length
  });
});
</script></body></html>"""


@pytest.fixture
def browser() -> str:
    if BROWSER is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium); CI installs it")
    return BROWSER


def amended(trial: Trial) -> Trial:
    outcomes = tuple(replace(o, time_frame="12 months") if o.time_frame == "6 months" else o
                     for o in trial.outcomes)
    return with_status(replace(trial, outcomes=outcomes), "ACTIVE_NOT_RECRUITING")


@pytest.fixture
def report(tmp_path: Path) -> Path:
    """``ctwatch report --out`` over three stored versions of the trial."""
    write_config(tmp_path, ["stdout"])
    v12 = myeloma()
    v13 = amended(v12)
    v14 = with_exclusion(with_status(v13, "SUSPENDED"), HOSTILE)
    with Store(str(tmp_path / "ctwatch.db")) as db:
        save_change(db, v12, v13, versions=(12, 13))
        save_change(db, v13, v14, versions=(13, 14))
    run = ctwatch(tmp_path, "report", TRIAL.lower(), "--out", "report.html")
    assert run.code == 0, run.stderr
    return tmp_path / "report.html"


@pytest.fixture
def served(report: Path) -> Iterator[str]:
    (report.parent / "probe.html").write_text(PROBE)
    handler = functools.partial(_Quiet, directory=str(report.parent))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def chromium(browser: str, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = folder / "chromium-profile"
    return subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=90, check=True)


def test_the_page_reads_right_in_a_browser(browser: str, report: Path, served: str) -> None:
    dom = chromium(browser, report.parent, "--dump-dom", f"{served}/probe.html").stdout
    seen = json.loads(lxml.html.fromstring(dom).get_element_by_id("out").text_content())
    text = seen["text"]
    assert seen["title"] == f"{TRIAL} — Change history — ctwatch"
    assert f"{TRIAL} — Isatuximab, Bendamustine, and Prednisone" in text
    for line in ("v14 of 2022-06-15", "v13 of 2022-06-15", "v12 of 2022-06-15",
                 "Active, not recruiting → Suspended", "Recruiting → Active, not recruiting",
                 "6 months → 12 months", "Outcome changed after study start", "Overall Status",
                 "Exclusion criterion 11 added",
                 "First snapshot: the baseline later versions are compared with.",
                 "Compare these versions on ClinicalTrials.gov"):
        assert line in text, line
    assert text.index("v14") < text.index("v13") < text.index("v12")  # newest first
    assert "status.overall" not in text and "ACTIVE_NOT_RECRUITING" not in text
    assert "<script>alert('x')</script> {{ 7*7 }}" in text  # hostile text shown, inert
    assert seen["scripts"] == 0
    assert seen["deleted"] == "line-through" and seen["inserted"] == "rgb(220, 245, 220)"
    assert seen["external"] == 0  # standalone: no stylesheet, font or image fetched


def test_a_screenshot_and_a_printout(browser: str, report: Path, served: str) -> None:
    screenshot = report.parent / "report.png"
    chromium(browser, report.parent, f"--screenshot={screenshot}", "--window-size=1200,1600",
             f"{served}/report.html")
    header = screenshot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (1200, 1600)
    printout = report.parent / "report.pdf"
    chromium(browser, report.parent, f"--print-to-pdf={printout}", "--no-pdf-header-footer",
             f"{served}/report.html")
    assert printout.read_bytes()[:5] == b"%PDF-" and printout.stat().st_size > 10_000
