"""Rendering drafts from the shipped (or the landlord's own) Jinja2 templates.

Sandboxed, StrictUndefined, autoescaped for HTML: resident text is only ever
data passed in, never template source (DESIGN.md, decision 10).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

from mailcomplaints.domain.calendar import local
from mailcomplaints.resources import shipped_dir

PLACEHOLDER = "[[OFFICER TO COMPLETE"


def longdate(value: date | datetime | None) -> str:
    """'Wednesday 25 November 2026' — how letters give dates."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = local(value).date()
    return f"{value:%A} {value.day} {value:%B %Y}"


class Renderer:
    def __init__(self, template_dir: Path | None = None):
        folders = [str(template_dir)] if template_dir else []
        folders.append(str(shipped_dir("templates")))
        self.env = SandboxedEnvironment(
            loader=FileSystemLoader(folders),
            undefined=StrictUndefined,
            autoescape=select_autoescape(["html", "html.j2"]),
            keep_trailing_newline=True,
        )
        self.env.filters["longdate"] = longdate

    def email_html(self, kind: str, context: dict[str, Any]) -> str:
        return self.env.get_template("email/_layout.html.j2").render(**context, kind=kind)

    def letter_html(self, kind: str, context: dict[str, Any]) -> str:
        return self.env.get_template("letters/_layout.html.j2").render(**context, kind=kind)

    def page(self, template: str, context: dict[str, Any]) -> str:
        """Any other HTML page from the templates (the performance report)."""
        return self.env.get_template(template).render(**context)

    def email_text(self, kind: str, context: dict[str, Any]) -> str:
        text = self.env.get_template(f"email/{kind}.txt.j2").render(**context)
        lines = "\n".join(line.rstrip() for line in text.strip().splitlines())
        return re.sub(r"\n{3,}", "\n\n", lines) + "\n"  # block tags leave blank runs; paragraphs keep one
