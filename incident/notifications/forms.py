"""The form of the notification page: which kinds of notification also come by e-mail."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectMultipleField

from incident.labels import options
from incident.notifications.service import KINDS


class EmailChoicesForm(FlaskForm):
    """The kinds ticked; an unknown kind is ignored (the checkboxes only offer known ones)."""

    kinds = SelectMultipleField(choices=options((kind, kind) for kind in KINDS), validate_choice=False)
