"""A command imports only what it uses: the quick ones never load the store, the notifiers, the
network or the scheduler (benchmarks/startup.py measures what that saves)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import MYELOMA, ROOT

HEAVY = ("sqlalchemy", "apprise", "http.server", "requests", "urllib3", "bs4", "apscheduler",
         "yaml")
PROBE = """
import json, sys
heavy = json.loads(sys.argv[2])
sys.argv = ["ctwatch", *json.loads(sys.argv[1])]
from ctwatch.cli import main
code = None
try:
    main()
except SystemExit as exit:
    code = exit.code
sys.stderr.write(json.dumps([code, sorted(m for m in heavy if m in sys.modules)]))
"""


@pytest.mark.parametrize("args", [["--version"], ["schema"], ["parse", str(MYELOMA)]],
                         ids=["--version", "schema", "parse FILE"])
def test_a_quick_command_loads_nothing_it_does_not_use(args: list[str]) -> None:
    result = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args), json.dumps(HEAVY)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    code, loaded = json.loads(result.stderr.splitlines()[-1])
    assert code in (0, None), result.stderr
    assert loaded == []
    assert result.stdout.strip()  # it did its job
