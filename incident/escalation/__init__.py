"""Escalation: nobody handles trouble alone (3(4)※) — manual and timed escalation up the chain."""
