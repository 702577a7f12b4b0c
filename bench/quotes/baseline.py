"""A deliberately small rule set to measure the libraries against (bench only).

Cut the message at the first line that starts quoted history, then at the first
signature / phone-footer line. Rules: Outlook's "From: … Sent/Date: … To: …
Subject:" header block (also "**From:**" from markdown converters), a
"-----Original Message-----" / "Forwarded message" / "Begin forwarded message:"
/ underscore-rule line, "On … wrote:" (also wrapped over two lines or
">"-quoted as iOS does), and the first ">" line. If nothing is above the cut
(bottom-posting), keep the unquoted lines below it.
"""

from __future__ import annotations

import re

_SEPARATOR = re.compile(
    r"^\s*(-{2,}\s*(original message|forwarded message)\s*-{2,}|begin forwarded message:|_{10,})\s*$", re.I)
_WROTE = re.compile(r"^[\s>-]*on\s.{0,250}\swrote:\s*$", re.I)
_HEADER = re.compile(r"^\s*(>\s*)*\**(from|sent|date|to|cc|subject)\**\s*:", re.I)
_SIGNATURE = re.compile(
    r"^\s*(--\s*|sent (from|with|via) .{0,60}|get outlook for .{0,40})$", re.I)


def _starts_quote(lines: list[str], i: int) -> bool:
    line = lines[i]
    two = line.rstrip() + " " + (lines[i + 1].strip() if i + 1 < len(lines) else "")
    if _SEPARATOR.match(line) or _WROTE.match(line) or _WROTE.match(two) or line.lstrip().startswith(">"):
        return True
    if _HEADER.match(line):  # a header block: 3+ of From/Sent/Date/To/Cc/Subject, one a From, in 8 lines
        keys = {m.group(2).lower() for m in map(_HEADER.match, lines[i:i + 8]) if m}
        return len(keys) >= 3 and "from" in keys
    return False


def strip_reply(text: str) -> str:
    lines = text.replace("\r\n", "\n").split("\n")
    cut = next((i for i in range(len(lines)) if _starts_quote(lines, i)), len(lines))
    new = lines[:cut]
    if not any(line.strip() for line in new):  # bottom-posting: answer below the quote
        new = [line for line in lines[cut + 1:] if not line.lstrip().startswith(">")]
    for i, line in enumerate(new):
        if _SIGNATURE.match(line):
            new = new[:i]
            break
    return "\n".join(new).strip()
