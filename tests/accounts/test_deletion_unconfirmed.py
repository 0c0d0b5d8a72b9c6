"""The registry flags closed accounts whose deletion on the platform was never confirmed (3(2)ウ, issue 12).

A closed account left online is a takeover risk: until someone records "confirmed gone" on its closure
checklist, the list and the account page mark it 「削除未確認」, the list counts them and can show only them.
"""
from __future__ import annotations

import types

import pytest

from incident.accounts import service
from incident.extensions import db

BADGE = "削除未確認"


@pytest.fixture
def registry(make):
    """An active account, a closed one never confirmed deleted, and the people of its department."""
    dept = make.department("kanko", "観光課")
    pr = make.department("hisho-koho", "秘書広報課")
    responder = make.user("responder", dept)
    active = make.account(dept, platform="x", name="石巻市観光")
    closed = make.account(dept, platform="facebook", name="石巻市観光（旧）")
    service.file_notice(responder, closed, {"kind": "closure", "effective_date": "2026-03-31",
                                            "contact": "観光 一郎（内線1234）", "details": "運用終了"})
    db.session.commit()
    return types.SimpleNamespace(dept=dept, responder=responder, admin=make.user("admin", pr),
                                 other=make.user("responder", make.department()), active=active, closed=closed)


def _flags() -> dict[str, bool]:
    return {account.name: flagged for account, flagged in service.registry()}


def test_a_closed_account_is_flagged_until_it_is_confirmed_gone(registry):
    assert _flags() == {"石巻市観光": False, "石巻市観光（旧）": True}
    assert service.deletion_unconfirmed(registry.closed) and not service.deletion_unconfirmed(registry.active)
    # Deleting it is not yet confirming it is gone.
    service.complete_closure_task(registry.responder, registry.closed, "deleted_on_platform", "削除の手続をした")
    db.session.commit()
    assert _flags()["石巻市観光（旧）"] is True
    service.complete_closure_task(registry.responder, registry.closed, "confirmed_gone", "表示されないことを確認")
    db.session.commit()
    assert _flags() == {"石巻市観光": False, "石巻市観光（旧）": False}
    assert not service.deletion_unconfirmed(registry.closed)
    assert [a.name for a, _ in service.registry(unconfirmed_only=True)] == []


def test_the_list_shows_the_badge_the_count_and_a_filter(registry, client, login):
    login(registry.other)  # the registry is open to every logged-in user
    page = client.get("/accounts").text
    assert page.count('class="badge warn deletion-unconfirmed"') == 1
    assert f'href="/accounts/{registry.closed.id}#closure">{BADGE}</a>' in page
    assert "削除が確認されていないアカウント：1 件" in page
    assert 'href="/accounts?deletion=unconfirmed"' in page
    only = client.get("/accounts?deletion=unconfirmed").text
    assert "石巻市観光（旧）" in only and ">石巻市観光</a>" not in only


def test_the_pr_office_sees_the_count_and_it_goes_when_confirmed(registry, client, login):
    login(registry.admin)
    assert "削除が確認されていないアカウント：1 件" in client.get("/accounts").text
    service.complete_closure_task(registry.responder, registry.closed, "confirmed_gone")
    db.session.commit()
    page = client.get("/accounts").text
    assert "deletion-unconfirmed\"" not in page and "削除が確認されていないアカウント" not in page
    only = client.get("/accounts?deletion=unconfirmed").text
    assert "削除が確認されていない廃止アカウントはありません。" in only and "石巻市観光（旧）" not in only


def test_the_account_page_flags_it_with_a_warning(registry, client, login):
    login(registry.responder)
    page = client.get(f"/accounts/{registry.closed.id}").text
    assert BADGE in page and "廃止したアカウントの削除が確認されていません" in page
    assert BADGE not in client.get(f"/accounts/{registry.active.id}").text
    service.complete_closure_task(registry.responder, registry.closed, "confirmed_gone")
    db.session.commit()
    page = client.get(f"/accounts/{registry.closed.id}").text
    assert BADGE not in page and "廃止したアカウントの削除が確認されていません" not in page


def test_warnings_name_the_unconfirmed_deletion_only_for_closed_accounts(registry):
    warnings = service.account_warnings(registry.closed, review_days=365, deletion_unconfirmed=True)
    assert [w.code for w in warnings] == ["deletion"]
    assert service.account_warnings(registry.closed, review_days=365) == []
    assert "deletion" not in [w.code for w in service.account_warnings(registry.active, review_days=365,
                                                                         deletion_unconfirmed=True)]


@pytest.mark.parametrize("value", ["", "all", "UNCONFIRMED", "<script>"])
def test_an_unknown_filter_value_lists_everything(registry, client, login, value):
    login(registry.responder)
    response = client.get("/accounts", query_string={"deletion": value})
    assert response.status_code == 200
    assert ">石巻市観光</a>" in response.text and "石巻市観光（旧）" in response.text


def test_the_list_is_one_query_however_many_closed_accounts(registry, make, count_queries):
    """The flag comes with the accounts (an EXISTS in the same query), not one query per account."""
    with count_queries() as counter:
        service.registry()
    assert counter.count == 1
    for n in range(5):
        account = make.account(registry.dept, name=f"旧アカウント{n}")
        service.file_notice(registry.responder, account, {"kind": "closure", "effective_date": "2026-03-31",
                                                          "contact": "観光 一郎", "details": "運用終了"})
        if n % 2:
            service.complete_closure_task(registry.responder, account, "confirmed_gone")
    db.session.commit()
    with count_queries() as counter:
        rows = service.registry()
    assert counter.count == 1
    assert sum(flagged for _, flagged in rows) == 1 + 3


def test_the_list_page_queries_do_not_grow_with_accounts(registry, make, client, login, count_queries):
    login(registry.responder)
    with count_queries() as counter:
        client.get("/accounts")
    before = counter.count
    for n in range(4):
        account = make.account(registry.dept, name=f"旧アカウント{n}")
        service.file_notice(registry.responder, account, {"kind": "closure", "effective_date": "2026-03-31",
                                                          "contact": "観光 一郎", "details": "運用終了"})
    db.session.commit()
    with count_queries() as counter:
        page = client.get("/accounts").text
    assert counter.count == before
    assert page.count('class="badge warn deletion-unconfirmed"') == 5
