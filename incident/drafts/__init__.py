"""Outgoing texts: drafts filled from the case, revisions, section-4 checks, approval, the published ledger."""
