"""Reading policy files: by shipped name or by path, following `extends`.

The adapter between TOML files on disk and the pure `domain.policy` model.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from mailcomplaints.domain.policy import Policy, PolicyError, build_policy, check_own_rules, merge_tables
from mailcomplaints.resources import shipped_dir

BASELINE = "housing-ombudsman-code-2024"
REDRESS_FILE = "redress.toml"


def shipped_policy_names() -> list[str]:
    folder = shipped_dir("policies")
    return sorted(p.stem for p in folder.glob("*.toml") if p.name != REDRESS_FILE)


def resolve(name_or_path: str, relative_to: Path | None = None) -> Path:
    """A shipped policy name ("reliance") or a path to a TOML file -> its path."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or "/" in name_or_path:
        if not candidate.is_absolute() and relative_to is not None:
            candidate = relative_to / candidate
        if not candidate.is_file():
            raise PolicyError(f"policy file {name_or_path} does not exist")
        return candidate
    shipped = shipped_dir("policies") / f"{name_or_path}.toml"
    if not shipped.is_file():
        known = ", ".join(shipped_policy_names())
        raise PolicyError(f"there is no shipped policy called {name_or_path!r}; use one of {known}, or a path to a .toml file")
    return shipped


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as err:
        raise PolicyError(f"policy {path.name} is not valid TOML: {err}") from None
    except OSError as err:
        raise PolicyError(f"policy {path} cannot be read: {err.strerror}") from None


def _merged_table(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    if path in seen:
        raise PolicyError(f"policy {path.name}: key 'extends' makes a loop ({' -> '.join(p.name for p in seen)})")
    table = _read_toml(path)
    check_own_rules(table, path.name)
    parent_name = table.get("extends")
    if parent_name is None:
        return table
    if not isinstance(parent_name, str):
        raise PolicyError(f"policy {path.name}: key 'extends' must be a policy name or path")
    try:
        parent_path = resolve(parent_name, path.parent)
    except PolicyError as err:
        raise PolicyError(f"policy {path.name}: key 'extends' is wrong: {err}") from None
    parent = _merged_table(parent_path, (*seen, path))
    return merge_tables(parent, table)


@lru_cache(maxsize=1)
def redress_bodies() -> dict[str, dict[str, Any]]:
    """The shared redress file: each body's contact details and the date they were checked."""
    table = _read_toml(shipped_dir("policies") / REDRESS_FILE)
    return {key: value for key, value in table.items() if isinstance(value, dict)}


def load_policy(name_or_path: str, relative_to: Path | None = None) -> Policy:
    """Load, merge and validate a policy; PolicyError names the file and key at fault."""
    path = resolve(name_or_path, relative_to)
    table = _merged_table(path)
    return build_policy(table, path.name, set(redress_bodies()))
