"""What the sign-in tests share: a clock the test moves instead of sleeping."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from types import ModuleType

import pytest

from incident.dates import utcnow


class Clock:
    """A module's idea of now, moved by the test."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move now on by `seconds`."""
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock_of(monkeypatch: pytest.MonkeyPatch) -> Callable[[ModuleType], Clock]:
    """`clock_of(module)`: the module's `utcnow` answers the returned Clock until the test ends."""

    def fix(module: ModuleType) -> Clock:
        clock = Clock()
        monkeypatch.setattr(module, "utcnow", clock)
        return clock

    return fix
