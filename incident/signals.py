"""Signals one domain sends when something happens to a case or a draft, so that the domains that react
(playbooks, known fakes, escalation, notifications) subscribe in their own modules instead of being
called. Receivers run inside the sender's transaction: what they write commits or rolls back with it.

The sender is the case or the draft; keyword arguments carry the rest, and receivers take **kwargs so a
new argument breaks none of them. Blinker calls the receivers of one signal in no fixed order, so where
one effect must come before another they hang on different signals, sent in that order. The subscribing
modules are imported by the app factory (incident.setup), so every receiver is connected before the
first request or command."""
from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

case_opening = _signals.signal("case-opening", doc="""A case is about to be stored (not flushed yet).

kwargs: actor. Receivers may set the case's fields: playbooks pins the playbook of its kind.""")

case_opened = _signals.signal("case-opened", doc="""A case was stored with its offending items, before
any assignment made while opening it.

kwargs: actor, targets (the offending URLs / @handles given). Known fakes are linked; the department's
supervisors are told.""")

case_kind_changed = _signals.signal("case-kind-changed", doc="""A case's kind was changed by an edit
(not flushed yet).

kwargs: actor, old_kind. Playbooks pins the new kind's playbook.""")

case_acknowledged = _signals.signal("case-acknowledged", doc="""A new case was acknowledged (it moved
to responding).

kwargs: actor. Playbooks completes the step a supervisor's acknowledgement completes; escalation
resolves the unacknowledged-case escalation.""")

case_closing = _signals.signal("case-closing", doc="""A case is about to close; receivers may refuse by
raising a DomainError, which the sender lets through.

kwargs: actor, reason, waive_open_steps, review (whether a closing review is given). Playbooks completes
the step waiting for a review, then refuses while required steps are open, or (asked to waive them) waives
them with the reason.""")

case_closed = _signals.signal("case-closed", doc="""A case was closed.

kwargs: actor, reason. Escalation resolves the case's open timed and manual escalations.""")

case_assigned = _signals.signal("case-assigned", doc="""A case got a new assignee (or none).

kwargs: actor, assignee (a User or None). Notifications tells the new assignee.""")

draft_submitted = _signals.signal("draft-submitted", doc="""A draft now awaits approval (or, within a
pre-approved scope, a colleague's second check).

kwargs: actor, case, pre_approved. Notifications asks those who may approve it.""")

draft_decided = _signals.signal("draft-decided", doc="""A submitted draft was approved or returned.

kwargs: actor, case, approved, comment. Notifications tells its author.""")

draft_sent = _signals.signal("draft-sent", doc="""An approved draft was published (or, for a takedown
request, submitted): it entered the case's ledger.

kwargs: actor, case, publication. Playbooks completes the open step that asked for it.""")

account_notice_filed = _signals.signal("account-notice-filed", doc="""A 様式2 notice (opening, change,
closure) was filed from a case about the account (a takeover's change, a dormant account's closure); the
sender is the case.

kwargs: actor, notice. Playbooks completes the open step with completes_on = "account_notice".""")

draft_answered = _signals.signal("draft-answered", doc="""A platform's answer to a sent takedown (or recovery)
request was recorded, also on a closed case (a late answer); the sender is the draft.

kwargs: actor, case, outcome (an incident.drafts.models.Outcome, or None while still waiting). On a takedown
answered "removed" (the draft's own code has already marked the fakes it named removed), playbooks completes
the open steps with completes_on = "takedown_removed" — unless the case is closed.""")
