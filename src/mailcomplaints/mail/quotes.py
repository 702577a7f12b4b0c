"""Splitting a reply into what the resident wrote now and what they quoted.

Residents top-post from Outlook (a "From: … Sent: …" block, often with no
">" at all), Gmail and Apple Mail ("On … wrote:"), and phones ("Sent from my
iPhone"). The new text is what classification reads; the quoted part is kept
for threading (a forward of a message we hold) but never raises a signal:
words in the quoted copy of our own letter are not the resident's.

Rules as data: each marker is one named pattern; the earliest match wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A line that starts the quoted history (everything from it on is quoted).
QUOTE_HEADERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("original_message", re.compile(r"^\s*-{2,}\s*(original message|ursprüngliche nachricht|message d'origine)\s*-{2,}\s*$", re.I)),
    ("forwarded", re.compile(r"^\s*(-{2,}\s*forwarded message\s*-{2,}|begin forwarded message:)\s*$", re.I)),
    ("outlook_rule", re.compile(r"^\s*_{10,}\s*$")),
)
# "On 2 Nov 2026, at 09:14, X <x@y> wrote:" in any of the usual languages, on one line
# or wrapped over two; it must start with "On"-like word or carry a date or an address.
WROTE = re.compile(r"^.{0,300}\b(wrote|a écrit|schrieb|escribió|ha scritto|написал[а]?|skrev|schreef)\s*:\s*$", re.I)
WROTE_LEAD = re.compile(r"^\s*(on|le|am|el|il|op|den)\b|\b\d{1,2}[:.]\d{2}\b|@", re.I)
# A header block as Outlook, Hotmail and Windows Mail quote it: "From:", "Sent:",
# "To:", "Subject:" lines (any order, any of these languages, a value sometimes on
# the next line). Three of them, one a From, within eight lines start the quote.
HEADER_LINE = re.compile(
    r"^\s*\**\s*(from|sent|date|to|cc|subject|von|gesendet|an|betreff|datum|de|envoyé|à|objet|от|отправлено|кому|тема|дата)\s*:\**", re.I)
FROM_KEYS = ("from", "von", "de", "от")
# A line that starts a signature or a phone footer (everything from it on is dropped).
SIGNATURE_STARTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("sig_dashes", re.compile(r"^--\s?$")),
    ("sent_from", re.compile(r"^\s*(sent from (my )?\S.{0,60}|get outlook for (ios|android)\S*|sent via .{0,40})\s*$", re.I)),
)
QUOTED_LINE = re.compile(r"^\s*>")
ATTRIBUTION = re.compile(r"^.{0,200}(@|\d{1,2}[:.]\d{2}).{0,200}:$")


@dataclass(frozen=True)
class Reply:
    new_text: str
    quoted: str
    marker: str  # which rule cut the message ("" when nothing was quoted)


def _joined(lines: list[str], index: int) -> str:
    """A line with the next one, for "On … wrote:" headers clients wrap in two."""
    nxt = lines[index + 1].strip() if index + 1 < len(lines) else ""
    return f"{lines[index].rstrip()} {nxt}"


def _quote_start(lines: list[str]) -> tuple[int, str] | None:
    for index, line in enumerate(lines):
        for name, pattern in QUOTE_HEADERS:
            if pattern.match(line):
                return index, name
        if WROTE_LEAD.search(line) and (WROTE.match(line.strip()) or WROTE.match(_joined(lines, index).strip())):
            return index, "on_wrote"
        if HEADER_LINE.match(line):
            keys = {HEADER_LINE.match(c).group(1).lower() for c in lines[index:index + 8] if HEADER_LINE.match(c)}
            if len(keys) >= 3 and keys & set(FROM_KEYS):
                return index, "outlook_header"
        if QUOTED_LINE.match(line) and any(l.strip() for l in lines[:index]):
            previous = max((i for i in range(index) if lines[i].strip()), default=None)
            if previous is not None and ATTRIBUTION.match(lines[previous].strip()):
                return previous, "quoted_lines"  # "26.06.2014, 14:41, "Alex" <a@example.com>:" above the quote
            return index, "quoted_lines"
    return None


def split_reply(text: str) -> Reply:
    lines = (text or "").replace("\r\n", "\n").split("\n")
    cut = _quote_start(lines)
    if cut is None:
        new, quoted, marker = lines, [], ""
    else:
        new, quoted, marker = lines[:cut[0]], lines[cut[0]:], cut[1]
        if not any(line.strip() for line in new) and marker in ("on_wrote", "quoted_lines"):
            # bottom-posting (Thunderbird and others): the answer is below the quote
            header = 1 if marker == "on_wrote" else 0
            if marker == "on_wrote" and not WROTE.match(lines[cut[0]].strip()):
                header = 2
            below = [line for line in quoted[header:] if not QUOTED_LINE.match(line)]
            if any(line.strip() for line in below):
                new, quoted = below, [line for line in quoted if QUOTED_LINE.match(line) or line in quoted[:header]]
    for index, line in enumerate(new):
        if any(pattern.match(line) for _, pattern in SIGNATURE_STARTS):
            new = new[:index]
            break
    new = [line for line in new if not QUOTED_LINE.match(line)]  # interleaved quotes
    return Reply("\n".join(new).strip(), "\n".join(quoted).strip(), marker)
