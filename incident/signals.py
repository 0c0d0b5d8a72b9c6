"""Signals one domain sends when something happens to a case or a draft, so that the domains that react
(playbooks, known fakes, escalation, notifications) subscribe in their own modules instead of being
called. Receivers run inside the sender's transaction: what they write commits or rolls back with it."""
from __future__ import annotations

from blinker import Namespace

_signals = Namespace()
