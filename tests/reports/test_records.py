"""The end of a record's retention (issue 16): the PR office writes the full record out (report, JSON, evidence
files, SHA-256 manifest), then removes its personal data as a recorded redaction; the skeleton, the timeline
and the audit chain stay, and the chain still verifies."""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import types
import zipfile

import pytest
from PIL import Image
from sqlalchemy import select, text, update
from sqlalchemy.exc import DatabaseError

from incident.audit.chain import verify_chain
from incident.audit.models import AuditLog, AuditSeal
from incident.cases import service as cases
from incident.cases.models import Case, CaseStatus, Evidence, Note, RecordExport, Redaction, TimelineEvent
from incident.evidence import service as evidence
from incident.evidence.service import file_path
from incident.extensions import db
from incident.reports import disclosure
from incident.search.models import SearchEntry

CITIZEN = "石巻花子"
PHONE = "0225-95-1111"


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(out, "PNG")
    return out.getvalue()


@pytest.fixture(autouse=True)
def _uploads(app, tmp_path):
    app.config["UPLOAD_DIR"] = str(tmp_path / "uploads")


@pytest.fixture
def town(make):
    """A closed flaming case whose retention ended, holding a citizen's name and number everywhere."""
    dept = make.department("kanko", "観光課")
    pr = make.department("hisho-koho", "秘書広報課")
    supervisor = make.user("supervisor", dept, name="課長")
    responder = make.user("responder", dept, name="担当")
    admin = make.user("admin", pr, name="広報")
    case = make.case(responder, kind="flaming", description=f"通報者 {CITIZEN}（{PHONE}）から電話")
    case.source = f"{CITIZEN}さんの電話"
    note = cases.add_note(responder, case, f"{CITIZEN}さんに折り返し済み {PHONE}")
    shot = evidence.add_evidence(responder, case, io.BytesIO(_png()), "screenshot.png", note="投稿の画面")
    card = evidence.add_evidence(responder, case, io.BytesIO(_png()), f"{CITIZEN}_免許証.png",
                                 purpose="id_document", note=f"{CITIZEN}の本人確認")
    db.session.commit()
    cases.change_status(supervisor, case, CaseStatus.CLOSED, f"{CITIZEN}さんへ回答して終了", waive_open_steps=True)
    db.session.commit()
    # Its retention ended yesterday.
    db.session.execute(update(Case).where(Case.id == case.id).values(retention_until=dt.date.today() - dt.timedelta(days=2)))
    db.session.commit()
    db.session.refresh(case)
    return types.SimpleNamespace(case=case, note=note, shot=shot, card=card, admin=admin, supervisor=supervisor,
                                 responder=responder, other=make.user("responder", make.department("kikaku", "企画課")))


def _export(client, case) -> zipfile.ZipFile:
    response = client.post(f"/cases/{case.id}/record-export")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.headers["Content-Type"] == "application/zip"
    body = response.get_data()
    response.close()
    assert hashlib.sha256(body).hexdigest() == response.headers["X-Archive-SHA256"]
    return zipfile.ZipFile(io.BytesIO(body))


def _redact(client, case, **extra):
    return client.post(f"/cases/{case.id}/redaction", data={"confirmation": case.number, **extra})


def test_the_export_holds_the_whole_record_and_a_manifest_that_checks(town, client, login):
    login(town.admin)
    archive = _export(client, town.case)
    folder = town.case.number
    names = set(archive.namelist())
    assert {f"{folder}/report.html", f"{folder}/report.md", f"{folder}/record.json",
            f"{folder}/manifest-sha256.txt"} <= names
    evidence_files = sorted(n for n in names if "/evidence/" in n)
    assert len(evidence_files) == 2 and any("免許証" in n for n in evidence_files)
    # Every file but the manifest is listed with its SHA-256, as `sha256sum -c` reads it.
    listed = {}
    for line in archive.read(f"{folder}/manifest-sha256.txt").decode().splitlines():
        digest, name = line.split("  ", 1)
        listed[name] = digest
    assert set(listed) == {n.split("/", 1)[1] for n in names} - {"manifest-sha256.txt"}
    for name, digest in listed.items():
        assert hashlib.sha256(archive.read(f"{folder}/{name}")).hexdigest() == digest
    record = json.loads(archive.read(f"{folder}/record.json"))
    assert record["case_number"] == town.case.number
    tables = record["tables"]
    assert tables["cases"][0]["description"].startswith(f"通報者 {CITIZEN}")
    assert [n["body"] for n in tables["note"]] == [f"{CITIZEN}さんに折り返し済み {PHONE}"]
    assert len(tables["evidence"]) == 2 and tables["timeline_event"] and tables["audit_log"]
    assert "notification" not in tables and "search_entry" not in tables
    assert record["people"][str(town.responder.id)] == "担当"
    assert CITIZEN in archive.read(f"{folder}/report.html").decode()
    export = db.session.scalars(select(RecordExport)).one()
    assert export.actor_id == town.admin.id and export.files == len(names)
    assert db.session.scalars(select(AuditLog.action).where(AuditLog.action == "record.export")).all() == ["record.export"]


