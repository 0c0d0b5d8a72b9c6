"""Several workers writing at once lose nothing: case numbers stay unique and dense."""
from __future__ import annotations

import threading

from sqlalchemy import select, text

from incident.cases import service
from incident.cases.models import Case
from incident.extensions import db


def test_sqlite_runs_in_wal_mode_with_busy_timeout(app):
    if db.engine.dialect.name != "sqlite":
        return
    assert db.session.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
    assert db.session.execute(text("PRAGMA busy_timeout")).scalar_one() == 15000


def test_concurrent_openings_get_distinct_numbers(app, make):
    department = make.department()
    users = [make.user("responder", department) for _ in range(4)]
    user_ids = [u.id for u in users]
    # Outside a request every transaction takes the write lock at BEGIN (CLI semantics), so the
    # test thread must not sit in an open transaction while the workers write.
    db.session.remove()
    errors: list[BaseException] = []

    def worker(user_id: int) -> None:
        try:
            with app.app_context():
                from incident.auth.models import User

                actor = db.session.get(User, user_id)
                for n in range(5):
                    service.open_case(actor, {"kind": "flaming", "severity": "low", "title": f"{user_id}-{n}"})
                    db.session.commit()
                db.session.remove()
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(uid,)) for uid in user_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    db.session.expire_all()
    sequences = sorted(db.session.scalars(select(Case.sequence)))
    assert sequences == list(range(1, 21))
