"""How a landlord's policy departs from the Code 2024 baseline (`policy check`).

The product runs each policy as written and reports every difference; it
never silently "corrects" a policy.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailcomplaints.domain.policy import Policy, Rule

ORDER_OF_START = {"receipt": 0, "escalation_request": 0, "acknowledgement": 1, "response_sent": 2}


@dataclass(frozen=True)
class Finding:
    severity: str  # better | worse (for the resident, than the Code) | different | note
    stage: int | None
    what: str
    message: str
    ref: str

    def as_dict(self) -> dict:
        return {"severity": self.severity, "stage": self.stage, "what": self.what, "message": self.message, "ref": self.ref}


def _describe(rule: Rule) -> str:
    if rule.unlimited:
        return "not limited"
    unit = rule.unit.replace("_", " ") if rule.unit else ""
    start = f" from {rule.start.replace('_', ' ')}" if rule.start else ""
    return f"{rule.amount} {unit}{start}"


def _compare(mine: Rule, base: Rule) -> str:
    """better or worse for the resident than the Code, or different where the
    two cannot be ranked (other units). A shorter time limit is worse; a
    shorter landlord deadline, or one counted from an earlier event, is better."""
    if mine.unit != base.unit:
        return "different"
    if mine.what == "time_limit":
        return "worse" if mine.amount < base.amount else "better"
    earlier = ORDER_OF_START.get(mine.start or "", 0) - ORDER_OF_START.get(base.start or "", 0)
    if mine.amount <= base.amount and earlier <= 0:
        return "better"
    if mine.amount >= base.amount and earlier >= 0:
        return "worse"
    return "different"


def compare_with_code(policy: Policy, code: Policy) -> list[Finding]:
    findings: list[Finding] = []
    for mine in policy.rules:
        if mine.inherited:
            continue
        base = code.rule(mine.stage, mine.what)
        if base is None:
            findings.append(Finding("note", mine.stage, mine.what,
                                    f"stage {mine.stage} {mine.what.replace('_', ' ')}: {_describe(mine)} (the Code sets none)", mine.ref))
            continue
        if (mine.amount, mine.unit, mine.start) == (base.amount, base.unit, base.start):
            continue
        severity = _compare(mine, base)
        if mine.what == "time_limit":
            message = (f"complaints must be raised within {mine.amount} months; the Code accepts them for "
                       f"{base.amount} months (Code {base.ref})")
        else:
            message = (f"stage {mine.stage} {mine.what.replace('_', ' ')}: {_describe(mine)}; "
                       f"the Code says {_describe(base)} (Code {base.ref})")
        findings.append(Finding(severity, mine.stage, mine.what, message, mine.ref))
    for note in policy.notes:
        if note not in code.notes:
            findings.append(Finding("note", None, "note", note, policy.name))
    if policy.informal.get("exists"):
        findings.append(Finding("different", None, "informal",
                                "the policy has an informal first-contact step; the Code allows no stage before stage 1 (Code 5.2, 5.3) — emailed complaints start at stage 1 here",
                                str(policy.informal.get("ref", ""))))
    if policy.escalation.get("reasons_required"):
        findings.append(Finding("different", 2, "escalation",
                                "residents must give reasons to escalate; the Code says they need not (Code 6.12)",
                                str(policy.escalation.get("reasons_ref", ""))))
    return findings
