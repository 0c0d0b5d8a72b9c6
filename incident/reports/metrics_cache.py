"""The metrics figures computed once per change of data (incident.reports.kept), per person and filters."""
from __future__ import annotations

import dataclasses

from incident.auth.models import Department, User
from incident.reports import kept, metrics


def report(actor: User, filters: metrics.MetricsFilters, departments: list[Department]) -> metrics.Report:
    """metrics.compute's report, computed again only when the data changed since it was kept."""
    found = kept.kept(("metrics", kept.scope(actor), filters), lambda: metrics.compute(actor, filters, departments))
    # The departments of this request's session (names are shown; a rename writes an audit row anyway).
    return dataclasses.replace(found, departments={d.id: d for d in departments})
