"""Fixtures for the local registry: a real HTTP server on 127.0.0.1 that can be told to fail.

Failure injection lives here, not in ``ctwatch/replay.py``: a handler subclass consults a
:class:`Faults` list before each reply.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from hypothesis import HealthCheck, settings

from ctwatch.fetch import ApiSettings
from ctwatch.replay import (
    Query,
    Registry,
    ReplayHandler,
    ReplayServer,
    Reply,
    canonical_id,
    text_reply,
)
from tests.helpers import (
    MYELOMA,
    REALDATA,
    Run,
    ctwatch,
    environment,
    logger_state,
    restore,
)
from tests.helpers import kept_logging as kept_logging  # for the daemon tests
from tests.stores import StoreUnderTest
from tests.stores import postgres as postgres  # the fixtures of the stores under test
from tests.stores import store as store
from tests.stores import store_kind as store_kind

SMOKE = ("smoke: a real `python -m ctwatch` process, for what only a process shows (cron's "
         "view of a run, signals, SIGKILL, a lock held by another process); the other CLI "
         "tests run the same entry point in-process")


BOTH_STORES = ("both_stores: the test runs against a SQLite file and against a PostgreSQL "
               "database (tests/stores.py); without it, against SQLite only")
STORES = ("sqlite", "postgresql")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", SMOKE)
    config.addinivalue_line("markers", BOTH_STORES)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_kind" in metafunc.fixturenames and \
            metafunc.definition.get_closest_marker("both_stores"):
        metafunc.parametrize("store_kind", STORES, indirect=True)


# Property-based tests: a fixed seed and few examples in the suite; HYPOTHESIS_PROFILE=long
# for a longer, random search (README, "Development").
settings.register_profile("ctwatch", max_examples=25, derandomize=True, deadline=None,
                          database=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", settings.get_profile("ctwatch"), max_examples=2000,
                          derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ctwatch"))

#: the real records the local registry serves (fixtures/realdata, see its SOURCES.md)
REGISTRY_STUDIES = ("NCT00184067", "NCT00973089", "NCT03475563", "NCT03934567", "NCT05147467")
MAINTENANCE_PAGE = b"<!DOCTYPE html><html><body><h1>Down for maintenance</h1></body></html>"
TOO_DEEP = b"[" * 100_000 + b"]" * 100_000  # valid JSON, deeper than Python's decoder can go


@dataclass
class Fault:
    """One way to fail: ``kind`` on requests of ``route``, ``times`` times (None: always).

    kinds: status (``status`` + ``headers``), html (200 text/html), truncate (connection cut
    half-way through the body), slow (``delay_s`` before the reply), wrong_id (the record, or
    the listed study ``target``, carries another NCT id), drop (``target`` left out of list
    pages), uri_limit (414 when the request target is longer than ``max_url``), poison (a
    request that names ``target`` gets a body that cannot be decoded: its study, in the page or
    alone, is a list nested 100,000 deep).

    Hostile kinds (issue 11): endless_tokens (every list reply is the query's first page, with
    ``target`` left out, and a new nextPageToken), trickle (the body a byte every ``delay_s``),
    silent (no reply until the test ends, at most ``delay_s``), endless (a chunked JSON body
    without end, ``size_mb`` at most), gzip_bomb (Content-Encoding: gzip, inflating to
    ``size_mb`` of JSON whitespace). ``hung_up`` is set when the client hangs up mid-body.

    ``none``: the reply untouched; with ``times``, that many requests go through before the
    faults added after it apply.

    ``probes`` False: the registry's light probes (``fields=``, the last-update dates a check
    asks for first) are answered untouched; the fault is the whole records' to bear.
    """

    route: str
    kind: str
    times: int | None = None
    status: int = 500
    headers: tuple[tuple[str, str], ...] = ()
    only: str | None = None  # only requests whose path names this NCT id
    target: str | None = None
    delay_s: float = 1.0
    max_url: int = 0
    text: str = "Injected failure"
    size_mb: int = 3072
    probes: bool = True
    hung_up: threading.Event = field(default_factory=threading.Event)
    reached: threading.Event = field(default_factory=threading.Event)  # set: it held a reply


class Faults:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.released = threading.Event()  # set: faults that hold a reply back let go

    def release(self) -> None:
        self.released.set()

    def add(self, route: str, kind: str, **options: Any) -> Fault:
        fault = Fault(route, kind, **options)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, route: str, nct_id: str | None, *, probe: bool = False) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.route != route or fault.times == 0 or (probe and not fault.probes):
                    continue
                if fault.only is not None and fault.only != nct_id:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                return fault
        return None


def _rewrite(reply: Reply, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> Reply:
    """The reply with its study (or the studies of its page) changed by ``change``."""
    body = json.loads(reply.body)
    if "studies" in body:
        body["studies"] = change(body["studies"])
    else:
        [body] = change([body])
    return Reply(reply.status, (json.dumps(body).encode(),), reply.content_type, reply.headers)


def _nct(study: dict[str, Any]) -> str:
    return study["protocolSection"]["identificationModule"]["nctId"]


def _wrong_id(fault: Fault, studies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for study in studies:
        if fault.target in (None, _nct(study)):
            study["protocolSection"]["identificationModule"]["nctId"] = "NCT00000001"
    return studies


_TOKENS = itertools.count(1)


def _endless_tokens(fault: Fault, reply: Reply) -> Reply:
    body = json.loads(reply.body)
    body["studies"] = [study for study in body["studies"] if _nct(study) != fault.target]
    body["nextPageToken"] = f"endless-{next(_TOKENS)}"
    return Reply(reply.status, (json.dumps(body).encode(),), reply.content_type, reply.headers)


def _inject(handler: ReplayHandler, fault: Fault, reply: Reply, faults: Faults) -> Reply:
    if fault.kind == "status":
        return text_reply(fault.status, fault.text, *fault.headers)
    if fault.kind == "html":
        return Reply(200, (MAINTENANCE_PAGE,), "text/html; charset=utf-8")
    if fault.kind == "slow":
        fault.reached.set()
        faults.released.wait(fault.delay_s)  # a reply late by delay_s, or until released
    if fault.kind == "uri_limit" and len(handler.path) > fault.max_url:
        return text_reply(414, "URI Too Long")
    if fault.kind == "wrong_id" and reply.status == 200:
        return _rewrite(reply, lambda studies: _wrong_id(fault, studies))
    if fault.kind == "drop" and reply.status == 200:
        return _rewrite(reply, lambda studies: [s for s in studies if _nct(s) != fault.target])
    if fault.kind == "poison" and reply.status == 200 and fault.target in _named_ids(handler):
        return _poison(reply, fault.target)
    if fault.kind == "endless_tokens" and reply.status == 200:
        return _endless_tokens(fault, reply)
    return reply


def _named_ids(handler: ReplayHandler) -> list[str | None]:
    """The NCT ids a request names: its path's id, or its filter.ids."""
    url = urlsplit(handler.path)
    listed = ",".join(parse_qs(url.query).get("filter.ids", []))
    values = listed.split(",") if listed else [url.path.rstrip("/").rsplit("/", 1)[-1]]
    return [canonical_id(value) for value in values]


