"""Self-assessment evidence: for each section of the Complaint Handling Code
that the case record can show, a line with the figure and example cases, for
the landlord's annual self-assessment against the Code."""

from __future__ import annotations

from typing import Any


def _examples(behind: dict[str, list[str]], name: str, n: int = 3) -> list[str]:
    return behind.get(name, [])[:n]


def _share(part: int, whole: int) -> str:
    return f"{part} of {whole} ({part / whole:.0%})" if whole else "none in the period"


def self_assessment(figures: dict[str, Any], behind: dict[str, list[str]], code) -> list[dict[str, Any]]:
    """`code` is the Code 2024 baseline policy, whose rules carry the Code's section numbers."""
    lines = []
    for stage in (1, 2):
        ack_ref, respond_ref, extend_ref = (code.rule(stage, what).ref for what in ("acknowledge", "respond", "extension"))
        f = figures[f"stage{stage}"]
        lines += [
            {"section": ack_ref, "what": f"Stage {stage} complaints acknowledged within five working days",
             "figure": _share(f["acknowledged"] - f["acknowledged_late"], f["acknowledged"]),
             "examples": _examples(behind, f"stage{stage}.acknowledged_late"), "examples_are": "late"},
            {"section": respond_ref, "what": f"Stage {stage} responses within the Code's timescales (CH02)",
             "figure": _share(f["responded_within_timescale"], f["responded"]),
             "examples": _examples(behind, f"stage{stage}.responded_late"), "examples_are": "late"},
            {"section": extend_ref, "what": f"Stage {stage} extensions within the Code's limit",
             "figure": _share(f["extended"] - f["extended_beyond_code"], f["extended"]),
             "examples": _examples(behind, f"stage{stage}.extended_beyond_code"), "examples_are": "beyond the limit"},
        ]
    details = figures.get("ombudsman_details")
    if details is not None:
        lines.append({"section": "5.11, 6.5, 6.16", "what": "Letters that must give the Ombudsman's details (responses, extensions, "
                      "refusals) sent with the compliance check passed", "figure": _share(details["sent"] - details["overridden"], details["sent"]),
                      "examples": _examples(behind, "ombudsman_details.overridden"), "examples_are": "check overridden"})
    for kind in ("late", "premature"):
        e = figures[f"{kind}_escalations"]
        lines.append({"section": "2.4, 5.11", "what": f"{kind.title()} escalation requests and how they were decided",
                      "figure": f"{e['requested']} requested, {e['accepted']} accepted, {e['declined']} declined",
                      "examples": _examples(behind, f"{kind}_escalations.declined"), "examples_are": "declined"})
    return lines
