"""Property: a real record mutated in any way — a key or element deleted, a value of another
type, deep nesting, odd unicode (lone surrogates, control and bidi characters, full-width
digits), a 100 kB string — read through ``sources.parse`` gives a ParseError naming the record
in one short line, or trials that hold to ``ctwatch schema`` and can be written as UTF-8 JSON;
never another exception, never unbounded time.

Each format is mutated in its own terms: API v2 JSON as a JSON value, legacy XML and the
classic page as element trees (odd text is put in after serialising, so it can also be what an
XML or HTML writer would refuse), the classic page's text rendering line by line.
``HYPOTHESIS_PROFILE=long`` runs many more examples (tests/conftest.py).
"""

from __future__ import annotations

import copy
import html
import json
import time
from collections.abc import Iterator
from typing import Any
from xml.sax.saxutils import quoteattr

import jsonschema
import lxml.html
from hypothesis import event, given
from hypothesis import strategies as st
from lxml import etree

from ctwatch import sources
from ctwatch.errors import ParseError
from ctwatch.model import schema
from tests.helpers import FIXTURES, MYELOMA, REALDATA

VALIDATOR = jsonschema.Draft202012Validator(schema())
CPU_SECONDS = 5.0  # per record: generous, the real ones take milliseconds

API_RECORDS = [MYELOMA, REALDATA / "api_v2" / "NCT00184067.json",
               REALDATA / "api_v2" / "NCT03475563.json",
               REALDATA / "api_v2_list" / "cyanheads_studies_2025-06-17T11-16-37_page1.json",
               REALDATA / "history" / "NCT04280705_history_v0.json"]
XML_RECORDS = [REALDATA / "legacy_xml" / name
               for name in ("NCT03424005.xml", "NCT02591810.xml", "NCT03182660.xml")]
HTML_RECORDS = [FIXTURES / "NCT04083898" / "classic_page.html",
                REALDATA / "classic_html" / "NCT02422290_results_tab.html"]
TEXT_RECORDS = [FIXTURES / "NCT04083898" / "classic_page.txt"]

ODD_TEXT = ["", " ", "\ud800", "x\udfffy", "\x00", "\x1b[2J\x1b[31mred", "\u202egnp.exe\u202c",
            "\u2066NCT04083898\u2069", "\ufeff", "ＮＣＴ０４０８３８９８", "NCT０４０８３８９８",
            "２０２０-０１-０２", "2020-13-45", "February 30, 2021", "²", ",", "٣٧", "-1",
            "99999999999999999999", "9" * 5000, "\r\n\r\n", "* \\>= 1500/mm3", "<b>x</b>",
            "&amp;&#xd800;&bogus;", "RECRUITING", "recruiting", "Phase 1/Phase 2", "N/A",
            "Active, not recruiting", "ＲＥＣＲＵＩＴＩＮＧ", "ﬁ", "x" * 100_000,
            "≥ " * 20_000]
DEEP = "<DEEP>"  # a list nested 100,000 deep: more than Python's JSON decoder goes
ODD_VALUES = [None, True, False, 0, -1, 2**70, 1.5, 1e308, [], {}, [None], ["2020-01"],
              {"date": 20200101, "type": 1}, DEEP, *ODD_TEXT]

Place = tuple[str | int, ...]


def check(raw: bytes, name: str) -> str:
    """The property: a short ParseError naming the record, or trials within the contract.
    Which of the two, for ``--hypothesis-show-statistics``."""
    started = time.process_time()
    try:
        trials = sources.parse(raw, name)
    except ParseError as error:
        message = str(error)
        assert message.startswith(f"{name}: ") and "\n" not in message, message
        assert len(message) < 500, message
        message.encode("utf-8")
        return "ParseError"
    finally:
        assert time.process_time() - started < CPU_SECONDS
    for trial in trials:
        data = trial.to_dict()
        VALIDATOR.validate(data)
        json.dumps(data, ensure_ascii=False, allow_nan=False).encode("utf-8")
    return "trials"


# -- API v2 JSON ----------------------------------------------------------------------------

API = {path.name: json.loads(path.read_bytes()) for path in API_RECORDS}


def places(value: Any, here: Place = ()) -> Iterator[Place]:
    """Every place in a JSON value, depth first."""
    if here:
        yield here
    items = value.items() if isinstance(value, dict) else enumerate(value) \
        if isinstance(value, list) else ()
    for key, item in items:
        yield from places(item, (*here, key))


API_PLACES = {name: list(places(document)) for name, document in API.items()}


def nested(value: Any, depth: int) -> Any:
    for level in range(depth):
        value = [value] if level % 2 else {"x": value}
    return value