def _poison(reply: Reply, target: str | None) -> Reply:
    """The reply with ``target``'s study replaced by JSON nested too deeply to decode."""
    body = json.loads(reply.body)
    if "studies" not in body:
        return Reply(200, (TOO_DEEP,), reply.content_type, reply.headers)
    studies = [TOO_DEEP if _nct(s) == target else json.dumps(s).encode() for s in body["studies"]]
    rest = b"".join(b"," + json.dumps(key).encode() + b":" + json.dumps(value).encode()
                    for key, value in body.items() if key != "studies")
    chunks = (b'{"studies":[', b",".join(studies), b"]", rest, b"}")
    return Reply(200, chunks, reply.content_type, reply.headers)


def _send_trickle(handler: ReplayHandler, fault: Fault, faults: Faults, reply: Reply) -> None:
    body = reply.body
    _start(handler, reply, ("Content-Length", str(len(body))))
    for index in range(len(body)):
        if faults.released.wait(fault.delay_s):
            handler.wfile.write(body[index:])
            return
        handler.wfile.write(body[index : index + 1])


def _send_endless(handler: ReplayHandler, fault: Fault, faults: Faults, reply: Reply) -> None:
    _start(handler, reply, ("Transfer-Encoding", "chunked"))
    filler = b'{"x":0},' * 8192
    _chunk(handler, b'{"studies":[')
    for _ in range(fault.size_mb * 1024 * 1024 // len(filler)):
        _chunk(handler, filler)
    _chunk(handler, b'{"x":0}]}')
    _chunk(handler, b"", last=True)


def _send_gzip_bomb(handler: ReplayHandler, fault: Fault, faults: Faults, reply: Reply) -> None:
    """JSON that is mostly whitespace, compressed ~1000:1 as it is sent: a few MB on the wire
    inflate to ``size_mb``; only what the client reads is ever compressed."""
    _start(handler, reply, ("Transfer-Encoding", "chunked"), ("Content-Encoding", "gzip"))
    gzip = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    spaces = b" " * (1024 * 1024)
    _chunk(handler, gzip.compress(b'{"studies":['))
    for _ in range(fault.size_mb):
        _chunk(handler, gzip.compress(spaces))
    _chunk(handler, gzip.compress(b"]}") + gzip.flush())
    _chunk(handler, b"", last=True)


def _start(handler: ReplayHandler, reply: Reply, *headers: tuple[str, str]) -> None:
    handler.send_response(reply.status)
    handler.send_header("Content-Type", reply.content_type)
    for name, value in headers:
        handler.send_header(name, value)
    handler.end_headers()


def _chunk(handler: ReplayHandler, data: bytes, *, last: bool = False) -> None:
    if data or last:  # an empty chunk ends the body
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))