def test_redaction_removes_the_personal_data_and_keeps_the_skeleton(town, client, login):
    login(town.admin)
    events_before = db.session.scalar(select(text("count(*)")).select_from(TimelineEvent).where(
        TimelineEvent.case_id == town.case.id))
    _export(client, town.case)
    assert _redact(client, town.case).status_code == 302
    db.session.expire_all()
    case = db.session.get(Case, town.case.id)
    assert case.redacted_at is not None and case.description == "" and case.source == ""
    assert (case.number, case.kind.value, case.status, case.title) == (
        town.case.number, "flaming", CaseStatus.CLOSED, town.case.title)
    assert db.session.get(Note, town.note.id).body == ""
    assert db.session.get(Evidence, town.card.id).original_name == ""
    assert db.session.get(Evidence, town.card.id).sha256 == town.card.sha256  # what was there stays provable
    # The ID document is gone from disk; the screenshot, not chosen, stays.
    assert not file_path(town.card).exists() and file_path(town.shot).exists()
    # The timeline keeps every event and adds the redaction; no trace of the citizen anywhere in the case's rows.
    events = db.session.scalars(select(TimelineEvent).where(TimelineEvent.case_id == case.id)
                                .order_by(TimelineEvent.id)).all()
    assert len(events) == events_before + 1 and events[-1].event == "redacted"
    for table in ("timeline_event", "audit_log", "note", "evidence", "cases", "search_entry"):
        column = "id" if table == "cases" else "case_id"
        dumped = json.dumps([list(r) for r in db.session.execute(
            text(f"SELECT * FROM {table} WHERE {column} = :id"), {"id": case.id})], ensure_ascii=False, default=str)
        assert CITIZEN not in dumped and PHONE not in dumped, table
    redaction = db.session.scalars(select(Redaction)).one()
    assert redaction.removed["evidence_files"] == [town.card.id] and redaction.removed["notes"] == 1
    # The audit chain still verifies, every redacted row against its seal.
    assert db.session.scalar(select(text("count(*)")).select_from(AuditSeal)) > 0
    db.session.commit()
    assert verify_chain().ok
    # The case page says so, shows no note text, offers no reopening; reopening is refused.
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "個人情報を消去しました" in page and "本文を消去しました" in page and CITIZEN not in page
    with pytest.raises(Exception, match="再開できません"):
        cases.change_status(town.supervisor, case, CaseStatus.RESPONDING, "再開")
    db.session.rollback()
    # Search no longer finds the citizen.
    assert not db.session.scalars(select(SearchEntry.id).where(SearchEntry.body.contains(CITIZEN))).all()


def test_a_redacted_audit_row_changed_afterwards_breaks_the_chain(town, client, login, owner_uri):
    login(town.admin)
    _export(client, town.case)
    _redact(client, town.case)
    sealed = db.session.scalars(select(AuditSeal.audit_id)).first()
    db.session.commit()
    from sqlalchemy import create_engine
    engine = create_engine(owner_uri)
    with engine.begin() as conn:  # a redaction exists, so the database lets the changes column be written
        conn.execute(text("UPDATE audit_log SET changes = :c WHERE id = :id"),
                     {"c": json.dumps({"body": [None, "書き換え"]}), "id": sealed})
    engine.dispose()
    report = verify_chain()
    assert not report.ok and report.broken.row_id == sealed and "seal" in report.broken.detail


