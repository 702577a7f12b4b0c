"""The report as a self-contained HTML page (inline CSS and SVG, nothing
fetched), the same page as a PDF, and CSV of every figure."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from markupsafe import Markup

from mailcomplaints.domain.topics import LABELS as TOPIC_LABELS
from mailcomplaints.policies import load_policy
from mailcomplaints.reports import charts
from mailcomplaints.reports.evidence import self_assessment

ON_TIME_TARGET = 0.9  # the line the on-time chart is read against
CODE_BASELINE = "housing-ombudsman-code-2024"


def flat(figures: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Every figure by its dotted name, as `report --cases` names them."""
    rows: list[tuple[str, Any]] = []
    for key, value in figures.items():
        name = f"{prefix}{key}"
        if key == "monthly":
            rows += [(f"monthly.{r['month']}.{k}", v) for r in value for k, v in r.items() if k != "month"]
        elif isinstance(value, dict):
            rows += flat(value, f"{name}.")
        else:
            rows.append((name, value))
    return rows


def as_csv(figures: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["figure", "value"])
    for name, value in flat(figures):
        writer.writerow([name, "" if value is None else value])
    return out.getvalue()


def as_html(app, figures: dict[str, Any], behind: dict[str, list[str]], now: datetime) -> str:
    outcomes = app.policy.outcomes
    context = {
        "landlord": app.settings.landlord, "figures": figures, "outcome_labels": outcomes, "generated": now,
        "target": ON_TIME_TARGET, "topic_labels": TOPIC_LABELS, "evidence": self_assessment(figures, behind, load_policy(CODE_BASELINE)),
        "chart_volumes": Markup(charts.monthly_volumes(figures["monthly"])),
        "chart_on_time": Markup(charts.on_time_rate(figures["monthly"], ON_TIME_TARGET)),
        "chart_outcomes": Markup(charts.outcome_mix({"Stage 1": figures["stage1"]["outcomes"], "Stage 2": figures["stage2"]["outcomes"]},
                                                   outcomes)),
    }
    return app.renderer.page("report/report.html.j2", context)


def as_pdf(html: str) -> bytes:
    """The same page on A4, with the report's own print stylesheet (not the letters')."""
    from mailcomplaints.drafting.pdf import PdfRenderer
    from mailcomplaints.resources import shipped_dir

    return PdfRenderer(shipped_dir("templates") / "report" / "report.css").render(html)
