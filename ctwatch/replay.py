"""A local stand-in for clinicaltrials.gov, serving study records over HTTP on 127.0.0.1.

It answers the endpoints ctwatch uses the way reference/ctgov-api.md describes the real ones:
one study (``/api/v2/studies/{nct}``: 301 for an alias, plain-text 400/404), the list
(``/api/v2/studies?query.cond=…&filter.overallStatus=…&filter.advanced=…&filter.ids=…&sort=…
&fields=…&countTotal=…&pageSize=…&pageToken=…``), ``/api/v2/version`` and the site's history
endpoints (``/api/int/studies/{nct}?history=true``, ``…/history/{v}``). ``fields`` projects
(single study too), ``query.*`` and ``filter.advanced`` are searched as
:mod:`ctwatch.essie` approximates Essie, over the areas :mod:`ctwatch.fields` lists.
It counts the requests it sees by route and by path, and the body bytes it sends. The test
suite, the benchmarks and ``ctwatch demo`` use it so that the real HTTP code runs without the
internet.

    with ReplayServer(Registry.from_directory("fixtures/registry/studies")) as server:
        Client(ApiSettings(base_url=server.url)).fetch_study("NCT00184067")
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ctwatch.replay_query import (
    QUERY_PARAMS,
    Derived,
    ListQuery,
    Query,
    fields_of,
    list_query,
)

API_VERSION = "2.0.5"
DEFAULT_DATA_TIMESTAMP = "2026-01-05T09:00:05"
MATCHES_KEPT = 8  # result lists kept for their further pages (a whole-registry query's too)

# The API accepts any case and optional leading zeros (spec pattern ^[Nn][Cc][Tt]0*[1-9]\d{0,7}$).
_NCT = re.compile(r"[Nn][Cc][Tt]0*([1-9]\d{0,7})")
_ROUTES = (
    ("list", re.compile(r"/api/v2/studies/?")),
    ("study", re.compile(r"/api/v2/studies/(?P<id>[^/]+)")),
    ("version", re.compile(r"/api/v2/version")),
    ("history_index", re.compile(r"/api/int/studies/(?P<id>[^/]+)")),
    ("history_version", re.compile(r"/api/int/studies/(?P<id>[^/]+)/history/(?P<v>[^/]+)")),
)
_KNOWN_PARAMETERS = {
    "list": {*QUERY_PARAMS, "filter.ids", "filter.advanced", "filter.overallStatus",
             "filter.geo", "filter.synonyms", "aggFilters", "sort", "fields", "pageSize",
             "pageToken", "countTotal", "format", "markupFormat"},
    "study": {"format", "markupFormat", "fields"},
    "version": set(),
    "history_index": {"history"},
    "history_version": set(),
}


def canonical_id(value: str) -> str | None:
    """``NCT`` + 8 digits for anything the API would accept as an NCT id, else None."""
    match = _NCT.fullmatch(value.strip())
    return f"NCT{int(match.group(1)):08d}" if match else None


@dataclass(frozen=True)
class Version:
    """One registry version of a study, as the history endpoints serve it."""

    date: str
    study: Mapping[str, Any]
    module_labels: tuple[str, ...] = ()


class Registry:
    """The records the server publishes; mutable, so a demo can publish a new version mid-run."""

    def __init__(self, data_timestamp: str = DEFAULT_DATA_TIMESTAMP) -> None:
        self.data_timestamp = data_timestamp
        self._records: dict[str, bytes] = {}
        self._aliases: dict[str, str] = {}
        self._versions: dict[str, list[Version]] = {}
        self._stamps: dict[str, int] = {}  # id → the revision that published its record
        self._lock = threading.Lock()
        self.revision = 0  # counts publications: a list's results stand until the next one

    @classmethod
    def from_directory(cls, directory: str | Path) -> Registry:
        """A registry of every ``*.json`` API v2 study record in ``directory``."""
        registry = cls()
        for path in sorted(Path(directory).glob("*.json")):
            registry.publish(path.read_bytes())
        return registry

    def publish(self, record: bytes | Mapping[str, Any]) -> str:
        """Add or replace a study's current record (raw API v2 JSON or a dict); its NCT id."""
        raw = record if isinstance(record, bytes) else json.dumps(record).encode()
        ident = json.loads(raw)["protocolSection"]["identificationModule"]
        nct_id = canonical_id(ident["nctId"])
        if nct_id is None:
            raise ValueError(f"not an NCT id: {ident['nctId']!r}")
        with self._lock:
            self._records[nct_id] = raw
            for alias in ident.get("nctIdAliases") or ():
                self._aliases[canonical_id(alias) or alias] = nct_id
            self.revision += 1
            self._stamps[nct_id] = self.revision
        return nct_id

    def publish_raw(self, nct_id: str, raw: bytes) -> None:
        """Serve these exact bytes as a study's record, even bytes that are not a valid record:
        the real registry has served malformed records."""
        with self._lock:
            self._records[nct_id] = raw
            self.revision += 1
            self._stamps[nct_id] = self.revision

    def add_version(self, nct_id: str, version: Version) -> int:
        """Append a version to a study's history; its version number (0 = first)."""
        with self._lock:
            versions = self._versions.setdefault(nct_id, [])
            versions.append(version)
            return len(versions) - 1

    def ids(self) -> Iterable[str]:
        return list(self._records)

    def resolve(self, nct_id: str) -> str | None:
        """The current id of the study answering ``nct_id`` (itself or an alias), or None."""
        if nct_id in self._records:
            return nct_id
        return self._aliases.get(nct_id)

    def record(self, nct_id: str) -> bytes | None:
        return self._records.get(nct_id)

    def stamp(self, nct_id: str) -> int:
        """What changes whenever the record of ``nct_id`` does: searches find what they read
        of a record by it, without reading the record. A subclass serving records of its own
        (not published) must serve each the same bytes every time, or override this."""
        return self._stamps.get(nct_id, 0)

    def versions(self, nct_id: str) -> list[Version]:
        """The study's history; one version made from the current record if none was added."""
        if nct_id in self._versions:
            return list(self._versions[nct_id])
        raw = self.record(nct_id)
        if raw is None:
            return []
        study = json.loads(raw)
        status = study.get("protocolSection", {}).get("statusModule", {})
        date = (status.get("lastUpdatePostDateStruct") or {}).get("date", "")
        return [Version(date=date, study=study)]


