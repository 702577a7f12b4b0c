"""domain.retention: when personal data is due to go, and what stays of a
record once it has gone. Pure: times are passed in."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mailcomplaints.config import ConfigError, settings_from_table
from mailcomplaints.domain.retention import (
    REMOVED, HeldCase, RetentionRules, add_years, case_due, cases_due, hashed_id, is_hashed_id, mail_due, marker,
    mentions, neutral_address, person_hash, scrub_detail, scrub_signals,
)

CLOSED = datetime(2026, 11, 25, 14, 0, tzinfo=timezone.utc)
RULES = RetentionRules()


def test_the_defaults_keep_closed_cases_six_years_and_stray_mail_ninety_days():
    assert RULES.as_dict() == {"closed_case_years": 6, "quarantine_days": 90, "unlinked_mail_days": 90}


def test_a_closed_case_is_due_six_years_to_the_moment_after_it_closed():
    case = HeldCase("CMP-000001", "closed", CLOSED)
    assert not case_due(case, CLOSED + timedelta(days=365 * 6), RULES)  # leap days: not quite six years yet
    assert not case_due(case, datetime(2032, 11, 25, 13, 59, tzinfo=timezone.utc), RULES)
    assert case_due(case, datetime(2032, 11, 25, 14, 0, tzinfo=timezone.utc), RULES)
    assert case_due(case, datetime(2031, 11, 25, 14, 0, tzinfo=timezone.utc), RetentionRules(closed_case_years=5))


def test_open_cases_and_cases_already_anonymised_are_not_due():
    later = datetime(2040, 1, 1, tzinfo=timezone.utc)
    assert not case_due(HeldCase("CMP-000001", "investigating", None), later, RULES)
    assert not case_due(HeldCase("CMP-000001", "closed", None), later, RULES)  # no closing date: never guessed
    assert not case_due(HeldCase("CMP-000001", "closed", CLOSED, anonymised_at=CLOSED + timedelta(days=2200)), later, RULES)


def test_a_case_reopened_after_it_was_anonymised_counts_again_from_its_new_closing():
    anonymised = datetime(2032, 12, 1, tzinfo=timezone.utc)
    closed_again = datetime(2033, 3, 1, tzinfo=timezone.utc)
    case = HeldCase("CMP-000001", "closed", closed_again, anonymised_at=anonymised)
    assert not case_due(case, datetime(2039, 2, 28, tzinfo=timezone.utc), RULES)
    assert case_due(case, datetime(2039, 3, 1, tzinfo=timezone.utc), RULES)


def test_cases_due_picks_only_those_past_their_time():
    held = [HeldCase("CMP-000001", "closed", CLOSED), HeldCase("CMP-000002", "closed", datetime(2029, 1, 8, tzinfo=timezone.utc)),
            HeldCase("CMP-000003", "responded", None)]
    assert cases_due(held, datetime(2032, 12, 1, tzinfo=timezone.utc), RULES) == ["CMP-000001"]


def test_years_from_29_february_end_on_28_february():
    leap = datetime(2028, 2, 29, 12, 0, tzinfo=timezone.utc)
    assert add_years(leap, 6) == datetime(2034, 2, 28, 12, 0, tzinfo=timezone.utc)
    assert add_years(leap, 4) == datetime(2032, 2, 29, 12, 0, tzinfo=timezone.utc)


def test_stray_mail_is_due_after_its_days():
    received = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
    assert not mail_due(received, received + timedelta(days=89, hours=23), 90)
    assert mail_due(received, received + timedelta(days=90), 90)


def test_a_message_id_is_kept_as_its_hash_once_and_only_once():
    hashed = hashed_id("<abc.123@resident.example.net>")
    assert is_hashed_id(hashed) and "resident" not in hashed
    assert hashed == "<" + hashlib.sha256(b"<abc.123@resident.example.net>").hexdigest() + "@removed.invalid>"
    assert hashed_id(hashed) == hashed  # anonymising twice changes nothing
    assert hashed_id(" <abc.123@resident.example.net> ") == hashed


def test_the_person_hash_is_the_same_however_the_address_was_typed():
    expected = "sha256:" + hashlib.sha256(b"jane@example.net").hexdigest()
    assert person_hash("Jane@Example.NET") == person_hash(" <jane@example.net> ") == expected


def test_addresses_go_except_ours_and_the_ombudsmans_domain():
    assert neutral_address("jane@example.net") == ""
    assert neutral_address("") == ""
    assert neutral_address("complaints@landlord.org", keep_addresses=["Complaints@Landlord.org"]) == "complaints@landlord.org"
    assert neutral_address("a.caseworker@housing-ombudsman.org.uk", keep_domains=["housing-ombudsman.org.uk"]) \
        == "removed@housing-ombudsman.org.uk"


def test_text_becomes_a_marker_and_empty_text_stays_empty():
    assert marker("Jane Doe") == REMOVED and marker("") == "" and marker(None) == ""


def test_signals_keep_their_names_not_the_quoted_words():
    signals = [{"name": "vulnerability", "evidence": "my son has asthma"}, {"name": "thread:new_thread", "evidence": "x"}]
    assert scrub_signals(signals) == [{"name": "vulnerability", "evidence": ""}, {"name": "thread:new_thread", "evidence": ""}]


def test_event_details_keep_facts_and_hash_the_message_ids_taken_out():
    ids = {"<m1@example.net>": hashed_id("<m1@example.net>")}
    detail = {"flag": "late_escalation", "summary": "Jane rang about the mould", "pdf": "/letters/x.pdf",
              "message_id": "<m1@example.net>", "outcome": "upheld"}
    assert scrub_detail(detail, ids) == {"flag": "late_escalation", "message_id": ids["<m1@example.net>"], "outcome": "upheld"}
    assert scrub_detail({"message_id": "<ours@mailcomplaints.landlord.org>"}, ids) == {"message_id": "<ours@mailcomplaints.landlord.org>"}


def test_mentions_finds_an_address_in_text_or_raw_bytes_whatever_its_case():
    assert mentions(b"From: JANE@Example.net\r\n", "jane@example.net")
    assert mentions("write to jane@example.net please", "Jane@Example.NET")
    assert not mentions(b"From: john@example.net", "jane@example.net")


# --- the [retention] config section ---------------------------------------------------

BASE = {"landlord": {"name": "Reliance Housing", "policy": "reliance"},
        "mailbox": {"backend": "maildir", "address": "complaints@example.org"}}


def test_retention_defaults_when_the_section_is_absent_and_can_be_set():
    assert settings_from_table(dict(BASE), "test.toml", Path(".")).retention == RetentionRules()
    rules = settings_from_table({**BASE, "retention": {"closed_case_years": 7, "quarantine_days": 30}}, "test.toml", Path(".")).retention
    assert rules == RetentionRules(closed_case_years=7, quarantine_days=30, unlinked_mail_days=90)


@pytest.mark.parametrize("section, named", [
    ({"closed_case_years": 0}, "closed_case_years"),  # keeping for ever, or not at all, is not a setting
    ({"quarantine_days": -5}, "quarantine_days"),
    ({"closed_case_years": "six"}, "closed_case_years"),
    ({"message_bodies_years": 6}, "message_bodies_years"),  # a misspelt key is not silently ignored
])
def test_bad_retention_settings_are_refused_naming_the_key(section, named):
    with pytest.raises(ConfigError, match=named):
        settings_from_table({**BASE, "retention": section}, "test.toml", Path("."))
