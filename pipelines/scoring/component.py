"""One line of a score's breakdown, the same in every scoring module.

`value` is the points it gave, or None when its input was unavailable: an alert then says so
instead of passing a zero off as a finding. Signals turn these into
`notifications.message.ScoreComponent` when they are recorded.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from notifications.message import ScoreComponent


class Component(NamedTuple):
    name: str
    value: float | None
    explanation: str


def score_components(components: Iterable[Component]) -> tuple[ScoreComponent, ...]:
    """The alert's breakdown. A component whose input was unavailable adds 0 there and keeps its
    "unavailable" explanation, so it never reads as a measured zero."""
    return tuple(ScoreComponent(c.name, 0.0 if c.value is None else c.value, c.explanation) for c in components)


def total(components: Iterable[Component]) -> float:
    """Sum of the points; a component whose input was unavailable adds nothing."""
    return sum((c.value for c in components if c.value is not None), 0.0)
