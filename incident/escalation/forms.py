"""Forms of the escalation pages: escalating a case by hand, and taking an escalation on."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from incident.auth.forms import stripped
from incident.escalation.service import REASON_MAX

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
