"""Paths and loaders shared by the tests."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
REALDATA = FIXTURES / "realdata"
MYELOMA = FIXTURES / "NCT04083898" / "NCT04083898.json"
MYELOMA_HISTORY = FIXTURES / "NCT04083898" / "history_v12.json"
MYELOMA_EXPECTED = FIXTURES / "NCT04083898" / "expected.json"


def realdata_files(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (REALDATA / folder).glob("*.json"))


def load_json(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))


def wait_for(condition: Callable[[], object], seconds: float = 10) -> bool:
    """Whether ``condition`` became true within ``seconds`` (polled): wait for what is to
    happen, never a fixed time."""
    ends = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > ends:
            return False
        time.sleep(0.01)
    return True


def signal_when(condition: Callable[[], object], signum: int,
                then: Callable[[], object] | None = None) -> threading.Thread:
    """Send this process ``signum`` (to its main thread) once ``condition`` holds; with
    ``then``, a second one once that holds too (two at once would merge into one)."""
    def send() -> None:
        for ready in (condition, then) if then else (condition,):
            if not wait_for(ready):
                return
            os.kill(os.getpid(), signum)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    return sender
