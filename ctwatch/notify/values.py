"""The values of a change as people read them: enums in the registry's wording, yes and no,
lists, and a whole list element (a criterion, an arm, an outcome…) in a few words.

Registry text goes through ``logs.visible`` here, like every text of the view
(:mod:`ctwatch.notify.present`).
"""

from __future__ import annotations

from typing import Any

from ctwatch.labels import wording
from ctwatch.logs import visible


def element_text(text: str, width: int | None = None) -> str:
    """Registry text on one line, controls escaped; cut to ``width`` characters with "…"."""
    text = visible(" ".join(text.split()))
    if width is not None and len(text) > width:
        text = text[: width - 1].rstrip() + "…"
    return text


def shown(value: Any, kind: str | None = None) -> str:
    """A JSON value of a change as one line for people; "" for none. ``kind`` names the
    enum the value belongs to (:data:`ctwatch.labels.VALUES`): its wording is shown."""
    if value is None or value == [] or value == {}:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        if kind is not None:
            return element_text(wording(kind, value))
        return ", ".join(text for text in (shown(item) for item in value) if text)
    if isinstance(value, dict):
        return _element(value)
    return element_text(wording(kind, value) if kind else str(value))


def _element(value: dict[str, Any]) -> str:
    """A whole list element (an added or removed criterion, arm, outcome…) in a few words, as
    the registry lists it: "Experimental: Arm A", "Drug: Isatuximab"."""
    if value.get("text"):  # a criterion
        return shown(value["text"])
    if value.get("label"):  # an arm
        kind = shown(value.get("type"), "arm_type")
        return f"{kind}: {shown(value['label'])}" if kind else shown(value["label"])
    if value.get("measure"):  # an outcome
        frame = shown(value.get("time_frame"))
        return shown(value["measure"]) + (f" (time frame: {frame})" if frame else "")
    if value.get("facility") or value.get("city"):  # a location
        place = ", ".join(shown(value.get(k)) for k in ("facility", "city", "country")
                          if value.get(k))
        status = shown(value.get("status"), "status")
        return place + (f" ({status})" if status else "")
    if value.get("name"):  # an intervention, a person, an organisation
        if "type" in value:
            kind = shown(value.get("type"), "intervention_type")
            return f"{kind}: {shown(value['name'])}" if kind else shown(value["name"])
        role = shown(value.get("role"), "role")
        return shown(value["name"]) + (f" ({role})" if role else "")
    return "; ".join(f"{key}: {shown(item)}" for key, item in value.items()
                     if shown(item) and not isinstance(item, dict | list))


def detail(value: Any) -> str:
    """What a whole element adds to its label ("Arm: A" is named already): a criterion's
    text, an arm's or intervention's type, an outcome's time frame, a site's status, a
    person's role; "" when the label says it all."""
    if not isinstance(value, dict):
        return ""
    if value.get("text"):
        return shown(value["text"])
    if value.get("label"):
        return shown(value.get("type"), "arm_type")
    if value.get("measure"):
        frame = shown(value.get("time_frame"))
        return f"time frame: {frame}" if frame else ""
    if value.get("facility") or value.get("city"):
        return shown(value.get("status"), "status")
    if "type" in value:
        return shown(value.get("type"), "intervention_type")
    return shown(value.get("role"), "role")
