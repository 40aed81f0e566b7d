"""How much a change matters: the default severities of DESIGN §7, as data, and the user's
``rules:`` from config.yaml.

Rules are written as patterns over the human-readable paths of :mod:`ctwatch.diff`::

    status.completion          that path and everything below it (.date, .type)
    locations[*].contacts      [*] is any bracketed key
    outcomes[primary: *]       * is any run of characters within one segment

The first entry of :data:`DEFAULTS` whose pattern matches a change gives its category and
default severity. The user's ``severity:`` map overrides that severity (the most specific
matching pattern wins: the longest, then the first written); ``ignored`` there, or any
``ignore:`` pattern that matches, drops the change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from functools import lru_cache
from typing import Any, get_args, get_origin, get_type_hints

from ctwatch.errors import ConfigError
from ctwatch.labels import FIELDS
from ctwatch.labels import tokens as _tokens
from ctwatch.model import Criterion, Severity, Trial

IGNORED = "ignored"  # not a Severity: a change given this level is dropped, never stored
#: Every level a rule may give, most severe first (as the error messages list them).
LEVELS = (*reversed(Severity), IGNORED)
STOPPED = ("SUSPENDED", "TERMINATED", "WITHDRAWN")
RULE_KEYS = ("ignore", "severity")


@dataclass(frozen=True, slots=True)
class Default:
    """One row of the default table: changes under ``pattern`` are ``category``/``severity``,
    only when the new value is one of ``new_in`` or either value one of ``either_in``."""

    pattern: str
    category: str
    severity: str  # a Severity, or IGNORED
    new_in: tuple[Any, ...] = ()
    either_in: tuple[Any, ...] = ()

    def applies(self, path: str, old: Any, new: Any) -> bool:
        if self.new_in and new not in self.new_in:
            return False
        if self.either_in and old not in self.either_in and new not in self.either_in:
            return False
        return matches(self.pattern, path)


#: DESIGN §7, first match wins. Derived values (``eligibility.std_ages`` comes from the ages)
#: are ignored like the registry's bookkeeping: the change they follow is reported instead.
DEFAULTS: tuple[Default, ...] = (
    Default("schema_version", "bookkeeping", IGNORED),
    Default("status.last_update_posted", "bookkeeping", IGNORED),
    Default("status.verified", "bookkeeping", IGNORED),
    Default("eligibility.std_ages", "eligibility", IGNORED),
    Default("status.overall", "status", Severity.CRITICAL, new_in=STOPPED),
    Default("status.overall", "status", Severity.MAJOR),
    Default("status.why_stopped", "status", Severity.MAJOR),
    Default("status.has_results", "results", Severity.MAJOR),  # results posted (or withdrawn)
    Default("status.results_first_posted", "results", Severity.MAJOR),  # issue 16
    # a certification or extension request: the results deadline moves (42 CFR 11.44(b), (e))
    Default("status.disposition_first_submitted", "results", Severity.MAJOR),
    Default("status.results_first_submitted", "results", Severity.MINOR),
    Default("status.disposition_first_posted", "results", Severity.MINOR),
    Default("status.primary_completion", "dates", Severity.MAJOR),
    Default("status", "dates", Severity.MINOR),
    Default("design.enrollment", "enrollment", Severity.MAJOR),
    Default("design", "design", Severity.MAJOR),
    Default("oversight", "oversight", Severity.MINOR),  # the FDA Yes/No answers of the record
    Default("outcomes[*].kind", "primary_outcome", Severity.CRITICAL, either_in=("primary",)),
    Default("outcomes[primary: *]", "primary_outcome", Severity.CRITICAL),
    Default("outcomes[secondary: *]", "secondary_outcome", Severity.MAJOR),
    Default("outcomes", "other_outcome", Severity.MINOR),
    Default("arms", "arms", Severity.MAJOR),
    Default("interventions", "interventions", Severity.MAJOR),
    Default("eligibility", "eligibility", Severity.MAJOR),
    Default("brief_title", "titles", Severity.MINOR),
    Default("official_title", "titles", Severity.MINOR),
    Default("acronym", "titles", Severity.MINOR),
    Default("brief_summary", "descriptions", Severity.MINOR),
    Default("detailed_description", "descriptions", Severity.MINOR),
    Default("conditions", "conditions", Severity.MINOR),
    Default("keywords", "keywords", Severity.MINOR),
    Default("sponsor.collaborators", "collaborators", Severity.MINOR),
    Default("sponsor", "sponsor", Severity.MINOR),
    Default("officials", "officials", Severity.MINOR),
    Default("nct_id", "identifiers", Severity.MINOR),
    Default("org_study_id", "identifiers", Severity.MINOR),
    Default("locations[*].contacts", "contacts", Severity.INFO),
    Default("locations", "locations", Severity.INFO),
    Default("contacts", "contacts", Severity.INFO),
    # compliance milestones (ctwatch.milestones): a finding reached, not a change of the record
    Default("compliance.results_overdue", "compliance", Severity.MAJOR),
    Default("compliance.verification_lapsed", "compliance", Severity.MAJOR),
    Default("compliance.results_due_soon", "compliance", Severity.MINOR),
    # a watched search (ctwatch.searches): a trial that entered it, or left it
    Default("search.entered", "search", Severity.MAJOR),
    Default("search.left", "search", Severity.MAJOR),
)
#: what a rule may name under ``search``
SEARCH = ("entered", "left")
#: what a rule may name under ``compliance``: the findings a milestone alert is about
COMPLIANCE = tuple(path.partition(".")[2] for path in FIELDS if path.startswith("compliance."))
FALLBACK = ("other", Severity.MINOR)


def default_for(path: str, old: Any = None, new: Any = None) -> tuple[str, str]:
    """(category, severity) that DESIGN §7 gives a change at ``path`` from ``old`` to ``new``."""
    for row in DEFAULTS:
        if row.applies(path, old, new):
            return row.category, row.severity
    return FALLBACK


@dataclass(frozen=True, slots=True)
class Rules:
    """The user's overrides: patterns to ignore, and severities per pattern."""

    ignore: tuple[str, ...] = ()
    severity: tuple[tuple[str, str], ...] = ()

    @classmethod
    def default(cls) -> Rules:
        """No user overrides: DESIGN §7 as it stands."""
        return cls()

    @classmethod
    def from_config(cls, mapping: Mapping[str, Any] | None, *, key: str = "rules") -> Rules:
        """Rules from the ``rules:`` mapping of config.yaml; problems are ConfigErrors."""
        if mapping is None:
            return cls()
        if not isinstance(mapping, Mapping):
            raise ConfigError("must be a mapping with ignore: and severity:", key=key)
        for name in mapping:
            if name not in RULE_KEYS:
                raise ConfigError(f"unknown key (expected one of: {', '.join(RULE_KEYS)})",
                                  key=f"{key}.{name}")
        rules = cls(severity=_severity_map(mapping.get("severity"), f"{key}.severity"))
        return rules.with_ignore(_pattern_list(mapping.get("ignore"), f"{key}.ignore"),
                                 key=f"{key}.ignore")

    def with_ignore(self, patterns: Iterable[str], *, key: str = "ignore") -> Rules:
        """These rules, also ignoring ``patterns`` (a watched trial's own ``ignore:`` list)."""
        checked = tuple(check_pattern(p, f"{key}[{n}]") for n, p in enumerate(patterns))
        return Rules(self.ignore + checked, self.severity)

    def classify(self, path: str, old: Any = None, new: Any = None) -> tuple[str, str]:
        """(category, severity) of a change at ``path``; severity ``ignored`` drops it."""
        category, severity = default_for(path, old, new)
        if any(matches(pattern, path) for pattern in self.ignore):
            return category, IGNORED
        best = max(((len(_tokens(p)), -n, level) for n, (p, level) in enumerate(self.severity)
                    if matches(p, path)), default=None)
        return category, best[2] if best else severity


