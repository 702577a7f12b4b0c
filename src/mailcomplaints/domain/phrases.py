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
        alternatives = "|".join(_spaces_match_any_whitespace(p) for p in self.patterns)
        object.__setattr__(self, "_regex", re.compile(r"(?<![\w-])(" + alternatives + r")(?![\w-])", re.I))

    def find(self, text: str) -> str | None:
        """The first phrase found, or None. For a negatable rule a negated
        mention does not count ("I don't want to involve a solicitor"), and a
        mention the writer turns down just after ("… I don't want to do that")
        sets the whole rule aside."""
        matches = list(self._regex.finditer(text or ""))
        if self.negatable:
            if any(declined_after(text, m.end()) for m in matches):
                return None
            matches = [m for m in matches if not negated(text, m.start())]
        return " ".join(matches[0].group(0).split()) if matches else None


REPORTED = re.compile(r"\b(suggested|asked me to|told me to|wanted me to|advised me to|said (i|we) (should|could)|keeps? (asking|telling|ringing|saying))\b", re.I)


def _spaces_match_any_whitespace(pattern: str) -> str:
    """A space in a phrase matches any run of whitespace, line breaks included
    (mail is wrapped anywhere); spaces inside [...] classes are left alone."""
    out, in_class = [], False
    for index, char in enumerate(pattern):
        escaped = index > 0 and pattern[index - 1] == "\\"
        if char == "[" and not escaped:
            in_class = True
        elif char == "]" and not escaped:
            in_class = False
        out.append(r"\s+" if char == " " and not in_class else char)
    return "".join(out)


def negated(text: str, start: int, window: int = 6) -> bool:
    """Whether a negation stands among the few words before `start`, in the
    same sentence, or the sentence reports what someone else suggested."""
    before = text[max(0, start - 200):start]
    sentence = re.split(r"[.!?;]|\n\s*\n", before)[-1]
    if REPORTED.search(sentence):
        return True
    clause = SENTENCE_BREAK.split(before)[-1] if "\n" in before[-60:] and not sentence.strip() else sentence
    clause = re.split(r"\b(but|however|although|though)\b", clause, flags=re.I)[-1]
    words = clause.split()[-window:]
    return bool(NEGATIONS.search(" ".join(words)))


DECLINED = re.compile(
    r"^[^.!?\n]{0,80}[.!?\n]?\s*[^.!?\n]{0,40}\b(i|we)\s+(don'?t|do not|won'?t|will not|am not going to|'?m not going to|have no intention to)\s+"
    r"(want to |wish to |plan to |intend to )?(do that|do this|go down that|go that way|take that|involve|use them|make one|make a claim|pursue)", re.I)


CONDITIONAL = re.compile(r"^[^.!?\n]{0,40}\b(but (i|we)('ll| will| would| may| might)|unless|if (it|this|that|you|things))", re.I)


def declined_after(text: str, end: int) -> bool:
    """The writer turns down what they just mentioned, in the next sentence or
    so — unless they keep it in reserve ("… but I will if it isn't sorted")."""
    found = DECLINED.match(text[end:end + 200])
    return bool(found) and not CONDITIONAL.match(text[end + found.end():end + found.end() + 80])


def phrases(*patterns: str, negatable: bool = True) -> Phrases:
    return Phrases(tuple(patterns), negatable)
