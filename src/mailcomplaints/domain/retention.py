"""Data protection (UK GDPR): what personal data is due to go, and what a
case keeps once it has gone.

Pure: no I/O, no clock; `now` is passed in. The store applies these
decisions (service/privacy.py).

A case's facts — its dates, stages, deadlines, the kinds and times of its
events, topics, flags and outcome — are not about anyone once the people
are taken out, and the performance report for past years is built from
them, so they are kept. The words and addresses of the people in it (their
messages, the letters to them, names, subjects, quoted evidence) are kept
only while needed: `closed_case_years` after the case closed (Article
5(1)(e), storage limitation), or until the person asks for erasure
(Article 17).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

REMOVED = "[removed]"  # what a name, subject or reason reads once the personal data in it has gone
HASHED_DOMAIN = "removed.invalid"  # a Message-ID kept only as its hash: <sha256@removed.invalid>

# Event details that hold facts, not people's words: kept when a case is
# anonymised (the report reads `flag`, `escalation`, `outcome`...). Anything
# else (a logged contact's summary, a letter's file name) goes.
KEPT_DETAIL = frozenset({
    "kind", "previous_kind", "flag", "escalation", "outcome", "intent", "previous_intent", "working_days",
    "beyond_limit", "window_ended", "key", "draft", "draft_kind", "override", "could_meet", "answered", "what",
    "channel", "handler", "previous", "message_id", "record", "why", "to", "source",
})


@dataclass(frozen=True)
class RetentionRules:
    """How long personal data is kept ([retention] in the config)."""

    closed_case_years: int = 6  # the Limitation Act 1980's six years for a claim, counted from closing
    quarantine_days: int = 90  # mail that could not be read: time enough for someone to look at it
    unlinked_mail_days: int = 90  # mail that joined no case (auto-replies, bounces, newsletters)

    def as_dict(self) -> dict[str, int]:
        return {"closed_case_years": self.closed_case_years, "quarantine_days": self.quarantine_days,
                "unlinked_mail_days": self.unlinked_mail_days}


@dataclass(frozen=True)
class HeldCase:
    """What the decision needs to know about one case."""

    reference: str
    state: str
    closed_at: datetime | None
    anonymised_at: datetime | None = None


def add_years(moment: datetime, years: int) -> datetime:
    """The same day and time `years` later (29 February becomes 28 February)."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, day=28)


def case_due(case: HeldCase, now: datetime, rules: RetentionRules) -> bool:
    """A closed case whose people are still in it, closed at least
    `closed_case_years` before `now`. A case re-opened and closed again after
    it was anonymised counts from its new closing."""
    if case.state != "closed" or case.closed_at is None:
        return False
    if case.anonymised_at is not None and case.anonymised_at >= case.closed_at:
        return False
    return now >= add_years(case.closed_at, rules.closed_case_years)


def cases_due(cases: Iterable[HeldCase], now: datetime, rules: RetentionRules) -> list[str]:
    return [case.reference for case in cases if case_due(case, now, rules)]


def mail_cutoff(now: datetime, days: int) -> datetime:
    """Mail received at or before this time has been kept `days` days."""
    return now - timedelta(days=days)


def mail_due(received_at: datetime, now: datetime, days: int) -> bool:
    return received_at <= mail_cutoff(now, days)


# --- what stays of a record once the people have been taken out ------------------------

def normal_address(address: str) -> str:
    """An email address as the store holds it: trimmed, lower case, no angle brackets."""
    return address.strip().strip("<>").strip().lower()


def person_hash(address: str) -> str:
    """The erasure record's trace of a person: enough to tell whether an address
    was erased (to erase it again after a backup is restored), not to read it."""
    return "sha256:" + hashlib.sha256(normal_address(address).encode("utf-8")).hexdigest()


def is_hashed_id(message_id: str) -> bool:
    return message_id.endswith(f"@{HASHED_DOMAIN}>")


def hashed_id(message_id: str) -> str:
    """A Message-ID kept only as its hash: a re-delivery of the message is still
    recognised as a duplicate, and nothing of the original can be read."""
    if is_hashed_id(message_id):
        return message_id
    return f"<{hashlib.sha256(message_id.strip().encode('utf-8')).hexdigest()}@{HASHED_DOMAIN}>"


def neutral_address(address: str, keep_addresses: Iterable[str] = (), keep_domains: Iterable[str] = ()) -> str:
    """An address once its person is taken out: '' (none held); our own mailbox's
    address stays; an organisation whose mail the report counts (the Ombudsman)
    keeps its domain."""
    if not address:
        return ""
    normal = normal_address(address)
    if normal in {normal_address(a) for a in keep_addresses}:
        return address
    domain = normal.rpartition("@")[2]
    return f"removed@{domain}" if domain in {d.lower() for d in keep_domains} else ""


def marker(text: str | None) -> str:
    """REMOVED in place of text that held personal data; '' stays ''."""
    return REMOVED if text else ""


def scrub_signals(signals: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A message's signals keep their names (what the tool decided), not the words quoted as evidence."""
    return [{"name": str(s.get("name", "")), "evidence": ""} for s in signals]


def scrub_detail(detail: Mapping[str, Any], ids: Mapping[str, str]) -> dict[str, Any]:
    """An event's detail without people's words: facts kept, Message-IDs of
    anonymised messages replaced by their hash (`ids`: original -> hash)."""
    kept: dict[str, Any] = {}
    for key, value in detail.items():
        if key not in KEPT_DETAIL:
            continue
        if key == "message_id" and isinstance(value, str):
            value = ids.get(value, value)
        kept[key] = value
    return kept


def mentions(data: bytes | str, address: str) -> bool:
    """Whether some text or raw mail holds the address (any case)."""
    wanted = normal_address(address)
    if isinstance(data, bytes):
        return wanted.encode("utf-8") in data.lower()
    return wanted in data.lower()
