"""Named points where a test may kill the process, to prove a crash between
any two steps loses nothing and duplicates nothing.

MAILCOMPLAINTS_FAILPOINT=NAME[:N] makes the Nth time NAME is reached (the
first by default) end the process at once, as SIGKILL would: no cleanup, no
commit, no flush. Unset, a failpoint costs one dictionary look-up.
"""

from __future__ import annotations

import os

_hits: dict[str, int] = {}


def failpoint(name: str) -> None:
    wanted = os.environ.get("MAILCOMPLAINTS_FAILPOINT")
    if not wanted:
        return
    target, _, nth = wanted.partition(":")
    if target != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] == int(nth or 1):
        os._exit(137)
