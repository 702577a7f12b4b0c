"""PDF letters with WeasyPrint, fetching nothing a resident wrote (DESIGN.md, decision 10).

The URL fetcher allows only files inside the template folders and the
landlord's configured logo; anything else — http(s), other files, data URIs —
is refused before any I/O and recorded, so a test can show that no fetch was
attempted. Fonts come from fontconfig (Debian's fonts-dejavu-core), and the
font configuration and stylesheet are built once and reused for every letter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse


class BlockedFetch(ValueError):
    """A URL the letter renderer will not fetch."""


def _fetcher_class():
    from weasyprint.urls import URLFetcher

    class AllowListFetcher(URLFetcher):
        def __init__(self, allowed: list[Path]):
            super().__init__(allowed_protocols={"file"})
            self.allowed = [p.resolve() for p in allowed]
            self.refused: list[str] = []
            self.served: list[str] = []

        def _permitted(self, url: str) -> bool:
            parsed = urlparse(url)
            if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
                return False
            path = Path(unquote(parsed.path)).resolve()
            return any(path == root or root in path.parents for root in self.allowed)

        def fetch(self, url, headers=None):
            if not self._permitted(url):
                self.refused.append(url[:200])
                raise BlockedFetch(f"not fetched: {url[:80]}")
            self.served.append(url)
            return super().fetch(url, headers)

    return AllowListFetcher


@dataclass
class PdfRenderer:
    """Renders letter HTML to PDF; one per process, reused for every letter."""

    stylesheet: Path
    allowed: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        from weasyprint import CSS
        from weasyprint.text.fonts import FontConfiguration

        self.fetcher = _fetcher_class()([self.stylesheet.parent, *self.allowed])
        self.fonts = FontConfiguration()
        self.css = CSS(filename=str(self.stylesheet), font_config=self.fonts, url_fetcher=self.fetcher)

    def render(self, html: str) -> bytes:
        from weasyprint import HTML

        document = HTML(string=html, base_url=self.stylesheet.parent.as_uri() + "/", url_fetcher=self.fetcher)
        return document.write_pdf(stylesheets=[self.css], font_config=self.fonts)
