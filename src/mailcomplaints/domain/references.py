"""Case references: a prefix and a zero-padded number (default CMP-000123),
configurable per landlord, and found again in whatever a resident writes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

# Any reference-shaped token, for stripping our own labels whatever the format.
ANY_REFERENCE = r"[A-Za-z][A-Za-z0-9]{0,9}-\d{3,10}"

# The label our drafts' subjects start with ("Your complaint CMP-000123 - …"), by draft kind.
# Written by the drafting service, recognised by threading and classification.
SUBJECT_LABELS = {"compliment_thanks": "Thank you", "not_a_complaint": "Your request", "reminder": "Reminder"}
DEFAULT_SUBJECT_LABEL = "Your complaint"
OUR_LABEL = rf"({'|'.join(re.escape(label.lower()) for label in (DEFAULT_SUBJECT_LABEL, *SUBJECT_LABELS.values()))})\s+{ANY_REFERENCE}\s*-?\s*"


@dataclass(frozen=True)
class ReferenceFormat:
    prefix: str = "CMP"
    digits: int = 6

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]{0,9}", self.prefix):
            raise ValueError(f"reference prefix {self.prefix!r} must be 1-10 letters or digits, starting with a letter")
        if not 3 <= self.digits <= 10:
            raise ValueError(f"reference digits must be between 3 and 10, not {self.digits}")

    def make(self, number: int) -> str:
        return f"{self.prefix.upper()}-{number:0{self.digits}d}"

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(rf"(?<![\w-]){re.escape(self.prefix)}-(\d{{{self.digits}}})(?![\w-])", re.I)

    def find_all(self, text: str) -> list[str]:
        return [f"{self.prefix.upper()}-{digits}" for digits in self.pattern.findall(text or "")]


DEFAULT = ReferenceFormat()