def test_redaction_is_refused_before_expiry_without_a_current_export_and_without_the_number(town, client, login):
    login(town.admin)
    refused = _redact(client, town.case)
    assert refused.status_code == 422 and "先に記録を書き出してください" in refused.get_data(as_text=True)
    _export(client, town.case)
    # A change after the export makes it out of date.
    db.session.execute(update(Case).where(Case.id == town.case.id).values(retention_until=dt.date.today() + dt.timedelta(days=1)))
    db.session.commit()
    early = _redact(client, town.case)
    assert early.status_code == 422 and "保存期間が満了した記録だけ" in early.get_data(as_text=True)
    db.session.execute(update(Case).where(Case.id == town.case.id).values(retention_until=dt.date.today() - dt.timedelta(days=1)))
    db.session.commit()
    wrong = client.post(f"/cases/{town.case.id}/redaction", data={"confirmation": "2026-9999"})
    assert wrong.status_code == 422 and "案件番号" in wrong.get_data(as_text=True)
    other_file = client.post(f"/cases/{town.case.id}/redaction",
                             data={"confirmation": town.case.number, "remove_evidence": "999999"})
    assert other_file.status_code == 422
    assert db.session.get(Case, town.case.id).redacted_at is None
    assert db.session.get(Note, town.note.id).body.startswith(CITIZEN)


def test_an_export_made_before_a_change_does_not_count(town, client, login):
    login(town.admin)
    _export(client, town.case)
    # The PR office extends nothing, but a disclosure mask is recorded: an audited change to the case.
    request = disclosure.open_request(town.admin, town.case.id, "R8-1", dt.date.today())
    db.session.commit()
    assert request.id
    refused = _redact(client, town.case)
    assert refused.status_code == 422 and "先に記録を書き出してください" in refused.get_data(as_text=True)
    _export(client, town.case)
    assert _redact(client, town.case).status_code == 302


def test_the_chosen_evidence_files_go_too(town, client, login):
    login(town.admin)
    _export(client, town.case)
    assert _redact(client, town.case, remove_evidence=str(town.shot.id)).status_code == 302
    assert not file_path(town.shot).exists() and not file_path(town.card).exists()
    assert client.get(f"/cases/{town.case.id}/evidence/{town.card.id}/file").status_code == 404


def test_only_the_pr_office(town, client, login):
    login(town.supervisor)  # sees the case: 403
    assert client.post(f"/cases/{town.case.id}/record-export").status_code == 403
    assert client.get(f"/cases/{town.case.id}/redaction").status_code == 403
    assert client.get("/admin/retention/expired").status_code == 404
    login(town.other)  # does not see it: 404
    assert client.post(f"/cases/{town.case.id}/record-export").status_code == 404
    assert client.get(f"/cases/{town.case.id}/redaction").status_code == 404
    assert "保存期間が満了した記録" not in client.get("/").get_data(as_text=True)  # the home page: PR office only
    login(town.admin)
    home = client.get("/").get_data(as_text=True)
    assert "個人情報が残っている記録が 1 件あります" in home and "/admin/retention/expired" in home
    page = client.get("/admin/retention/expired").get_data(as_text=True)
    assert town.case.number in page and "まだ書き出していません" in page
    assert client.get(f"/cases/{town.case.id + 10**9}/redaction").status_code == 404
    assert db.session.scalar(select(text("count(*)")).select_from(RecordExport)) == 0


def test_the_database_lets_only_a_recorded_redaction_blank_the_personal_columns(town):
    """Without a redaction of the case the append-only tables refuse every UPDATE; with one, only blanking."""
    refusal = re.compile("append-only|permission denied")
    with pytest.raises(DatabaseError) as info:
        db.session.execute(text("UPDATE note SET body = '' WHERE id = :id"), {"id": town.note.id})
        db.session.flush()
    db.session.rollback()
    assert refusal.search(str(info.value))
    export = RecordExport(case_id=town.case.id, manifest_sha256="0" * 64, archive_sha256="0" * 64, files=1, size=1,
                          actor_id=town.admin.id)
    db.session.add(export)
    db.session.flush()
    db.session.add(Redaction(case_id=town.case.id, export_id=export.id, actor_id=town.admin.id, removed={}))
    db.session.flush()
    for statement in ("UPDATE note SET body = 'ほかの文' WHERE id = :id",   # rewriting, not blanking
                      "UPDATE note SET author_id = author_id + 1 WHERE id = :id",
                      "DELETE FROM note WHERE id = :id"):
        savepoint = db.session.begin_nested()
        with pytest.raises(DatabaseError) as info:
            db.session.execute(text(statement), {"id": town.note.id})
        savepoint.rollback()
        assert refusal.search(str(info.value)), statement
    db.session.execute(text("UPDATE note SET body = '' WHERE id = :id"), {"id": town.note.id})
    db.session.commit()
    assert db.session.scalar(text("SELECT body FROM note WHERE id = :id"), {"id": town.note.id}) == ""


