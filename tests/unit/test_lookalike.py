"""Look-alike sender domains (domain/lookalike.py): each rule on its own,
true positives against our domain, the Housing Ombudsman's and a trusted
sender's, and no false positive on the domains residents really write from."""

from datetime import datetime, timezone

import pytest

from mailcomplaints.domain.classify import Context, classify
from mailcomplaints.domain.lookalike import (OMBUDSMAN_DOMAIN, imitated, name_of, one_edit_apart, protected_domains,
                                             skeleton)
from mailcomplaints.mail.message import parse_message

OURS = "complaints@reliance-housing.org.uk"
PROTECTED = protected_domains(OURS, ["repairs@heatcare.co.uk", "jane.doe@gmail.com"])
AT = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


def test_what_is_protected_our_domain_the_ombudsman_and_trusted_senders_but_never_a_mail_provider():
    assert PROTECTED == ("reliance-housing.org.uk", OMBUDSMAN_DOMAIN, "heatcare.co.uk")


@pytest.mark.parametrize("domain, imitates, rule, words", [
    # IDN / punycode homoglyphs and mixed scripts
    ("xn--ousing-ombudsman-bbp.org.uk", OMBUDSMAN_DOMAIN, "look_alike_letters", "shown as һousing-ombudsman.org.uk"),
    ("xn--housing-mbudsman-tkn.org.uk", OMBUDSMAN_DOMAIN, "look_alike_letters", "mixing Latin and Cyrillic"),
    ("housing-оmbudsman.org.uk", OMBUDSMAN_DOMAIN, "look_alike_letters", "look-alike characters"),  # Cyrillic о, as Unicode
    ("xn--rliance-housing-4nm.org.uk", "reliance-housing.org.uk", "look_alike_letters", "rеliance-housing"),
    ("xn--housing-ombudsmn-tmb.org.uk", OMBUDSMAN_DOMAIN, "look_alike_letters", "housing-ombudsmán"),
    # digits and letters that read alike
    ("housing-0mbudsman.org.uk", OMBUDSMAN_DOMAIN, "swapped_letters", "0 for o"),
    ("housing-ombudsrnan.org.uk", OMBUDSMAN_DOMAIN, "swapped_letters", "rn for m"),
    ("re1iance-housing.org.uk", "reliance-housing.org.uk", "swapped_letters", "1 for l"),
    ("reliance-h0using.com", "reliance-housing.org.uk", "swapped_letters", "0 for o"),
    # one edit away on the registrable name
    ("housing-ombudsmen.org.uk", OMBUDSMAN_DOMAIN, "one_edit", "one letter different"),
    ("housing-ombusdman.org.uk", OMBUDSMAN_DOMAIN, "one_edit", "one letter different"),
    ("reliance-housng.org.uk", "reliance-housing.org.uk", "one_edit", "one letter different"),
    ("heatcar.co.uk", "heatcare.co.uk", "one_edit", "one letter different"),
    # hyphens, other suffixes, the name carried inside another domain, the name with an official word
    ("housingombudsman.org.uk", OMBUDSMAN_DOMAIN, "hyphens", "hyphens changed"),
    ("reliance--housing.org.uk", "reliance-housing.org.uk", "hyphens", "hyphens changed"),
    ("housing-ombudsman.org", OMBUDSMAN_DOMAIN, "other_suffix", "under .org instead of .org.uk"),
    ("housing-ombudsman.co.uk", OMBUDSMAN_DOMAIN, "other_suffix", "under .co.uk instead of .org.uk"),
    ("reliance-housing.com", "reliance-housing.org.uk", "other_suffix", "under .com"),
    ("housing-ombudsman.org.uk.casework-portal.net", OMBUDSMAN_DOMAIN, "carried_inside", "inside another domain"),
    ("housing-ombudsman-org-uk.com", OMBUDSMAN_DOMAIN, "carried_inside", "inside another domain"),
    ("housing-ombudsman-uk.org", OMBUDSMAN_DOMAIN, "name_and_word", '"uk" added'),
    ("secure-reliance-housing.co.uk", "reliance-housing.org.uk", "name_and_word", '"secure" added'),
])
def test_a_domain_that_imitates_one_we_trust_is_recognised_naming_both(domain, imitates, rule, words):
    found = imitated(domain, PROTECTED)
    assert found is not None, domain
    assert (found.imitates, found.rule) == (imitates, rule)
    assert words in found.evidence and imitates in found.evidence and domain.split(".")[0][:6] in found.evidence