def _severity_map(section: Any, key: str) -> tuple[tuple[str, str], ...]:
    if section is None:
        return ()
    if not isinstance(section, Mapping):
        raise ConfigError("must be a mapping of path pattern: severity", key=key)
    out = []
    for pattern, level in section.items():
        check_pattern(pattern, f"{key}.{pattern}")
        if level not in LEVELS:
            raise ConfigError(f"{level!r} is not one of {', '.join(LEVELS)}",
                              key=f"{key}.{pattern}")
        out.append((pattern, level if level == IGNORED else Severity(level)))
    return tuple(out)


def _pattern_list(section: Any, key: str) -> list[str]:
    if section is None:
        return []
    if not isinstance(section, list | tuple):
        raise ConfigError("must be a list of path patterns", key=key)
    return list(section)


# -- patterns ---------------------------------------------------------------------------------


def matches(pattern: str, path: str) -> bool:
    """Whether ``pattern`` matches ``path`` or a prefix of it that ends a segment."""
    wanted, tokens = _compiled(pattern), _tokens(path)
    if len(wanted) > len(tokens):
        return False
    return all(regex.fullmatch(token) for regex, token in zip(wanted, tokens, strict=False))


def check_pattern(pattern: Any, key: str) -> str:
    """A usable pattern, or a ConfigError naming ``key`` and what is wrong with it."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise ConfigError(f"a path pattern must be a non-empty string (got {pattern!r})", key=key)
    tokens = _tokens(pattern)
    if not _well_formed(pattern, tokens):
        raise ConfigError(f"{pattern!r} is not a path pattern such as locations[*].contacts",
                          key=key)
    unknown = _unknown_part(tokens)
    if unknown is not None:
        raise ConfigError(f"{pattern!r} names no part of a trial: {unknown}", key=key)
    return pattern


def _well_formed(pattern: str, tokens: tuple[str, ...]) -> bool:
    names = [t for t in tokens if not t.startswith("[")]
    keys = [t for t in tokens if t.startswith("[")]
    return (_join(tokens) == pattern and not tokens[0].startswith("[")
            and all(k.endswith("]") for k in keys)
            and not any("[" in n or "]" in n for n in names))


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(".*".join(map(re.escape, token.split("*"))), re.DOTALL)
                 for token in _tokens(pattern))


@lru_cache(maxsize=1024)  # 100,000 trials often share one ignore: list
def _unknown_part(tokens: tuple[str, ...]) -> str | None:
    """Why a pattern names nothing in a trial, following the model; None if it may."""
    if tokens[0] == "compliance":
        return _unknown_finding(tokens)
    if tokens[0] == "search":
        return _unknown_search_part(tokens)
    hint: Any = Trial
    for index, token in enumerate(tokens):
        if "*" in token and not token.startswith("["):
            return None  # a wildcard field name: too loose to follow further
        above = _join(tokens[:index])
        if get_origin(hint) is tuple and not token.startswith("["):
            return f"{above} is a list: write {above}[*].{token}"
        if token.startswith("[") and get_origin(hint) is not tuple:
            return f"{above} is not a list"
        found = _child(hint, token)
        if found is None:
            names = _field_names(hint)
            if names:
                return f"{token!r} is not one of {', '.join(names)}"
            return f"nothing is below {above}"
        hint = found
    return None


def _unknown_finding(tokens: tuple[str, ...]) -> str | None:
    """Why a pattern under ``compliance`` names no milestone's finding; None if it may."""
    if len(tokens) == 1 or (len(tokens) == 2 and ("*" in tokens[1] or tokens[1] in COMPLIANCE)):
        return None
    if len(tokens) > 2 or tokens[1].startswith("["):
        return "nothing is below a compliance finding"
    return f"{tokens[1]!r} is not one of {', '.join(COMPLIANCE)}"