def mutate_json(document: Any, place: Place, kind: str, odd: Any, depth: int) -> Any:
    *above, last = place
    parent = document
    for key in above:
        parent = parent[key]
    if kind == "delete":
        del parent[last]
    elif kind == "replace":
        parent[last] = odd
    elif kind == "nest":
        parent[last] = nested(parent[last], depth)
    elif kind == "splice" and isinstance(parent[last], str):
        text = parent[last]
        parent[last] = text[: len(text) // 2] + str(odd) + text[len(text) // 2:]
    return document


def json_bytes(document: Any) -> bytes:
    text = json.dumps(document)  # lone surrogates become \ud800 escapes, as on the wire
    return text.replace(json.dumps(DEEP), "[" * 100_000 + "]" * 100_000).encode()


KINDS = ["delete", "replace", "replace", "nest", "splice"]


@given(data=st.data(), name=st.sampled_from(sorted(API)))
def test_mutated_api_v2_records(data: st.DataObject, name: str) -> None:
    document = copy.deepcopy(API[name])
    for _ in range(data.draw(st.integers(1, 3))):
        place = data.draw(st.sampled_from(API_PLACES[name]))
        try:
            document = mutate_json(document, place, data.draw(st.sampled_from(KINDS)),
                                   data.draw(st.sampled_from(ODD_VALUES)),
                                   data.draw(st.sampled_from([2, 40, 400])))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this place
    event(check(json_bytes(document), name))


# -- legacy XML and the classic page: element trees ------------------------------------------

MARK = "ODD-VALUE-HERE"


def fill(serialised: bytes, odd: str) -> bytes:
    """The marks replaced by odd text as it could appear in markup: escaped as an attribute
    value must be (good for text too), a lone surrogate as the undecodable bytes a broken
    writer leaves."""
    return serialised.replace(MARK.encode(), quoteattr(odd)[1:-1].encode("utf-8",
                                                                          "surrogatepass"))


def mutate_tree(root: Any, data: st.DataObject) -> None:
    """One structural mutation of an element tree; odd text is left as a mark to fill in."""
    elements = [element for element in root.iter() if isinstance(element.tag, str)][1:]
    if not elements:  # an earlier mutation deleted them all
        return
    element = data.draw(st.sampled_from(elements))
    kind = data.draw(st.sampled_from(["delete", "text", "tail", "attribute", "nest", "copy"]))
    if kind == "delete" and element.getparent() is not None:
        element.getparent().remove(element)
    elif kind in ("text", "tail"):
        setattr(element, kind, MARK)
    elif kind == "attribute":
        element.set(data.draw(st.sampled_from(["type", "headers", "class", "id"])), MARK)
    elif kind == "nest":
        inner = element
        for _ in range(data.draw(st.sampled_from([2, 40, 400]))):
            inner = etree.SubElement(inner, data.draw(st.sampled_from(["div", "ul", "li"])))
        inner.text = MARK
    elif kind == "copy" and element.getparent() is not None:
        element.addnext(copy.deepcopy(element))


XML = {path.name: path.read_bytes() for path in XML_RECORDS}


@given(data=st.data(), name=st.sampled_from(sorted(XML)), odd=st.sampled_from(ODD_TEXT))
def test_mutated_legacy_xml_records(data: st.DataObject, name: str, odd: str) -> None:
    root = etree.fromstring(XML[name])
    for _ in range(data.draw(st.integers(1, 3))):
        mutate_tree(root, data)
    event(check(fill(etree.tostring(root, encoding="utf-8"), odd), name))


HTML = {path.name: path.read_bytes() for path in HTML_RECORDS}


@given(data=st.data(), name=st.sampled_from(sorted(HTML)), odd=st.sampled_from(ODD_TEXT),
       reference=st.booleans())
def test_mutated_classic_pages(data: st.DataObject, name: str, odd: str,
                               reference: bool) -> None:
    root = lxml.html.document_fromstring(HTML[name])
    for _ in range(data.draw(st.integers(1, 3))):
        mutate_tree(root, data)
    page = lxml.html.tostring(root, encoding="utf-8", doctype="<!DOCTYPE html>")
    if reference:  # odd characters as character references: &#55296; &#8238;
        refs = html.escape(odd).encode("ascii", "xmlcharrefreplace")
        page = page.replace(MARK.encode(), refs)
    event(check(fill(page, odd), name))


# -- the text rendering of the classic page ----------------------------------------------------

TEXT = {path.name: path.read_text(encoding="utf-8").splitlines() for path in TEXT_RECORDS}


@given(data=st.data(), name=st.sampled_from(sorted(TEXT)), odd=st.sampled_from(ODD_TEXT))
def test_mutated_classic_page_text(data: st.DataObject, name: str, odd: str) -> None:
    lines = list(TEXT[name])
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(lines) - 1))
        kind = data.draw(st.sampled_from(["delete", "replace", "splice", "copy"]))
        if kind == "delete" and len(lines) > 1:
            del lines[index]
        elif kind == "replace":
            lines[index] = odd
        elif kind == "splice":
            lines[index] = lines[index][:5] + odd + lines[index][5:]
        elif kind == "copy":
            lines.insert(index, lines[index])
    event(check("\n".join(lines).encode("utf-8", "surrogatepass"), name))


def test_the_unmutated_records_hold_to_the_contract() -> None:
    for path in [*API_RECORDS, *XML_RECORDS, *HTML_RECORDS, *TEXT_RECORDS]:
        assert check(path.read_bytes(), path.name) == "trials" or path in HTML_RECORDS[1:]


def test_the_properties_see_every_format() -> None:
    """Each mutated family starts from a record of the format it means to test."""
    kinds = {sources.detect(path.read_bytes()) for path in
             [*API_RECORDS, *XML_RECORDS, *HTML_RECORDS, *TEXT_RECORDS]}
    assert kinds == set(sources.FORMATS)
