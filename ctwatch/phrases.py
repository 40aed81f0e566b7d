"""Regexes of phrase tables that stay cheap to try at every position of a criterion, and the
words and characters that both the bounds (ctwatch.thresholds) and their measures
(ctwatch.measures) are read by.
"""

from __future__ import annotations

import re
from collections.abc import Iterable


def alternatives(table: Iterable[str]) -> str:
    """The phrases (or keys) of ``table`` as one regex, shared beginnings once ("n(?:o(?:t)?…"):
    an alternation of dozens of phrases, tried at every word or after every number, costs as
    many attempts (issue 14). Longer phrases are tried first ("not exceeding" before "not
    exceed"); a space is any white space."""
    tree: dict[str, dict] = {}
    for key in table:
        node = tree
        for char in key:
            node = node.setdefault(char, {})
        node[""] = {}
    return _branches(tree)


def _branches(node: dict[str, dict]) -> str:
    branches = [(r"\s+" if char == " " else re.escape(char)) + _branches(node[char])
                for char in sorted(char for char in node if char)]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if "" in node else body


def starting(words: Iterable[str], digit: bool = False) -> str:
    """A lookahead for the first character of one of ``words`` (or a digit): a pattern tried
    at every position of a criterion that starts with it fails, by one lookup in a set, where
    the character at hand cannot start a match (issue 13)."""
    first = "".join(sorted({re.escape(word[0]) for word in words}))
    return "(?=[" + first + (r"\d" if digit else "") + "])"


TIME_WORD = alternatives([
    "year", "years", "yr", "yrs", "month", "months", "mo", "mos", "week", "weeks", "wk", "wks",
    "day", "days", "hour", "hours", "hr", "hrs", "minute", "minutes", "min", "mins", "second",
    "seconds"])
DIGIT = re.compile(r"\d")  # as the patterns' \d: any decimal digit, not only ASCII
