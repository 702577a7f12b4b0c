"""Where the shipped policies and templates live.

In a wheel they sit inside the package (`mailcomplaints/policies`); in a source
checkout they sit at the repository root. Both are looked for, in that order.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def shipped_dir(name: str) -> Path:
    """The folder of shipped `policies`, `templates` or `demo` data."""
    for candidate in (_PACKAGE / name, _PACKAGE.parent.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the shipped folder {name!r} is missing from this installation")