def _unknown_search_part(tokens: tuple[str, ...]) -> str | None:
    """Why a pattern under ``search`` names no change of a search; None if it may."""
    if len(tokens) == 1:
        return None
    if tokens[1] not in SEARCH and "*" not in tokens[1]:
        return f"{tokens[1]!r} is not one of {', '.join(SEARCH)}"
    if len(tokens) == 2 or (len(tokens) == 3 and tokens[2].startswith("[")):
        return None  # search.entered, search.entered[NCT…]
    return "nothing is below a search's entered or left trial"


def _join(tokens: tuple[str, ...]) -> str:
    return "".join(t if t.startswith("[") else f".{t}" for t in tokens)[1:]


def _target(hint: Any) -> Any:
    args = [arg for arg in get_args(hint) if arg is not type(None)]
    return args[0] if args and get_origin(hint) is not tuple else hint


def _field_names(hint: Any) -> list[str]:
    target = _target(hint)
    return [f.name.rstrip("_") for f in fields(target)] if is_dataclass(target) else []


def _child(hint: Any, token: str) -> Any:
    """The type found under ``token`` in ``hint``, None if there is none."""
    if token.startswith("["):
        if get_origin(hint) is not tuple:
            return None
        # criteria and plain strings are leaves: their key is the whole of them
        element = get_args(hint)[0]
        return object if element in (str, Criterion) else element
    target = _target(hint)
    if not is_dataclass(target):
        return None
    hints = get_type_hints(target)
    return {f.name.rstrip("_"): hints[f.name] for f in fields(target)}.get(token)
