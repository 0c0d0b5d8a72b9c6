"""The metrics page (/metrics) and its CSV (/metrics.csv): everyone signed in, over the cases they may see."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _
from flask_login import current_user, login_required

from incident import labels, policy
from incident.accounts.models import Platform
from incident.auth import service as auth
from incident.reports import metrics, metrics_cache
from incident.reports.csv_export import csv_response

bp = Blueprint("metrics", __name__)


def _report() -> tuple[metrics.Report | None, metrics.MetricsFilters, dict[str, Any], list[Any]]:
    departments = auth.all_departments()
    filters, errors = metrics.filters_from_args(request.args, [d.code for d in departments])
    report = None if errors else metrics_cache.report(current_user, filters, departments)
    return report, filters, errors, departments


def _group_label(report: metrics.Report, dimension: str, key: Any) -> str:
    """The display name of a breakdown row."""
    if dimension == "month":
        return str(key)
    if dimension == "kind":
        return str(labels.KIND_LABELS[key])
    if dimension == "severity":
        return str(labels.SEVERITY_LABELS[key])
    if dimension == "platform":
        return str(labels.PLATFORM_LABELS[key]) if key else _("（なし）")
    return report.departments[key].name


def _platform_name(value: str) -> str:
    """The name of the platform a takedown request went to ("" for none)."""
    try:
        return str(labels.PLATFORM_LABELS[Platform(value)])
    except ValueError:
        return value or _("（なし）")


def dimension_titles() -> dict[str, str]:
    """The breakdowns' headings."""
    return {"month": _("月別"), "kind": _("種別ごと"), "severity": _("重大度ごと"),
            "platform": _("プラットフォームごと"), "department": _("所属ごと")}


@bp.route("/metrics")
@login_required
def index():
    """Figures per month and per kind, severity, platform and department, with their definitions."""
    report, filters, errors, departments = _report()
    context = {
        "report": report, "filters": filters, "errors": errors, "args": request.args,
        "departments": departments if policy.lists_every_department(current_user) else [],
        "titles": dimension_titles(), "group_label": _group_label, "duration": metrics.duration_text,
        "median": metrics.Figures.median, "chart": metrics.chart(report) if report else [],
        "chart_height": metrics.CHART_HEIGHT, "chart_slot": metrics.CHART_SLOT,
        "level_labels": labels.ESCALATION_LEVEL_LABELS, "trigger_labels": labels.ESCALATION_TRIGGER_LABELS,
        "outcome_labels": labels.TAKEDOWN_OUTCOME_LABELS, "platform_labels": labels.PLATFORM_LABELS,
    }
    return render_template("reports/metrics.html", **context), 400 if errors else 200


def _csv_rows(report: metrics.Report) -> Any:
    """The metrics as CSV: the breakdown tables, then takedowns per platform, then escalations."""
    median, minutes = metrics.Figures.median, metrics.minutes
    yield [_("集計"), _("区分"), _("発生件数"), _("終了件数"), _("受付まで 中央値（分）"), _("受付 件数"),
           _("最初の公表まで 中央値（分）"), _("公表 件数"), _("終了まで 中央値（分）"), _("終了まで 件数"),
           _("削除依頼 提出件数"), _("エスカレーション件数")]
    titles = dimension_titles()
    groups = [(dimension, key, figures) for dimension, table in report.tables.items()
              for key, figures in table.items()] + [("total", "", report.total)]
    for dimension, key, f in groups:
        title, label = (_("合計"), "") if dimension == "total" else (titles[dimension],
                                                                   _group_label(report, dimension, key))
        yield [title, label, f.opened, f.closed, minutes(median(f.acknowledge)), len(f.acknowledge),
               minutes(median(f.first_response)), len(f.first_response), minutes(median(f.close)), len(f.close),
               f.takedowns, f.escalations]
    yield []
    outcomes = ("removed", "refused", "no_answer")
    yield [_("削除依頼"), _("依頼先"), _("提出件数"), *(str(labels.TAKEDOWN_OUTCOME_LABELS[o]) for o in outcomes),
           _("回答待ち"), _("回答まで 中央値（分）"), _("回答 件数")]
    rows = [*report.takedowns.items(), ("total", report.takedown_total)]
    for platform, t in rows:
        name = _("合計") if platform == "total" else _platform_name(platform)
        yield [_("削除依頼"), name, t.sent, *(t.outcomes.get(o, 0) for o in outcomes), t.pending,
               minutes(median(t.answer)), len(t.answer)]
    yield []
    yield [_("エスカレーション"), _("到達した段階"), _("きっかけ"), _("件数")]
    for (level, trigger), count in sorted(report.escalations.items()):
        yield [_("エスカレーション"), str(labels.ESCALATION_LEVEL_LABELS.get(level, level)),
               str(labels.ESCALATION_TRIGGER_LABELS.get(trigger, trigger)), count]


@bp.route("/metrics.csv")
@login_required
def export():
    """The metrics page's figures, with the same filters, as CSV."""
    report, _filters, errors, _departments = _report()
    if report is None or errors:
        abort(400)
    return csv_response(_csv_rows(report), "metrics")
