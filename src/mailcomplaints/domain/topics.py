"""What a complaint is about, for the report's "complaints by category":
rules as data, a few plain phrases per category, matched on the subject and
the resident's own words. A complaint can be about more than one thing;
one that matches none is counted as "other".

Chosen for the categories landlords' annual reports and the Ombudsman's
spotlight reports use; not a verdict on the complaint, only a count."""

from __future__ import annotations

import re

TOPICS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("damp_mould", "Damp and mould", ("damp", "mould", "mold", "condensation", "black spots on the wall")),
    ("repairs", "Repairs", ("repair", "leak", "leaking", "boiler", "heating", "hot water", "broken", "contractor",
                            "appointment", "fix", "fixed", "roof", "window", "door", "toilet", "drain", "electric")),
    ("asb", "Antisocial behaviour", ("antisocial", "anti-social", "asb", "neighbour", "noise", "harass", "threaten")),
    ("staff", "Staff conduct", ("rude", "attitude", "unprofessional", "shouted", "disrespectful", "your staff", "your officer")),
    ("communication", "Communication", ("no reply", "no response", "never called", "not called back", "ignored",
                                        "no one got back", "nobody got back", "chased", "kept waiting")),
    ("charges", "Rent and service charges", ("rent", "service charge", "arrears", "charged", "overcharged", "bill")),
    ("estate", "Estate and communal areas", ("communal", "grounds", "grass", "bins", "rubbish", "fly-tipping", "cleaning",
                                             "lift", "parking", "stairwell")),
)
LABELS = {name: label for name, label, _ in TOPICS} | {"other": "Other"}
_PATTERNS = {name: re.compile(r"\b(" + "|".join(re.escape(p) for p in phrases) + r")", re.I) for name, _, phrases in TOPICS}


def topics_of(subject: str, text: str) -> tuple[str, ...]:
    """The categories a complaint's subject and words fall in, in TOPICS order."""
    words = f"{subject or ''}\n{text or ''}"
    return tuple(name for name, _, _ in TOPICS if _PATTERNS[name].search(words))
