"""HTML mail to plain text: enough for reading and classifying, nothing fetched."""

from __future__ import annotations

import html
import re

_DROP = re.compile(r"<(script|style|head|title)\b.*?</\1\s*>|<!--.*?-->", re.S | re.I)
_BREAKS = re.compile(r"<\s*(br|/p|/div|/tr|/li|/h\d|/blockquote|hr)\b[^>]*>", re.I)
_QUOTE_OPEN = re.compile(r"<\s*blockquote\b[^>]*>", re.I)
_TAGS = re.compile(r"<[^>]+>")


def html_to_text(markup: str) -> str:
    """Block elements become line breaks; <blockquote> content is marked with
    "> " so the quote stripper sees it as quoted, as a mail client would."""
    text = _DROP.sub("", markup or "")
    depth_marked = []
    for chunk in re.split(r"(<\s*/?\s*blockquote\b[^>]*>)", text, flags=re.I):
        if _QUOTE_OPEN.match(chunk):
            depth_marked.append("\n\x00QUOTE+\n")
        elif re.match(r"<\s*/\s*blockquote", chunk, re.I):
            depth_marked.append("\n\x00QUOTE-\n")
        else:
            depth_marked.append(chunk)
    text = _BREAKS.sub("\n", "".join(depth_marked))
    text = html.unescape(_TAGS.sub("", text)).replace("\xa0", " ")
    lines, depth = [], 0
    for line in text.splitlines():
        if line == "\x00QUOTE+":
            depth += 1
            continue
        if line == "\x00QUOTE-":
            depth = max(0, depth - 1)
            continue
        line = " ".join(line.split())
        lines.append(("> " * depth + line).rstrip() if depth else line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
