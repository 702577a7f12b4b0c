"""The shipped landlord policies against the timescales table in
/work/shared/seeds/README.md, and the loader's errors for malformed policies."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailcomplaints.domain.policy import PolicyError
from mailcomplaints.policies import load_policy, redress_bodies

LANDLORDS = ("reliance", "housing-solutions", "connect", "southway", "alliance-homes")

WD, CD, WEEKS, MONTHS = "working_days", "calendar_days", "weeks", "months"
RECEIPT, ACK, ESC, SENT = "receipt", "acknowledgement", "escalation_request", "response_sent"
OWN, INHERITED = False, True

# (stage, what) -> (amount, unit, from, inherited), one row per cell of the
# README's "Timescales at a glance" table. "Not stated" and "—" cells are the
# Code's rule, inherited. Extensions have no start event.
EXPECTED: dict[str, dict[tuple[int, str], tuple]] = {
    "reliance": {
        (1, "acknowledge"): (2, WD, RECEIPT, OWN),
        (1, "respond"): (10, WD, RECEIPT, OWN),
        (1, "extension"): (10, WD, None, OWN),
        (1, "escalation_window"): (10, CD, SENT, OWN),
        (1, "time_limit"): (6, MONTHS, RECEIPT, OWN),
        (2, "acknowledge"): (5, WD, ESC, INHERITED),
        (2, "respond"): (20, WD, ESC, OWN),
        (2, "extension"): (10, WD, None, OWN),
    },
    "housing-solutions": {
        (1, "acknowledge"): (5, WD, RECEIPT, OWN),
        (1, "respond"): (10, WD, ACK, OWN),
        (1, "extension"): (10, WD, None, OWN),
        (1, "escalation_window"): (21, CD, SENT, OWN),
        (1, "time_limit"): (12, MONTHS, RECEIPT, OWN),
        (2, "acknowledge"): (5, WD, ESC, OWN),
        (2, "respond"): (20, WD, ACK, OWN),
        (2, "extension"): (20, WD, None, OWN),
    },
    "connect": {
        (1, "acknowledge"): (2, WD, RECEIPT, OWN),
        (1, "respond"): (10, WD, RECEIPT, OWN),
        (1, "extension"): (10, WD, None, INHERITED),
        (1, "escalation_window"): (3, WEEKS, SENT, OWN),
        (1, "time_limit"): (12, MONTHS, RECEIPT, INHERITED),
        (2, "acknowledge"): (2, WD, ESC, OWN),
        (2, "respond"): (10, WD, ESC, OWN),
        (2, "extension"): (20, WD, None, INHERITED),
    },
    "southway": {
        (1, "acknowledge"): (2, WD, RECEIPT, OWN),
        (1, "respond"): (10, WD, RECEIPT, OWN),
        (1, "extension"): (10, WD, None, INHERITED),
        (1, "escalation_window"): (None, None, None, OWN),  # "not limited"
        (1, "time_limit"): (12, MONTHS, RECEIPT, INHERITED),
        (2, "acknowledge"): (2, WD, ESC, OWN),
        (2, "respond"): (15, WD, ESC, OWN),
        (2, "extension"): (20, WD, None, INHERITED),
    },
    "alliance-homes": {
        (1, "acknowledge"): (5, WD, RECEIPT, OWN),
        (1, "respond"): (10, WD, RECEIPT, OWN),  # "10-day investigation period"
        (1, "extension"): (10, WD, None, INHERITED),  # "agreed with customer": no limit stated
        (1, "escalation_window"): (10, WD, SENT, OWN),
        (1, "time_limit"): (6, MONTHS, RECEIPT, OWN),
        (2, "acknowledge"): (5, WD, ESC, OWN),
        (2, "respond"): (20, WD, ACK, INHERITED),
        (2, "extension"): (20, WD, None, INHERITED),
    },
}

CASES = [(name, key, want) for name, rows in EXPECTED.items() for key, want in rows.items()]


@pytest.mark.parametrize(
    "name, key, want", CASES, ids=[f"{n}-stage{k[0]}-{k[1]}" for n, k, _ in CASES]
)
def test_rule_matches_the_readme_table(name, key, want):
    rule = load_policy(name).rule(*key)
    assert rule is not None, f"{name} has no stage {key[0]} {key[1]} rule"
    assert (rule.amount, rule.unit, rule.start, rule.inherited) == want


@pytest.mark.parametrize("name", LANDLORDS)
def test_no_rules_beyond_the_table_and_every_rule_has_a_ref(name):
    policy = load_policy(name)
    assert {(r.stage, r.what) for r in policy.rules} == set(EXPECTED[name])
    for rule in policy.rules:
        assert rule.ref.strip(), f"{name} stage {rule.stage} {rule.what} has no ref"


@pytest.mark.parametrize("name", LANDLORDS)
def test_two_stages_each_with_a_ref_and_extends_the_code(name):
    policy = load_policy(name)
    assert policy.extends == "housing-ombudsman-code-2024"
    assert [s.number for s in policy.stages] == [1, 2]
    assert all(s.ref.strip() for s in policy.stages)
    assert policy.nation == "england"


def test_southway_escalation_window_is_unlimited():
    rule = load_policy("southway").rule(1, "escalation_window")
    assert rule.unlimited and rule.ref == "6.10" and rule.note


def test_connect_escalation_window_is_three_weeks():
    # "3 weeks of the date of the stage 1 response letter" (1.8)
    rule = load_policy("connect").rule(1, "escalation_window")
    assert (rule.amount, rule.unit, rule.ref) == (3, "weeks", "1.8")


# ---- outcomes ---------------------------------------------------------------

BASELINE_OUTCOMES = load_policy("housing-ombudsman-code-2024").outcomes


@pytest.mark.parametrize("name", ["reliance", "connect", "alliance-homes"])
def test_landlords_stating_no_outcomes_inherit_the_baselines(name):
    assert load_policy(name).outcomes == BASELINE_OUTCOMES


def test_southway_outcomes_and_part_upheld_normalises():
    policy = load_policy("southway")
    assert policy.outcomes_ref == "6.14"
    assert {k: policy.outcomes[k] for k in ("upheld", "partly_upheld", "not_upheld")} == {
        "upheld": "Upheld", "partly_upheld": "Part Upheld", "not_upheld": "Not Upheld",
    }
    assert policy.normalise_outcome("Part upheld") == "partly_upheld"
    assert policy.normalise_outcome("part-upheld") == "partly_upheld"
    assert policy.normalise_outcome("Not Upheld") == "not_upheld"
    assert policy.normalise_outcome("Upheld") == "upheld"


def test_housing_solutions_upheld_and_not_upheld_normalise():
    policy = load_policy("housing-solutions")
    assert policy.outcomes_ref == "9.1"
    assert policy.normalise_outcome("Upheld") == "upheld"
    assert policy.normalise_outcome("Not upheld") == "not_upheld"


def test_housing_solutions_has_no_partly_upheld():
    # "Where any part of a complaint is 'Upheld' the complaint as a whole is ... 'Upheld'" (9.1)
    policy = load_policy("housing-solutions")
    assert "partly_upheld" not in policy.outcomes
    assert policy.normalise_outcome("Partly upheld") is None


# ---- complainants and escalation -------------------------------------------


def test_connect_complainants():
    c = load_policy("connect").complainants
    assert (c["anonymous"]["accepted"], c["anonymous"]["ref"]) == (False, "1.10")
    assert (c["elected_representative"]["treated_as"], c["elected_representative"]["ref"]) == ("not_a_complaint", "1.17")
    assert (c["group"]["reply_to"], c["group"]["ref"]) == ("every_named_member", "1.11")


def test_southway_complainants_and_reasons_to_escalate():
    policy = load_policy("southway")
    c = policy.complainants
    assert (c["anonymous"]["accepted"], c["anonymous"]["ref"]) == (True, "5.6")
    assert c["elected_representative"]["treated_as"] == "complaint"
    assert c["elected_representative"]["reply_to"] == "enquirer_and_resident"
    assert c["elected_representative"]["ref"] == "5.3"
    assert (policy.escalation["reasons_required"], policy.escalation["reasons_ref"]) == (True, "6.10")


def test_alliance_petition_replies_to_nominated_signatory():
    group = load_policy("alliance-homes").complainants["group"]
    assert group["reply_to"] == "nominated_signatory" and "2.1.6" in group["ref"]


def test_housing_solutions_escalation_refusal():
    esc = load_policy("housing-solutions").escalation
    assert esc["refusal_ref"] == "6.3" and "not unreasonably refuse" in esc["refusal"]
    assert esc["refusal_examples_ref"] == "6.3.1"
    assert len(esc["refusal_examples"]) == 4
    assert any("21-day" in example for example in esc["refusal_examples"])


@pytest.mark.parametrize("name", ["reliance", "connect", "southway", "alliance-homes", "housing-solutions"])
def test_informal_step_is_recorded_not_a_stage(name):
    policy = load_policy(name)
    assert policy.informal["exists"] is True and policy.informal["ref"]
    assert policy.final_stage() == 2


@pytest.mark.parametrize("name", LANDLORDS)
def test_exclusions_have_name_description_and_ref(name):
    for exclusion in load_policy(name).exclusions:
        assert exclusion["name"] and exclusion["description"] and exclusion["ref"]


@pytest.mark.parametrize(
    "name, words",
    [
        ("housing-solutions", "three stage"),
        ("connect", "8 weeks"),
        ("southway", "8 weeks"),
        ("connect", "Building Safety Act"),
        ("southway", "Building Safety Act"),
    ],
)
def test_discrepancies_are_noted(name, words):
    assert any(words in note for note in load_policy(name).notes)


# ---- redress ----------------------------------------------------------------


@pytest.mark.parametrize("name", LANDLORDS)
def test_redress_bodies_exist_and_hold_no_out_of_date_address(name):
    bodies = redress_bodies()
    policy = load_policy(name)
    assert any(r.body == "housing-ombudsman" and r.scope == "all" for r in policy.redress)
    for item in policy.redress:
        assert item.body in bodies and item.ref.strip()
        # The contact details letters are built from. The `note` field names the
        # old Liverpool address precisely to say it is out of date.
        details = {k: v for k, v in bodies[item.body].items() if k != "note"}
        for value in details.values():
            assert "PO Box 152" not in str(value) and "Liverpool" not in str(value)


def test_housing_ombudsman_contact_details():
    ombudsman = redress_bodies()["housing-ombudsman"]
    assert ombudsman["telephone"] == "0300 111 3000"
    assert "PO Box 1484, Unit D, Preston PR2 0ET" in ombudsman["post"]
    assert ombudsman["email"] == ""  # not taken by email since 13 January 2026


@pytest.mark.parametrize(
    "name, body, scope, ref",
    [
        ("housing-solutions", "first-tier-tribunal-property", "leaseholders", "8.6"),
        ("southway", "financial-ombudsman", "debt_advice", "7.7"),
    ],
)
def test_scoped_redress(name, body, scope, ref):
    assert any((r.body, r.scope, r.ref) == (body, scope, ref) for r in load_policy(name).redress)


# ---- malformed policies -----------------------------------------------------

HEAD = 'name = "broken"\nlandlord = "Broken"\nextends = "housing-ombudsman-code-2024"\n'


def rule(stage=2, what="respond", days="3", unit='"working_days"', start='"receipt"') -> str:
    return (
        f"\n[[rules]]\nstage = {stage}\nwhat = \"{what}\"\ndays = {days}\n"
        f"unit = {unit}\nfrom = {start}\nref = \"1.1\"\n"
    )


# case id -> (file text, fragment the message must hold, naming the key at fault)
MALFORMED = {
    "bad-toml-syntax": (HEAD + '\n[[rules]]\nstage = 1\nwhat = "acknowledge"\ndays = \n', "line 8"),
    "unknown-what": (HEAD + rule(stage=1, what="reply"), ".what' is 'reply'"),
    "negative-days": (HEAD + rule(days="-3"), ".days' must be more than zero"),
    "unknown-from": (HEAD + rule(start='"sent"'), ".from' is 'sent'"),
    "unknown-unit": (HEAD + rule(unit='"fortnights"'), ".unit' is 'fortnights'"),
    "unknown-redress-body": (HEAD + '\n[[redress]]\nbody = "local-council"\nfor = "all"\nref = "9"\n', "'redress[0].body' is 'local-council'"),
    "stage-3-table": (HEAD + '\n[stages.3]\nname = "Stage 3"\nref = "7"\n', "'stages.3'"),
    "stage-3-rule": (HEAD + rule(stage=3), ".stage' is 3"),
}


def _assert_one_line_naming(err: PolicyError, filename: str, fragment: str) -> None:
    message = str(err)
    assert "\n" not in message
    assert filename in message, message
    assert fragment in message, message


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_policy_names_file_and_key(tmp_path: Path, case: str):
    text, fragment = MALFORMED[case]
    path = tmp_path / f"{case}.toml"
    path.write_text(text)
    with pytest.raises(PolicyError) as err:
        load_policy(str(path))
    _assert_one_line_naming(err.value, path.name, fragment)


@pytest.mark.parametrize(
    "case", ["unknown-what", "negative-days", "unknown-from", "unknown-unit", "stage-3-rule"]
)
def test_malformed_rule_is_indexed_as_in_the_file(tmp_path: Path, case: str):
    text, _ = MALFORMED[case]
    path = tmp_path / f"{case}.toml"
    path.write_text(text)
    with pytest.raises(PolicyError) as err:
        load_policy(str(path))
    assert "'rules[0]." in str(err.value), str(err.value)


def test_extends_loop(tmp_path: Path):
    (tmp_path / "a.toml").write_text(HEAD.replace("housing-ombudsman-code-2024", "b.toml"))
    (tmp_path / "b.toml").write_text(HEAD.replace("housing-ombudsman-code-2024", "a.toml"))
    with pytest.raises(PolicyError) as err:
        load_policy(str(tmp_path / "a.toml"))
    _assert_one_line_naming(err.value, "a.toml", "'extends' makes a loop")


def test_extends_itself(tmp_path: Path):
    path = tmp_path / "self.toml"
    path.write_text(HEAD.replace("housing-ombudsman-code-2024", "self.toml"))
    with pytest.raises(PolicyError) as err:
        load_policy(str(path))
    _assert_one_line_naming(err.value, "self.toml", "'extends' makes a loop")


@pytest.mark.parametrize("missing", ["no-such-policy", "no-such-policy.toml"])
def test_extends_a_missing_policy(tmp_path: Path, missing: str):
    path = tmp_path / "orphan.toml"
    path.write_text(HEAD.replace("housing-ombudsman-code-2024", missing))
    with pytest.raises(PolicyError) as err:
        load_policy(str(path))
    _assert_one_line_naming(err.value, "orphan.toml", "'extends'")
