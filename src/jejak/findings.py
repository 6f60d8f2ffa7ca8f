"""What a verdict says about a leak, computed once for every output.

The terminal summary, the HTML report and the notification pack each state who is affected, when
the data was taken and whether it holds specific personal data. A notice to the authority that
says one window while the report says another would be a gift to anyone contesting the evidence,
so each of these facts is read from the verdict here and only phrased by the outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Window:
    """The extraction window: the data was taken on or after ``start`` and before ``end``.

    ``end`` is None when no later change of the registry contradicts the file: then the data may
    have been taken at any time up to now, and every output must say so rather than stay silent.
    """

    start: str
    end: str | None

    def words(self, lang: str, date: Callable[[str], str] = str) -> str:
        """'between A and B' / 'on or after A (no later change seen)', in the document's language."""
        if self.end is not None:
            return f"antara {date(self.start)} dan {date(self.end)}" if lang == "id" else \
                f"between {date(self.start)} and {date(self.end)}"
        return (f"pada atau sesudah {date(self.start)} (tidak terlihat perubahan registri sesudahnya)" if lang == "id"
                else f"on or after {date(self.start)} (no later change of the registry seen)")


def extraction_window(verdict: dict[str, Any]) -> Window | None:
    """The window of the verdict's dating, or None when the data could not be dated."""
    snap = verdict.get("snapshot") or {}
    if not snap.get("from"):
        return None
    return Window(str(snap["from"])[:10], str(snap["to"])[:10] if snap.get("to") else None)


def people_affected(verdict: dict[str, Any]) -> int:
    """Distinct people of ours in the file: the impact's head count, else the matched rows."""
    imp = verdict.get("impact") or {}
    ver = verdict.get("verification") or {}
    return int(imp.get("people") or ver.get("matched") or 0)


def specific_data(verdict: dict[str, Any]) -> list[tuple[str, int]]:
    """Why the file holds specific personal data (UU PDP Art. 4(2)), as (what, people) pairs:
    each specific data category with people in it, and ``children`` — data of children is specific
    too (Art. 4(2)(e)) even when no column is. Empty when it holds none."""
    from jejak.report import impact_categories

    categories, _ = impact_categories(verdict)
    found = [(k, int(c.get("people") or 0)) for k, c in categories.items() if c.get("specific") and c.get("people")]
    children = int((verdict.get("impact") or {}).get("children") or 0)
    if children:
        found.append(("children", children))
    return found