@pytest.mark.parametrize("domain", [
    # the protected domains themselves and hosts under them
    "reliance-housing.org.uk", "mail.reliance-housing.org.uk", "RELIANCE-HOUSING.ORG.UK.", OMBUDSMAN_DOMAIN,
    "casework.housing-ombudsman.org.uk", "heatcare.co.uk", "ｈousing-ombudsman.org.uk",  # full-width: DNS reads it as the real one
    # the mail providers residents write from, and their near neighbours that are real providers too
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "hotmail.co.uk", "live.co.uk", "yahoo.co.uk", "icloud.com",
    "me.com", "aol.com", "btinternet.com", "sky.com", "virginmedia.com", "ntlworld.com", "talktalk.net", "mail.com", "gmx.com",
    # councils, the NHS, MPs and other closed registries; other ombudsmen and advice bodies
    "manchester.gov.uk", "salford.gov.uk", "hackney.gov.uk", "nhs.net", "nhs.uk", "parliament.uk", "police.uk",
    "housing-ombudsman.gov.uk", "ombudsman.org.uk", "financial-ombudsman.org.uk", "lgo.org.uk", "ombudsman.wales",
    "spso.org.uk", "citizensadvice.org.uk", "shelter.org.uk",
    # other landlords and firms, near in name but not imitations
    "reliance-plumbing.co.uk", "heatcare-plumbing.com", "housing.org.uk", "reliance.co.uk", "relianceuk.com",
    "southway.co.uk", "clarionhg.com", "example.net", "example.com", "resident.example.net",
    # nothing to compare
    "", "localhost", "uk", "org.uk", "co.uk",
])
def test_ordinary_domains_are_never_taken_for_lookalikes(domain):
    assert imitated(domain, PROTECTED) is None


def test_the_rules_building_blocks():
    assert name_of("mail.reliance-housing.org.uk").registrable == "reliance-housing.org.uk"
    assert name_of("complaints.landlord.example.org").label == "landlord"  # example.org as a suffix: the tests' domains
    assert name_of("xn--ousing-ombudsman-bbp.org.uk").shown == "һousing-ombudsman.org.uk"
    assert skeleton("һоusing-0mbudsrnan") == skeleton("housing-ombudsman")
    assert one_edit_apart("ombudsman", "ombusdman") and one_edit_apart("ombudsman", "ombudsmn")
    assert one_edit_apart("ombudsman", "ombudsmann") and not one_edit_apart("ombudsman", "ombudsman")
    assert not one_edit_apart("ombudsman", "obmudsmna")


def mail(sender: str) -> bytes:
    return (f"From: {sender}\r\nTo: {OURS}\r\nSubject: Our ref 202612345 - your ref CMP-000001\r\n\r\n"
            "We have received a complaint from your resident. Please send us the evidence.\r\n").encode()


def test_the_classification_rule_raises_the_flag_with_both_domains_as_evidence():
    context = Context(ours=OURS, trusted=("repairs@heatcare.co.uk",))
    verdict = classify(parse_message(mail("Casework <casework@housing-0mbudsman.org.uk>"), AT), context)
    assert "lookalike_sender" in verdict.flags
    (signal,) = [s for s in verdict.signals if s.name == "lookalike_sender"]
    assert "housing-0mbudsman.org.uk" in signal.evidence and OMBUDSMAN_DOMAIN in signal.evidence
    genuine = classify(parse_message(mail("Casework <casework@housing-ombudsman.org.uk>"), AT), context)
    assert "lookalike_sender" not in genuine.flags
    resident = classify(parse_message(mail("Jane <jane.doe@gmail.com>"), AT), context)
    assert "lookalike_sender" not in resident.flags
    # a Unicode domain in the header is read in its IDNA form and still recognised
    idn = classify(parse_message("From: x@һousing-ombudsman.org.uk\r\nSubject: x\r\n\r\ny".encode(), AT), context)
    assert "lookalike_sender" in idn.flags


def test_mail_from_a_lookalike_of_our_own_domain_is_not_taken_for_our_own_mail():
    context = Context(ours=OURS)
    verdict = classify(parse_message(mail(f"Complaints <{OURS.replace('reliance', 're1iance')}>"), AT), context)
    assert not verdict.machine and "lookalike_sender" in verdict.flags
    ours = classify(parse_message(mail(f"Complaints <{OURS}>"), AT), context)
    assert ours.machine  # our own address is our own mail coming back
