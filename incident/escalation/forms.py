"""Forms of the escalation pages: escalating a case by hand, taking an escalation on, working hours and on-call."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from incident.auth.forms import at_most, stripped
from incident.escalation.service import REASON_MAX
from incident.labels import options

#: The service's one message for a missing or over-long reason.
_REASON = _l("理由を %(max)d 文字以内で入力してください。", max=REASON_MAX)


class EscalateForm(FlaskForm):
    """Why the case goes to the next level."""

    reason = TextAreaField(_l("理由"), filters=[stripped],
                           validators=[DataRequired(_REASON), Length(max=REASON_MAX, message=_REASON)])
    #: Where it starts, when the actor may choose (a responder on a critical case); the service checks it.
    level = RadioField(_l("知らせる先"), choices=[], validate_choice=False, validators=[Optional()])


class AcknowledgeForm(FlaskForm):
    """Taking an escalation on; `next` is "queue" when sent from the queue page."""

    next = HiddenField()


class ShiftForm(FlaskForm):
    """A new on-call shift: who, from when, until when (Japan time). The service checks every value."""

    user_id = SelectField(_l("当番の人"), choices=[], validate_choice=False)
    starts_at = StringField(_l("開始日時"), validators=[at_most(25)])
    ends_at = StringField(_l("終了日時"), validators=[at_most(25)])


class HoursForm(FlaskForm):
    """A department's working hours, working weekdays and own closed dates (checked by the service)."""

    start = StringField(_l("始業時刻"), validators=[at_most(8)])
    end = StringField(_l("終業時刻"), validators=[at_most(8)])
    weekdays = SelectMultipleField(_l("勤務日"), choices=options((str(d), str(d)) for d in range(7)), validate_choice=False)
    closed_dates = TextAreaField(_l("所属の休館日など（1 行に 1 日、例：2026-12-28）"), validators=[at_most(8000)])
