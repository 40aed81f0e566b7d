"""Which alerts go where, and how many messages: min_severity, digest and per-trial routing,
through ``ctwatch check`` against a real local registry, a real HTTP endpoint and a real store
(a SQLite file and a PostgreSQL database: each test runs on both)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from ctwatch.fetch import ApiSettings
from ctwatch.replay import Registry, ReplayServer
from tests.conftest import posted_anew, two_trials
from tests.stores import StoreUnderTest
from tests.test_notify_support import (
    TRIAL,
    Hook,
    ctwatch,
    environment,
    http_endpoint,
    write_config,
)

OTHER = "NCT00184067"
Study = dict[str, Any]

pytestmark = pytest.mark.both_stores


@pytest.fixture
def registry() -> Registry:
    return two_trials()


@pytest.fixture
def hook() -> Any:
    with http_endpoint(Hook()) as endpoint:
        yield endpoint


def publish(registry: Registry, nct_id: str, change: Callable[[Study], None]) -> None:
    study = json.loads(registry.record(nct_id) or b"{}")
    change(study)
    posted_anew(study)
    registry.publish(study)
    registry.data_timestamp += "1"


def status(overall: str) -> Callable[[Study], None]:
    def change(study: Study) -> None:
        study["protocolSection"]["statusModule"]["overallStatus"] = overall
    return change


def site_status(study: Study) -> None:
    """Only the site's recruitment status: an info change."""
    study["protocolSection"]["contactsLocationsModule"]["locations"][0]["status"] = "COMPLETED"


def received(hook: Hook) -> dict[str, list[Any]]:
    """The posted bodies by endpoint path."""
    found: dict[str, list[Any]] = defaultdict(list)
    for path, _, body in hook.requests:
        found[path].append(json.loads(body))
    return dict(found)


def hooks(url: str, *names_and_options: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"kind": "webhook", "name": name, "url": f"{url}/{name}", "retries": 0, **options}
            for name, options in names_and_options]


@pytest.fixture
def folder(tmp_path: Path, hook: Hook, fast_api: ApiSettings, store: StoreUnderTest) -> Path:
    api = {key: value for key, value in asdict(fast_api).items() if key != "user_agent"}
    channels = hooks(hook.url, ("all", {}), ("critical", {"min_severity": "critical"}),
                     ("digest", {"digest": True}), ("info", {"min_severity": "info"}))
    team = {"kind": "webhook", "name": "team", "url": f"{hook.url}/team", "retries": 0}
    trials = [TRIAL, {"id": OTHER, "notify": ["critical", "digest", team]}]
    write_config(tmp_path, channels, api=api, trials=trials, **store.settings)
    return tmp_path


def test_min_severity_digest_and_routing(folder: Path, registry: Registry, hook: Hook,
                                         replay: ReplayServer) -> None:
    assert ctwatch(folder, "check").code == 0  # the baseline: no alerts
    assert hook.requests == []
    publish(registry, TRIAL, status("ACTIVE_NOT_RECRUITING"))  # major
    publish(registry, OTHER, status("WITHDRAWN"))  # critical
    run = ctwatch(folder, "check")
    assert run.code == 0, run.stderr
    got = received(hook)
    assert {path: [body.get("nct_id") for body in bodies] for path, bodies in got.items()
            if path != "/digest"} == {
        "/all": [TRIAL],  # OTHER has its own list, without "all"
        "/critical": [OTHER],  # TRIAL's change is only major
        "/info": [TRIAL],
        "/team": [OTHER],  # a channel of OTHER's own
    }
    [digest] = got["/digest"]  # one message for the whole run, of both change sets
    assert sorted(c["nct_id"] for c in digest["change_sets"]) == sorted([TRIAL, OTHER])
    assert digest["top_severity"] == "critical"

    hook.requests.clear()
    publish(registry, TRIAL, site_status)  # info only
    assert ctwatch(folder, "check").code == 0
    assert {path: len(bodies) for path, bodies in received(hook).items()} == {"/info": 1}
    [body] = received(hook)["/info"]
    assert body["top_severity"] == "info"


def test_a_digest_on_stdout_is_one_message(tmp_path: Path, registry: Registry,
                                           fast_api: ApiSettings, store: StoreUnderTest) -> None:
    api = {key: value for key, value in asdict(fast_api).items() if key != "user_agent"}
    write_config(tmp_path, [{"kind": "stdout", "digest": True}], api=api,
                 trials=[TRIAL, OTHER], **store.settings)
    ctwatch(tmp_path, "check")
    publish(registry, TRIAL, status("ACTIVE_NOT_RECRUITING"))
    publish(registry, OTHER, status("WITHDRAWN"))
    run = ctwatch(tmp_path, "check", env=environment())
    assert run.code == 0, run.stderr
    assert run.stdout.startswith("ctwatch: 2 change sets in 2 trials, top severity CRITICAL\n")
    assert run.stdout.count("[CRITICAL] Overall Status: Terminated → Withdrawn") == 1
    assert run.stdout.count("[MAJOR] Overall Status: Recruiting → Active, not recruiting") == 1
