"""The transaction boundary: each request and each CLI command commits once on success and rolls back
on any failure, so views, API handlers and commands only call services (services never commit)."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click
from flask import Flask, g
from flask.typing import ResponseReturnValue

from incident.errors import DomainError
from incident.extensions import db
from incident.messages import flash_at

F = TypeVar("F", bound=Callable[..., Any])


class TransactionalFlask(Flask):
    """Flask whose every view runs in one transaction, ended right after the view returns.

    Like Indico's request handler, the commit happens inside request dispatch, so an error raised by
    the commit itself (a constraint, a lock) reaches the same error handlers as one raised by a view.
    A response of 400 or more, or a request a view `refused`, is rolled back instead.
    """

    def dispatch_request(self) -> ResponseReturnValue:
        # `g` outlives the request when an app context was already pushed (tests, scripts): start clean.
        g.pop("transaction_refused", None)
        response = self.make_response(super().dispatch_request())
        if response.status_code < 400 and not g.get("transaction_refused"):
            db.session.commit()
        else:
            db.session.rollback()
        return response


def abandon() -> None:
    """Roll back the request's work, e.g. before rendering an error page from a failed session."""
    g.transaction_refused = True
    db.session.rollback()


def refuse(error: DomainError, form: Any = None, at: str | None = None) -> None:
    """Undo this request's writes and show `error` where the user acts: each field message on the form's
    field of that name when there is one, the rest (and the summary) as a flash message, shown at the
    anchor `at` when given (incident.messages)."""
    abandon()
    unplaced = []
    for name, message in error.fields.items():
        field = getattr(form, name, None) if form is not None else None
        if field is not None and hasattr(field, "errors"):
            field.errors = list(field.errors) + [str(message)]
        else:
            unplaced.append(str(message))
    flash_at(at, " ".join([str(error.message), *unplaced]), "error")


def command(f: F) -> F:
    """A CLI command in one transaction: committed when it returns, rolled back when it raises; a
    domain error becomes its message on standard error and exit status 1. The text the command returns
    is printed after the commit, so nothing is reported done (or a token shown) that was not saved."""

    @functools.wraps(f)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            result = f(*args, **kwargs)
        except DomainError as error:
            db.session.rollback()
            messages = [str(error.message)] + [f"{name}: {text}" for name, text in error.fields.items()]
            raise click.ClickException(" ".join(messages)) from None
        except BaseException:
            db.session.rollback()
            raise
        db.session.commit()
        if result is not None:
            click.echo(result)

    return run  # type: ignore[return-value]