def test_the_walk_of_the_pages(town, client, login):
    login(town.admin)
    expired = client.get("/admin/retention/expired").get_data(as_text=True)
    assert f'/cases/{town.case.id}/redaction' in expired
    page = client.get(f"/cases/{town.case.id}/redaction").get_data(as_text=True)
    assert "メモ 1 件の本文" in page and "本人確認書類" in page and "先に記録を書き出してください" in page
    _export(client, town.case)
    page = client.get(f"/cases/{town.case.id}/redaction").get_data(as_text=True)
    assert "最後の書き出し" in page and "先に記録を書き出してください" not in page
    _redact(client, town.case)
    done = client.get(f"/cases/{town.case.id}/redaction").get_data(as_text=True)
    assert "が個人情報を消去しました" in done and "メモ 1 件、証拠ファイル 1 件" in done
    assert town.case.number not in client.get("/admin/retention/expired").get_data(as_text=True)
    assert "保存期間が満了した記録" not in client.get("/").get_data(as_text=True)  # none left to handle
    # Once redacted, a second attempt changes nothing.
    assert _redact(client, town.case).status_code == 200
    assert db.session.scalar(select(text("count(*)")).select_from(Redaction)) == 1


def test_a_large_export_is_sent_from_a_temporary_file_closed_with_the_download(town, client, login, monkeypatch):
    from incident.reports import records

    monkeypatch.setattr(records, "IN_MEMORY", 0)  # every export counts as large
    handed = []
    made = records.export_record
    monkeypatch.setattr(records, "export_record", lambda *a: handed.append(made(*a)) or handed[-1])
    login(town.admin)
    archive = _export(client, town.case)  # closes the response: an open file left behind fails the test
    assert archive.testzip() is None and len(archive.namelist()) == 6
    # It went out as the temporary file on disk (not a copy in memory), and the download closed it.
    assert not isinstance(handed[0].file, io.BytesIO) and handed[0].file.closed


def test_the_command_writes_out_and_redacts_expired_records_in_bulk(town, runner, tmp_path):
    """`flask records expire`: each ZIP on disk (its SHA-256 printed, as recorded), then the redaction."""
    refused = runner.invoke(args=["records", "expire", "--as", town.supervisor.email, "--to", str(tmp_path / "out")])
    assert refused.exit_code != 0 and "not an active PR office" in refused.output
    exported = runner.invoke(args=["records", "expire", "--as", town.admin.email, "--to", str(tmp_path / "out")])
    assert exported.exit_code == 0, exported.output
    zip_path = tmp_path / "out" / f"{town.case.number}-record.zip"
    digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    assert f"{digest}  {zip_path}" in exported.output and "1 record(s) written out" in exported.output
    assert db.session.get(Case, town.case.id).redacted_at is None  # --export-only is the default
    done = runner.invoke(args=["records", "expire", "--as", town.admin.email, "--to", str(tmp_path / "out"),
                               "--redact"])
    assert done.exit_code == 0 and "redacted" in done.output, done.output
    db.session.expire_all()
    assert db.session.get(Case, town.case.id).redacted_at is not None
    assert db.session.get(Note, town.note.id).body == "" and not file_path(town.card).exists()
    assert db.session.scalars(select(RecordExport.archive_sha256).order_by(RecordExport.id)).all()[-1] == \
        hashlib.sha256((tmp_path / "out" / f"{town.case.number}-record.zip").read_bytes()).hexdigest()
    again = runner.invoke(args=["records", "expire", "--as", town.admin.email, "--to", str(tmp_path / "out")])
    assert "0 record(s)" in again.output
