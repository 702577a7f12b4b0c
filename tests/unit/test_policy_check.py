"""`policy check`: every deviation /work/shared/seeds/README.md lists for the
five landlords is found, with the right class (stricter | breach | open) and
both section references; and docs/policy-check.md is the check's current output."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailcomplaints.domain.compliance import (
    CLASSES, DOC_PATH, LANDLORDS, REGENERATE, Finding, compare_with_code, policy_check_markdown,
)
from mailcomplaints.policies import BASELINE, load_policy

ROOT = Path(__file__).resolve().parents[2]
CODE = load_policy(BASELINE)

S, B, O = "stricter", "breach", "open"

# landlord -> one row per deviation in the seeds README:
# (stage, what, class, Code section, the landlord's section or heading, why).
# A policy silent on a Code timescale is cited as "silent (its stage N: <the stage's section>)".
DEVIATIONS: dict[str, list[tuple]] = {
    "reliance": [
        (1, "acknowledge", S, "6.2", "Stage 1 - Investigation", "2 WD, not the Code's 5"),
        (1, "respond", S, "6.3", "Stage 1 - Investigation", "10 WD from receipt, not from acknowledgement"),
        (1, "escalation_window", O, "2.1, 2.2", "Stage 2 - Review", "10 days of receipt of the outcome"),
        (1, "time_limit", B, "2.3", "What is not a complaint - Exclusions", "6 months, under the Code's 12"),
        (2, "acknowledge", B, "6.11", "silent (its stage 2: Stage 2 - Review)", "no stage 2 acknowledgement period"),
        (2, "respond", S, "6.14", "Stage 2 - Review", "20 WD of the request, not of the acknowledgement"),
        (2, "extension", S, "6.15, 6.16", "Stage 2 - Review", "at most 10 WD more, not 20"),
        (None, "informal", B, "5.2, 5.3", "Making a Complaint", "first-point-of-contact resolution before stage 1"),
    ],
    "housing-solutions": [
        (1, "escalation_window", O, "2.1, 2.2", "6.2", "21 days of being advised of the outcome"),
        (2, "escalation_refusal", O, "2.2, 2.4, 5.11", "6.3, 6.3.1", "will not unreasonably refuse; examples incl. after 21 days"),
        (None, "informal", O, "1.4", "3.2, 4.2.8", "the service request route"),
        (None, "stages", B, "5.2, 5.3", "6", "'an internal three stage process' describing two"),
        (None, "ombudsman_details", B, "5.11, 6.5, 6.16", "8.5", "dated Ombudsman contact details"),
        (None, "outcomes", O, "silent", "9.1", "upheld / not upheld; no partly upheld"),
        (None, "redress.first-tier-tribunal-property", O, "silent", "8.6", "leaseholders -> First-tier Tribunal"),
    ],
    "connect": [
        (1, "acknowledge", S, "6.2", "1.6", "2 WD at all stages"),
        (1, "respond", S, "6.3", "1.6", "10 WD, counted from receipt"),
        (1, "escalation_window", O, "2.1, 2.2", "1.8", "3 weeks of the stage 1 response letter"),
        (2, "acknowledge", S, "6.11", "1.6", "2 WD at all stages"),
        (2, "respond", S, "6.14", "1.6", "10 WD counted from receipt, not the Code's 20 from acknowledgement"),
        (None, "informal", B, "5.2, 5.3", "1.7.1, 2.2", "informal stage via line manager"),
        (None, "ombudsman_route", B, "5.11, 6.5, 6.16; Building Safety Act 2022", "1.9", "eight weeks or a designated person"),
        (None, "complainants.anonymous", O, "1.2", "1.10", "anonymous complaints not handled"),
        (None, "complainants.elected_representative", O, "silent", "1.17", "MP / councillor enquiries not complaints"),
        (None, "exclusion.insurance_claim", O, "2.2", "1.16", "insurance claim -> not a complaint"),
    ],
    "southway": [
        (1, "acknowledge", S, "6.2", "6.7", "2 WD, names the officer"),
        (1, "respond", S, "6.3", "6.9", "10 WD from receipt"),
        (1, "escalation_window", O, "silent", "6.10", "not limited"),
        (2, "acknowledge", S, "6.11", "6.13", "2 WD"),
        (2, "respond", S, "6.14", "6.13", "15 WD of receipt"),
        (2, "escalation_reasons", B, "6.12", "6.10", "reasons required to escalate"),
        (None, "informal", B, "5.2, 5.3", "4.4, 6.2-6.4", "informal stage, target 1 WD / 24 h"),
        (None, "ombudsman_route", B, "5.11, 6.5, 6.16; Building Safety Act 2022", "6.16, 6.17", "eight weeks or a designated person"),
        (None, "redress.financial-ombudsman", O, "silent", "7.7", "debt advice -> Financial Ombudsman Service"),
    ],
    "alliance-homes": [
        (1, "respond", S, "6.3", "2.5.2", "10-day investigation period from receipt"),
        (1, "extension", B, "6.4, 6.5", "2.5.2", "a timeframe agreed with the customer, no limit stated"),
        (1, "escalation_window", O, "2.1, 2.2", "2.5.3", "10 WD, start not stated"),
        (1, "time_limit", B, "2.3", "2.1.1", "6 months, under the Code's 12"),
        (2, "respond", B, "6.14", "silent (its stage 2: 2.4; Appendix A, question 4)", "no stage 2 response time"),
        (None, "informal", O, "1.4", "2.1.4", "initial queries resolved before a complaint is recorded"),
        (None, "complainants.group", O, "1.2", "2.1.6, 2.2.1", "petition = one complaint, reply to the nominated signatory"),
    ],
}

ROWS = [(name, *row) for name, rows in DEVIATIONS.items() for row in rows]


def check(name: str) -> list[Finding]:
    return compare_with_code(load_policy(name), CODE)


def found(name: str, stage: int | None, what: str) -> Finding:
    matches = [f for f in check(name) if (f.stage, f.what) == (stage, what)]
    assert len(matches) == 1, f"{name}: expected one stage {stage} {what} finding, got {[f.line() for f in check(name)]}"
    return matches[0]


@pytest.mark.parametrize("name, stage, what, cls, code_ref, policy_ref, why", ROWS,
                         ids=[f"{r[0]}-{r[2]}-{r[1]}" for r in ROWS])
def test_every_seed_deviation_is_found_with_its_class_and_both_references(name, stage, what, cls, code_ref, policy_ref, why):
    finding = found(name, stage, what)
    assert (finding.severity, finding.code_ref, finding.policy_ref) == (cls, code_ref, policy_ref), (why, finding.line())
    assert finding.classification == finding.severity and finding.ref == finding.policy_ref


# ---- what the findings say ---------------------------------------------------------


def test_stage_2_counted_from_receipt_is_stricter_and_says_so():
    for name in ("connect", "southway", "reliance"):
        assert "counted from receipt rather than the acknowledgement" in found(name, 2, "respond").summary
    assert "15 working days of the escalation request" in found("southway", 2, "respond").summary
    assert "10 working days of the escalation request" in found("connect", 2, "respond").summary


def test_time_limits_under_twelve_months_name_both_limits():
    reliance = found("reliance", 1, "time_limit").summary
    assert "6 months" in reliance and "12 months" in reliance and "safeguarding" in reliance
    assert "6 months" in found("alliance-homes", 1, "time_limit").summary


def test_escalation_windows_may_not_be_enforced_rigidly():
    for name in ("reliance", "housing-solutions", "connect", "alliance-homes"):
        assert "not enforced rigidly" in found(name, 1, "escalation_window").summary
    assert "21-day period" in found("housing-solutions", 2, "escalation_refusal").summary


def test_the_pre_2023_ombudsman_rule_is_reported_not_copied():
    for name in ("connect", "southway"):
        summary = found(name, None, "ombudsman_route").summary
        assert "8 weeks" in summary and "designated person" in summary and "Building Safety Act 2022" in summary


def test_missing_periods_say_the_code_applies():
    assert "5 working days of the escalation request" in found("reliance", 2, "acknowledge").summary
    assert "inherited" in found("alliance-homes", 2, "respond").summary


def test_southway_informal_step_needs_reasons_and_evidence():
    assert "reasons and evidence" in found("southway", None, "informal").summary


def test_the_message_carries_the_code_reference_for_the_cli():
    finding = found("reliance", 1, "time_limit")
    assert finding.message == f"{finding.summary} (Code 2.3)"
    data = finding.as_dict()
    assert {"severity", "stage", "what", "message", "ref", "classification", "code_ref", "policy_ref"} <= data.keys()


# ---- what is not a deviation ------------------------------------------------------


@pytest.mark.parametrize("key", [(1, "acknowledge"), (1, "respond"), (1, "extension"), (1, "time_limit"),
                                 (2, "acknowledge"), (2, "respond"), (2, "extension")])
def test_housing_solutions_timescales_match_the_code(key):
    assert not [f for f in check("housing-solutions") if (f.stage, f.what) == key]


def test_same_as_the_code_is_not_reported():
    assert not [f for f in check("reliance") if (f.stage, f.what) == (1, "extension")]
    whats = {f.what for f in check("southway")}
    assert "complainants.anonymous" not in whats and "complainants.elected_representative" not in whats
    assert not [f for f in check("alliance-homes") if (f.stage, f.what) in ((1, "acknowledge"), (2, "acknowledge"))]


def test_the_code_against_itself_has_no_findings():
    assert compare_with_code(CODE, CODE) == []


@pytest.mark.parametrize("name", LANDLORDS)
def test_every_finding_has_one_class_and_both_references(name):
    findings = check(name)
    assert findings
    for finding in findings:
        assert finding.severity in CLASSES
        assert finding.code_ref.strip() and finding.policy_ref.strip(), finding.line()
    assert len({(f.stage, f.what) for f in findings}) == len(findings)


# ---- docs/policy-check.md ------------------------------------------------------------


def test_docs_policy_check_is_current():
    path = ROOT / DOC_PATH
    want = policy_check_markdown()
    have = path.read_text(encoding="utf-8") if path.is_file() else ""
    assert have == want, f"{DOC_PATH} is out of date; regenerate it from the repository root with:\n  {REGENERATE}"


def test_docs_policy_check_has_a_heading_per_landlord_and_a_line_per_finding():
    text = policy_check_markdown()
    for name in LANDLORDS:
        policy = load_policy(name)
        assert f"## {policy.landlord} (`{name}`)" in text
        for finding in check(name):
            assert f"- **{finding.severity}** — " in text and f"(Code {finding.code_ref} | policy {finding.policy_ref})" in text
