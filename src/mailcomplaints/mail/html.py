"""HTML mail to plain text: enough for reading and classifying, nothing fetched.

Linear in the size of the markup, whatever it holds: tags are found with
`str.find`, not with patterns that rescan the rest of the message after every
`<` (an unclosed `<!--`, `<script` or `<br` repeated a few thousand times took
minutes with those), and a blockquote nested thousands deep marks its lines
with a bounded number of "> ".
"""

from __future__ import annotations

import html
import re

_HIDDEN = re.compile(r"<(script|style|head|title)\b|<!--", re.I)
_TAG_START = re.compile(r"[A-Za-z/!?]")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_BREAK_OPEN = {"br", "hr"}
_BREAK_CLOSE = {"p", "div", "tr", "li", "blockquote", *(f"h{n}" for n in range(10))}
QUOTE_OPEN, QUOTE_CLOSE = "\x00QUOTE+", "\x00QUOTE-"
MAX_QUOTE_MARKS = 10  # deeper quotes are shown ten deep: the text stays the size it came


def _without_hidden(markup: str) -> str:
    """Comments, scripts, styles, the head and the title removed. An element
    that is never closed is left as it is (its tags are stripped later); once
    a closer is known to be missing it is never looked for again."""
    out, pos, unclosed = [], 0, set()
    while True:
        found = _HIDDEN.search(markup, pos)
        if found is None:
            out.append(markup[pos:])
            return "".join(out)
        name = (found.group(1) or "!--").lower()
        end = -1
        if name not in unclosed:
            if name == "!--":
                end = markup.find("-->", found.end())
                end = end + 3 if end >= 0 else -1
            else:
                close = re.compile(rf"</{name}\s*>", re.I).search(markup, found.end())
                end = close.end() if close else -1
        if end < 0:
            unclosed.add(name)
            out.append(markup[pos:found.end()])
            pos = found.end()
        else:
            out.append(markup[pos:found.start()])
            pos = end


def _tag_text(tag: str) -> str:
    """What a tag leaves in the text: a line break, a quote marker, or nothing."""
    inner = tag[1:-1].lstrip()
    closing = inner.startswith("/")
    name = _NAME.match(inner[1:].lstrip() if closing else inner)
    name = name.group(0).lower() if name else ""
    if name == "blockquote":
        return f"\n{QUOTE_CLOSE if closing else QUOTE_OPEN}\n"
    if (closing and name in _BREAK_CLOSE) or (not closing and name in _BREAK_OPEN):
        return "\n"
    return ""


def _without_tags(markup: str) -> str:
    """Every tag replaced by what it leaves in the text. As a browser reads
    it, a tag starts with "<" and a letter, "/", "!" or "?" ("a < b" is text)
    and runs to the next ">"; with no ">" left, the rest is text."""
    out, pos, start = [], 0, 0
    while True:
        start = markup.find("<", start)
        if start < 0:
            break
        if not _TAG_START.match(markup, start + 1):
            start += 1
            continue
        end = markup.find(">", start + 1)
        if end < 0:
            break
        out.append(markup[pos:start])
        out.append(_tag_text(markup[start:end + 1]))
        pos = start = end + 1
    out.append(markup[pos:])
    return "".join(out)


def html_to_text(markup: str) -> str:
    """Block elements become line breaks; <blockquote> content is marked with
    "> " so the quote stripper sees it as quoted, as a mail client would."""
    text = html.unescape(_without_tags(_without_hidden(markup or ""))).replace("\xa0", " ")
    lines, depth = [], 0
    for line in text.splitlines():
        if line == QUOTE_OPEN:
            depth += 1
            continue
        if line == QUOTE_CLOSE:
            depth = max(0, depth - 1)
            continue
        line = " ".join(line.split())
        lines.append(("> " * min(depth, MAX_QUOTE_MARKS) + line).rstrip() if depth else line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