_STREAMED = {"trickle": _send_trickle, "endless": _send_endless, "gzip_bomb": _send_gzip_bomb}


def faulty_handler(faults: Faults) -> type[ReplayHandler]:
    class FaultyHandler(ReplayHandler):
        fault: Fault | None = None

        def respond(self, route: str, match: Any, query: Query) -> Reply:
            path_id = canonical_id(match["id"]) if match and "id" in match.groupdict() else None
            self.fault = faults.take(route, path_id, probe="fields" in query)
            if self.fault is not None and self.fault.kind == "endless_tokens":
                query = {key: value for key, value in query.items() if key != "pageToken"}
            reply = super().respond(route, match, query)
            return reply if self.fault is None else _inject(self, self.fault, reply, faults)

        def send(self, reply: Reply) -> None:
            if self.fault is not None and self.fault.kind == "silent":
                faults.released.wait(self.fault.delay_s)
            if self.fault is not None and self.fault.kind in _STREAMED and reply.status == 200:
                try:
                    _STREAMED[self.fault.kind](self, self.fault, faults, reply)
                except (BrokenPipeError, ConnectionResetError):
                    self.fault.hung_up.set()
                self.close_connection = True
                return
            if self.fault is None or self.fault.kind != "truncate":
                super().send(reply)
                return
            body = reply.body
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True

    return FaultyHandler


def clone_record(template: bytes, nct_id: str) -> dict[str, Any]:
    """A real record under another NCT id, for tests that need many trials."""
    study = copy.deepcopy(json.loads(template))
    study["protocolSection"]["identificationModule"]["nctId"] = nct_id
    return study


def generated_ids(count: int, start: int = 10_000_000) -> list[str]:
    return [f"NCT{number:08d}" for number in range(start, start + count)]


@pytest.fixture
def registry() -> Registry:
    served = Registry()
    for nct_id in REGISTRY_STUDIES:
        served.publish(study_raw(nct_id))
    return served


def study_raw(nct_id: str) -> bytes:
    """The bytes of a real API v2 record among the fixtures."""
    return (REALDATA / "api_v2" / f"{nct_id}.json").read_bytes()


def two_trials() -> Registry:
    """A registry of NCT04083898 (the project's own fixture) and a second, real trial."""
    served = Registry(data_timestamp="2026-01-05T09:00:05")
    served.publish(MYELOMA.read_bytes())
    served.publish(study_raw("NCT00184067"))
    return served


@pytest.fixture
def faults() -> Faults:
    return Faults()


SAFETY_S = 30  # a fault still holding a reply back then lets go: a regression fails, not hangs


@pytest.fixture
def settle(faults: Faults) -> Iterator[None]:
    """Faults that hold a reply back let go after SAFETY_S, long after the bounds tested."""
    timer = threading.Timer(SAFETY_S, faults.release)
    timer.start()
    yield
    timer.cancel()


