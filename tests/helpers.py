"""Paths and loaders shared by the tests."""

from __future__ import annotations

import json
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
