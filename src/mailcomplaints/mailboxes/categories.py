"""Outlook categories shared by the Exchange backends (Graph and EWS): which
ones we set, and how an approval category names its approver."""

from __future__ import annotations

import re

OURS = re.compile(r"^(ack|response) due |^(overdue|due today|not approved)$", re.I)  # replaced on each update


def split_approval(category: str) -> tuple[str, str]:
    """'Approved' -> ('Approved', ''); 'Approved-Priya Shah' or 'Approved: Priya Shah' -> ('Approved', 'Priya Shah')."""
    found = re.match(r"^\s*([^-_:]+?)\s*[-_:]\s*(.+?)\s*$", category)
    return (found.group(1), found.group(2).replace("_", " ")) if found else (category.strip(), "")


def relabelled(current: list[str], labels: list[str], drop_approval: str | None = None) -> list[str]:
    """The officer's own categories kept, ours replaced by `labels` (and an approval dropped, if named)."""
    kept = [c for c in current if not OURS.search(c)
            and not (drop_approval and split_approval(c)[0].lower() == drop_approval.lower())]
    return kept + labels
