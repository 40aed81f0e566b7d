"""The code base stays ruff clean: the README's one test command checks it too."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import ROOT


def test_ruff_check_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "ctwatch", "tests",
                             "benchmarks"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