@dataclass(frozen=True)
class Reply:
    """What the handler sends: status, body chunks (a list page is not joined), headers."""

    status: int
    chunks: tuple[bytes, ...] = ()
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = field(default=())

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


def json_reply(value: Any) -> Reply:
    return Reply(200, (json.dumps(value, ensure_ascii=False).encode(),))


def text_reply(status: int, text: str, *headers: tuple[str, str]) -> Reply:
    # Upstream error bodies are one line of text/plain, not JSON.
    return Reply(status, (text.encode(),), "text/plain;charset=UTF-8", tuple(headers))


class ReplayHandler(BaseHTTPRequestHandler):
    """Serves the registry of its server; subclasses may override ``respond`` or ``send``."""

    protocol_version = "HTTP/1.1"  # keep-alive, as a client's session expects
    server_version = "ctwatch-replay"
    timeout = 5  # an idle keep-alive connection must not hold the server open for long
    disable_nagle_algorithm = True  # headers and body go in separate writes: no 40 ms stalls
    server: _HTTPServer

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        route, match = route_of(url.path)
        self.server.count(route, url.path)
        reply = self.respond(route, match, parse_qs(url.query, keep_blank_values=True))
        self.server.sent(route, sum(map(len, reply.chunks)))
        self.send(reply)

    def respond(self, route: str, match: re.Match[str] | None, query: Query) -> Reply:
        """The reply the registry gives to a GET of ``route`` (the path matched by ``match``)."""
        if match is None:
            return text_reply(404, "Not Found")
        unknown = sorted(set(query) - _KNOWN_PARAMETERS[route])
        if unknown:
            return text_reply(400, f"`{unknown[0]}` is unknown parameter")
        handler: Callable[..., Reply] = getattr(self, f"reply_{route}")
        return handler(match, query)

    def reply_study(self, match: re.Match[str], query: Query) -> Reply:
        nct_id = canonical_id(match["id"])
        if nct_id is None:
            return text_reply(400, "Parameter `nctId` has incorrect format")
        try:
            fields = fields_of(query)
        except ValueError as error:
            return text_reply(400, str(error))
        current = self.server.registry.resolve(nct_id)
        raw = self.server.registry.record(current) if current else None
        if current is None or raw is None:
            return text_reply(404, f"NCT number {nct_id} not found")
        if current != nct_id:
            return text_reply(301, "Moved Permanently", ("Location", f"/api/v2/studies/{current}"))
        stamp = self.server.registry.stamp(current)
        return Reply(200, (self.server.derived.shown(current, raw, fields, stamp),))

    def reply_list(self, match: re.Match[str], query: Query) -> Reply:
        try:
            asked = list_query(query)
        except ValueError as error:
            return text_reply(400, str(error))
        matched = self.server.matches(asked, self._matching)
        page = matched[asked.offset : asked.offset + asked.size]
        records = ((nct_id, self.server.registry.record(nct_id)) for nct_id in page)
        stamp = self.server.registry.stamp
        shown = [self.server.derived.shown(nct_id, raw, asked.fields, stamp(nct_id))
                 for nct_id, raw in records if raw]
        tail = ""
        if asked.offset + asked.size < len(matched):
            tail += f',"nextPageToken":"{asked.next_token()}"'
        if asked.count_total and asked.offset == 0:  # on the first page only (§2)
            tail += f',"totalCount":{len(matched)}'
        return Reply(200, (b'{"studies":[', b",".join(shown), b"]", tail.encode(), b"}"))

    def _matching(self, asked: ListQuery) -> list[str]:
        registry = self.server.registry
        if asked.ids:
            wanted = (canonical_id(value) for value in re.split(r"[,|]", asked.ids))
            found = (registry.resolve(nct_id) for nct_id in wanted if nct_id)
            candidates = list(dict.fromkeys(nct_id for nct_id in found if nct_id))
        else:
            candidates = list(registry.ids())
        derived = self.server.derived
        if asked.match is not None:
            candidates = derived.select(candidates, registry.stamp, registry.record,
                                        asked.match)
        for name, descending in reversed(asked.order):  # the first item sorts last
            candidates = _sorted(candidates, name, descending, derived, registry)
        return candidates

    def reply_version(self, match: re.Match[str], query: Query) -> Reply:
        stamp = self.server.registry.data_timestamp
        return json_reply({"apiVersion": API_VERSION, "dataTimestamp": stamp})

    def reply_history_index(self, match: re.Match[str], query: Query) -> Reply:
        nct_id = self.server.registry.resolve(canonical_id(match["id"]) or "")
        raw = self.server.registry.record(nct_id) if nct_id else None
        if nct_id is None or raw is None:
            return text_reply(404, f"Study {match['id']} not found")
        body: dict[str, Any] = {"study": json.loads(raw)}
        if query.get("history") == ["true"]:
            versions = self.server.registry.versions(nct_id)
            body["history"] = {"changes": [_change(number, v) for number, v in enumerate(versions)]}
        return json_reply(body)

    def reply_history_version(self, match: re.Match[str], query: Query) -> Reply:
        nct_id = self.server.registry.resolve(canonical_id(match["id"]) or "")
        versions = self.server.registry.versions(nct_id) if nct_id else []
        number = int(match["v"]) if match["v"].isdigit() else -1
        if not 0 <= number < len(versions):
            return text_reply(404, f"Version {match['v']} of {match['id']} not found")
        return json_reply({"studyVersion": number, "study": versions[number].study})

    def send(self, reply: Reply) -> None:
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(sum(map(len, reply.chunks))))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            for chunk in reply.chunks:
                self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (its timeout); nothing left to tell it.
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the counters say what was asked."""


def route_of(path: str) -> tuple[str, re.Match[str] | None]:
    """The route name of a request path ("list", "study", …, "other") and its match."""
    for name, pattern in _ROUTES:
        match = pattern.fullmatch(path)
        if match:
            return name, match
    return "other", None


def _sorted(ids: list[str], name: str, descending: bool, derived: Derived,
            registry: Registry) -> list[str]:
    """The ids by the fact ``name`` of their records; those without one last, in their order
    (the registry's own place for them is not documented)."""
    names = frozenset([name])
    values = {}
    for nct_id in ids:
        facts = derived.facts(nct_id, registry.stamp(nct_id), registry.record, names)
        value = facts.get(name) if facts is not None else None
        if isinstance(value, str) and value:
            values[nct_id] = value
    dated = sorted(values, key=values.__getitem__, reverse=descending)
    return [*dated, *(nct_id for nct_id in ids if nct_id not in values)]


def _change(number: int, version: Version) -> dict[str, Any]:
    status = version.study.get("protocolSection", {}).get("statusModule", {}).get("overallStatus")
    return {
        "version": number,
        "date": version.date,
        "status": status,
        "moduleLabels": list(version.module_labels),
    }


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for handlers: no thread outlives the server

    def __init__(self, address: tuple[str, int], handler: type[ReplayHandler], registry: Registry):
        super().__init__(address, handler)
        self.registry = registry
        self.routes: Counter[str] = Counter()
        self.paths: Counter[str] = Counter()
        self.bytes: Counter[str] = Counter()  # body bytes sent, by route
        self.derived = Derived()
        self._matches: dict[tuple[Any, ...], list[str]] = {}
        self.arrivals: list[float] = []  # time.monotonic() of each request, in order
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()

    def count(self, route: str, path: str) -> None:
        with self._lock:
            self.routes[route] += 1
            self.paths[path] += 1
            self.arrivals.append(time.monotonic())

    def sent(self, route: str, size: int) -> None:
        with self._lock:
            self.bytes[route] += size

    def matches(self, asked: ListQuery, compute: Callable[[ListQuery], list[str]]) -> list[str]:
        """The query's results, computed once per registry revision: its further pages take
        them from here (a whole-registry query reads every record once, not once a page)."""
        key = (*asked.results_key, self.registry.revision)
        found = self._matches.get(key)
        if found is None:
            found = compute(asked)
            with self._lock:
                if len(self._matches) >= MATCHES_KEPT:
                    self._matches.clear()
                self._matches[key] = found
        return found

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Hang up on every client, so that closing does not wait for idle keep-alives."""
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-reply is normal here; anything else is reported."""
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class ReplayServer:
    """A running registry on 127.0.0.1 (a free port); use as a context manager."""

    def __init__(
        self,
        registry: Registry,
        *,
        handler: type[ReplayHandler] = ReplayHandler,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.registry = registry
        self._server = _HTTPServer((host, port), handler, registry)
        # A short poll keeps close() quick; an idle poll costs next to nothing.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"

    @property
    def counts(self) -> Counter[str]:
        """Requests seen by route: "list", "study", "version", "history_index", … "other"."""
        return self._server.routes

    @property
    def paths(self) -> Counter[str]:
        """Requests seen by path (without the query string)."""
        return self._server.paths

    @property
    def arrivals(self) -> list[float]:
        """When each request arrived (``time.monotonic()``), in order."""
        return self._server.arrivals

    @property
    def bytes_sent(self) -> int:
        """Body bytes of every reply sent (uncompressed; headers not counted)."""
        return sum(self._server.bytes.values())

    @property
    def bytes_by_route(self) -> Counter[str]:
        """Body bytes sent by route, as :attr:`counts` counts requests."""
        return self._server.bytes

    def reset_counts(self) -> None:
        self._server.routes.clear()
        self._server.paths.clear()
        self._server.arrivals.clear()
        self._server.bytes.clear()

    def start(self) -> ReplayServer:
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.drop_connections()
        self._server.server_close()

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
