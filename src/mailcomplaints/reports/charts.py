"""Charts as inline SVG, drawn here rather than by a script in the page, so
the same chart shows in a browser, in the PDF (WeasyPrint runs no scripts)
and in a mail client, and the page needs nothing from the network.

Only numbers and month names go into them."""

from __future__ import annotations

from html import escape

BLUE, TEAL, GREY, RED = "#1d70b8", "#28a197", "#b1b4b6", "#d4351c"
MONTHS = {f"{n:02d}": name for n, name in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}


def _frame(title: str, width: int, height: int, body: str) -> str:
    return (f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg" font-family="DejaVu Sans, sans-serif" '
            f'font-size="11"><title>{escape(title)}</title>{body}</svg>')


def _label(month: str) -> str:
    return MONTHS[month[5:7]]


def monthly_volumes(monthly: list[dict]) -> str:
    """Complaints received each month, stage 1 and stage 2 side by side."""
    width, height, left, bottom = 640, 220, 34, 30
    top = max([1] + [max(r["stage1"], r["stage2"]) for r in monthly])
    slot = (width - left - 10) / max(1, len(monthly))
    scale = (height - bottom - 20) / top
    parts = [f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#0b0c0c"/>',
             f'<text x="{left - 6}" y="{height - bottom - top * scale + 4}" text-anchor="end">{top}</text>',
             f'<text x="{left - 6}" y="{height - bottom + 4}" text-anchor="end">0</text>']
    for i, row in enumerate(monthly):
        x = left + i * slot + slot * 0.15
        bar = slot * 0.35
        for j, (key, colour) in enumerate((("stage1", BLUE), ("stage2", TEAL))):
            h = row[key] * scale
            parts.append(f'<rect class="bar {key}" x="{x + j * bar:.1f}" y="{height - bottom - h:.1f}" width="{bar:.1f}" '
                         f'height="{h:.1f}" fill="{colour}"><title>{row["month"]} {key}: {row[key]}</title></rect>')
        parts.append(f'<text x="{x + bar:.1f}" y="{height - bottom + 16}" text-anchor="middle">{_label(row["month"])}</text>')
    parts.append(f'<rect x="{width - 150}" y="4" width="10" height="10" fill="{BLUE}"/><text x="{width - 136}" y="13">Stage 1</text>'
                 f'<rect x="{width - 80}" y="4" width="10" height="10" fill="{TEAL}"/><text x="{width - 66}" y="13">Stage 2</text>')
    return _frame("Complaints received each month, by stage", width, height, "".join(parts))


def on_time_rate(monthly: list[dict], target: float) -> str:
    """The share of responses within the Code's timescales each month, against the target."""
    width, height, left, bottom = 640, 220, 40, 30
    slot = (width - left - 10) / max(1, len(monthly))
    scale = height - bottom - 20
    parts = [f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#0b0c0c"/>',
             f'<text x="{left - 6}" y="{height - bottom - scale + 4}" text-anchor="end">100%</text>',
             f'<text x="{left - 6}" y="{height - bottom + 4}" text-anchor="end">0%</text>']
    for i, row in enumerate(monthly):
        x = left + i * slot + slot * 0.2
        if row["responded"]:
            rate = row["within_timescale"] / row["responded"]
            h = rate * scale
            colour = BLUE if rate >= target else RED
            parts.append(f'<rect class="bar rate" x="{x:.1f}" y="{height - bottom - h:.1f}" width="{slot * 0.6:.1f}" height="{h:.1f}" '
                         f'fill="{colour}"><title>{row["month"]}: {row["within_timescale"]} of {row["responded"]} within the Code</title></rect>')
        else:
            parts.append(f'<text x="{x + slot * 0.3:.1f}" y="{height - bottom - 4}" text-anchor="middle" fill="{GREY}">–</text>')
        parts.append(f'<text x="{x + slot * 0.3:.1f}" y="{height - bottom + 16}" text-anchor="middle">{_label(row["month"])}</text>')
    y = height - bottom - target * scale
    parts.append(f'<line class="target" x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#0b0c0c" stroke-dasharray="4 3"/>'
                 f'<text x="{width - 12}" y="{y - 4:.1f}" text-anchor="end">target {target:.0%}</text>')
    return _frame("Responses within the Code's timescales each month, against the target", width, height, "".join(parts))


def outcome_mix(stages: dict[str, dict[str, int]], labels: dict[str, str]) -> str:
    """Each stage's outcomes as one bar of 100%."""
    width, row_height, left = 640, 34, 70
    colours = (BLUE, TEAL, "#f47738", "#912b88", GREY, RED)
    parts = []
    for i, (stage, counts) in enumerate(stages.items()):
        y = 10 + i * row_height
        total = sum(counts.values())
        parts.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{escape(stage)}</text>')
        x = float(left)
        for j, (key, n) in enumerate(counts.items()):
            if not total or not n:
                continue
            w = (width - left - 10) * n / total
            parts.append(f'<rect class="bar outcome" x="{x:.1f}" y="{y}" width="{w:.1f}" height="22" fill="{colours[j % len(colours)]}">'
                         f'<title>{escape(labels.get(key, key))}: {n}</title></rect>')
            if w > 60:
                parts.append(f'<text x="{x + 4:.1f}" y="{y + 15}" fill="#fff">{escape(labels.get(key, key))} {n}</text>')
            x += w
        if not total:
            parts.append(f'<text x="{left}" y="{y + 15}" fill="{GREY}">no responses</text>')
    return _frame("Outcomes of responses, by stage", width, 20 + len(stages) * row_height, "".join(parts))
