"""`report` on the command line: the CONTRACT's keys, the cases behind a
figure, and a figure that does not exist answered in one line."""

from __future__ import annotations

from datetime import datetime, timezone

from conftest import assert_bad_input, make_email

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def test_report_json_has_the_contract_keys_and_every_figure_traces_to_cases(landlord):
    landlord.config.write_text(landlord.config.read_text().replace('policy = "reliance"', 'policy = "reliance"\nhomes = 2400'))
    landlord.deliver(make_email("Jane Doe <jane@example.net>", "Damp", "I want to make a complaint about the damp in my flat."),
                     datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc))
    (reference,) = landlord.json("ingest", now=NOW)["new_cases"]
    figures = landlord.json("report", "--from", "2026-11-01", "--to", "2026-11-30")
    for stage in ("stage1", "stage2"):
        assert {"received", "responded", "responded_within_timescale", "ch01_per_1000_homes", "ch02_within_timescale"} <= set(figures[stage])
    assert figures["stage1"]["received"] == 1 and figures["stage1"]["ch01_per_1000_homes"] == 0.42  # 1 / 2,400 x 1,000
    assert figures["stage1"]["ch02_within_timescale"] is None  # nothing answered yet
    assert landlord.json("case", reference)["topics"] == ["damp_mould"] and figures["by_category"]["damp_mould"] == 1
    assert figures["ombudsman_referrals"] == 0
    landlord.deliver(make_email("Casework Team <casework@housing-ombudsman.org.uk>", f"Our ref 202612345 - your ref {reference}",
                                f"We have received a complaint from your resident about case {reference}. Please send us the evidence."),
                     datetime(2026, 11, 23, 11, 0, tzinfo=timezone.utc))
    landlord.json("ingest", now=NOW)
    assert landlord.json("report", "--from", "2026-11-01", "--to", "2026-11-30", "--cases", "ombudsman_referrals") == [reference]
    assert landlord.json("report", "--from", "2026-11-01", "--to", "2026-11-30", "--cases", "stage1.received") == [reference]
    assert landlord.json("report", "--cases", "stage1.received") == []  # the default: April 2025 to March 2026
    assert_bad_input(landlord.run("report", "--cases", "stage1.nonsense"), "stage1.nonsense", "figures are")