@pytest.fixture
def replay(registry: Registry, faults: Faults) -> Iterator[ReplayServer]:
    with ReplayServer(registry, handler=faulty_handler(faults)) as server:
        yield server
        faults.release()  # a fault holding a reply back lets go, so that the server can close


@pytest.fixture
def fast_api(replay: ReplayServer) -> ApiSettings:
    """Settings for the local registry: no pacing, short timeouts and waits."""
    return ApiSettings(base_url=replay.url, timeout_s=0.5, max_retries=2,
                       requests_per_second=1000, backoff_s=0.01, backoff_max_s=0.05,
                       deadline_s=10)


# -- a watcher: ctwatch check run the way cron runs it --------------------------------------

MYELOMA_ID = "NCT04083898"
Study = dict[str, Any]


@dataclass
class Watcher:
    """A cron-like user: a folder with config.yaml, ctwatch.db and alerts.jsonl; ``env`` is
    the whole environment its commands see."""

    folder: Path
    registry: Registry
    env: dict[str, str]
    store: StoreUnderTest

    def run(self, *args: str, process: bool = False, timeout: float = 60) -> Run:
        """``ctwatch ARGS`` in the watcher's folder with the watcher's environment: in this
        process, or with ``process`` a real ``python -m ctwatch`` as cron starts it (killed
        after ``timeout``)."""
        return ctwatch(self.folder, *args, env=self.env, process=process, timeout=timeout)

    def check(self, *args: str, process: bool = False, timeout: float = 60) -> Run:
        return self.run("check", *args, process=process, timeout=timeout)

    def publish(self, change: Callable[[Study], None], nct_id: str = MYELOMA_ID) -> None:
        """A new registry version of a trial, and a new data timestamp. As on the registry,
        the version is posted on a new date (when ``change`` did not set one): a check reads
        in full the trials whose date moved."""
        study = json.loads(self.registry.record(nct_id) or b"{}")
        posted = last_update(study)
        change(study)
        if last_update(study) == posted:
            posted_anew(study)
        self.registry.publish(study)
        self.registry.data_timestamp = f"2026-01-{len(self.alerts()) + 10:02d}T09:00:00"

    def configure(self, **api: Any) -> None:
        """Change api: settings in config.yaml."""
        path = self.folder / "config.yaml"
        config = yaml.safe_load(path.read_text())
        config["api"].update(api)
        path.write_text(yaml.safe_dump(config))

    def alerts(self) -> list[dict[str, Any]]:
        path = self.folder / "alerts.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def rows(self, table: str) -> int:
        return self.store.rows(table)


def last_update(study: Study) -> str | None:
    """The date a record's last update was posted."""
    status = study["protocolSection"]["statusModule"]
    return status.get("lastUpdatePostDateStruct", {}).get("date")


def posted_anew(study: Study) -> None:
    """The record as the registry posts a new version of it: its last-update date moves, to
    the day after the last one (in February 2026 at the earliest)."""
    status = study["protocolSection"]["statusModule"]
    posted = status.setdefault("lastUpdatePostDateStruct", {"type": "ACTUAL"})
    last = max(str(posted.get("date") or ""), "2026-02-01")
    posted["date"] = (date.fromisoformat(f"{last}-01"[:10]) + timedelta(days=1)).isoformat()


@pytest.fixture
def watcher(tmp_path: Path, registry: Registry, replay: ReplayServer, fast_api: ApiSettings,
            store: StoreUnderTest) -> Watcher:
    api = {key: value for key, value in asdict(fast_api).items() if key != "user_agent"}
    config = {**store.settings, "api": api, "trials": list(registry.ids()),
              "notify": [{"kind": "stdout"}, {"kind": "file", "path": "alerts.jsonl"}]}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    return Watcher(tmp_path, registry, environment(), store)


_UNTOUCHED = logger_state()  # before any test ran a command in-process


@pytest.fixture(autouse=True)
def _logging_untouched() -> Iterator[None]:
    """Commands run in-process set up ctwatch's logging (even in a module's fixtures): every
    test ends with the loggers as no command had touched them."""
    yield
    restore(_UNTOUCHED)
