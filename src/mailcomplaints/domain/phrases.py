"""Finding phrases in what a resident wrote, with negation.

"I don't want to involve my solicitor" is not legal action; "I am not happy"
is dissatisfaction (the negation is part of the phrase). A rule says whether
its phrases can be negated; a negated match is skipped and the next one tried.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NEGATIONS = re.compile(
    r"\b(not|no|never|don'?t|do not|doesn'?t|does not|didn'?t|did not|won'?t|will not|wouldn'?t|would not|"
    r"isn'?t|is not|aren'?t|haven'?t|have not|hasn'?t|without|rather than|instead of|nor|neither)\b",
    re.I,
)
SENTENCE_BREAK = re.compile(r"[.!?;\n]")


@dataclass(frozen=True)
class Phrases:
    """A set of alternative phrases (regular expressions), matched on word boundaries."""

    patterns: tuple[str, ...]
    negatable: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "_regex", re.compile(r"(?<![\w-])(" + "|".join(self.patterns) + r")(?![\w-])", re.I))

    def find(self, text: str) -> str | None:
        """The first phrase found that is not negated, or None."""
        for match in self._regex.finditer(text or ""):
            if self.negatable and negated(text, match.start()):
                continue
            return " ".join(match.group(0).split())
        return None


def negated(text: str, start: int, window: int = 6) -> bool:
    """Whether a negation stands among the few words before `start`, in the same sentence."""
    before = text[max(0, start - 120):start]
    clause = SENTENCE_BREAK.split(before)[-1]
    clause = re.split(r"\b(but|however|although|though)\b", clause, flags=re.I)[-1]
    words = clause.split()[-window:]
    return bool(NEGATIONS.search(" ".join(words)))


def phrases(*patterns: str, negatable: bool = True) -> Phrases:
    return Phrases(tuple(patterns), negatable)
