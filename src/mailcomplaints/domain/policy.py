"""A landlord's complaints policy as data (DESIGN.md, decision 4).

A policy is a TOML file. It may `extends` another (normally the Housing
Ombudsman's Complaint Handling Code 2024 baseline); its rules replace the
parent's rule for the same stage and `what`, and every rule it does not state
is inherited and marked so. Validation happens here, once, and every problem is
one sentence naming the file, the key and what is wrong.

Pure: `build_policy` takes already-parsed TOML tables; reading files is the
job of `mailcomplaints.policies` (the adapter that knows where policies live).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from typing import Any

from mailcomplaints.domain.calendar import NATIONS, CalendarError, parse_cutoff

WHATS = ("acknowledge", "respond", "extension", "escalation_window", "time_limit")
UNITS = ("working_days", "calendar_days", "weeks", "months")
FROMS = ("receipt", "acknowledgement", "escalation_request", "response_sent")
NORMALISED_OUTCOMES = ("upheld", "partly_upheld", "not_upheld", "withdrawn", "resolved")
# Outcomes that end a case without a finding; every landlord has them.
PROCESS_OUTCOMES = {"withdrawn": "Withdrawn", "resolved": "Resolved"}
REDRESS_SCOPES = ("all", "leaseholders", "debt_advice")


class PolicyError(ValueError):
    """A policy file that cannot be used; the message is one plain sentence."""


@dataclass(frozen=True)
class Rule:
    """One timescale of a policy: e.g. stage 1, respond, 10 working days from receipt."""

    stage: int
    what: str
    amount: int | None
    unit: str | None
    start: str | None  # "from" in TOML and JSON
    ref: str
    inherited: bool = False
    note: str = ""
    exceptions: tuple[str, ...] = ()
    unlimited: bool = False

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"stage": self.stage, "what": self.what}
        if self.unit == "months":
            out["months"] = self.amount
        else:
            out["days"] = self.amount
        if self.unit == "weeks":
            out["weeks"] = self.amount
        out.update(unit=self.unit, **{"from": self.start}, ref=self.ref, inherited=self.inherited)
        if self.unlimited:
            out["unlimited"] = True
        if self.note:
            out["note"] = self.note
        if self.exceptions:
            out["exceptions"] = list(self.exceptions)
        return out


@dataclass(frozen=True)
class Stage:
    number: int
    name: str
    handler: str
    ref: str


@dataclass(frozen=True)
class Redress:
    """A body a resident may take the complaint to, and when."""

    body: str  # key into the shared redress file
    scope: str  # all | leaseholders | debt_advice
    ref: str


@dataclass(frozen=True)
class Policy:
    name: str
    landlord: str
    document: str
    nation: str
    cutoff: time
    rules: tuple[Rule, ...]
    stages: tuple[Stage, ...]
    outcomes: dict[str, str]  # normalised -> the landlord's own words
    outcomes_ref: str
    redress: tuple[Redress, ...]
    extends: str | None = None
    informal: dict[str, Any] = field(default_factory=dict)
    complainants: dict[str, dict[str, Any]] = field(default_factory=dict)
    exclusions: tuple[dict[str, Any], ...] = ()
    escalation: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    source: str = ""

    def rule(self, stage: int, what: str) -> Rule | None:
        """The rule for that stage and timescale, or None where there is none."""
        for rule in self.rules:
            if rule.stage == stage and rule.what == what:
                return rule
        return None

    def final_stage(self) -> int:
        return max(stage.number for stage in self.stages)

    def normalise_outcome(self, text: str) -> str | None:
        """An outcome typed by an officer -> its normalised name, if this
        landlord uses it ("Part upheld" -> partly_upheld at Southway)."""
        wanted = text.strip().lower().replace("-", " ").replace("_", " ")
        for normalised, own in self.outcomes.items():
            if wanted in (normalised.replace("_", " "), own.lower()):
                return normalised
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "landlord": self.landlord,
            "document": self.document,
            "extends": self.extends,
            "nation": self.nation,
            "cutoff": self.cutoff.strftime("%H:%M"),
            "outcomes": list(self.outcomes),
            "outcome_labels": dict(self.outcomes),
            "outcomes_ref": self.outcomes_ref,
            "stages": [vars(stage) for stage in self.stages],
            "rules": [rule.as_dict() for rule in self.rules],
            "informal": self.informal,
            "complainants": self.complainants,
            "exclusions": list(self.exclusions),
            "escalation": self.escalation,
            "redress": [vars(item) for item in self.redress],
            "notes": list(self.notes),
        }


# How a landlord's table combines with the one it extends. Rules as data:
# tables named here replace the parent's whole; lists named here merge by key.
REPLACED_WHOLE = ("outcomes", "escalation", "informal")
MERGED_BY_KEY = {"rules": ("stage", "what"), "exclusions": ("name",), "redress": ("body", "for")}
ACCUMULATED = ("notes",)


def _merge_list(parent: list[Any], child: list[Any], key: tuple[str, ...], mark_inherited: bool) -> list[Any]:
    def identity(item: Any) -> tuple:
        return tuple(item.get(k) for k in key) if isinstance(item, dict) else (id(item),)

    own = {identity(item): dict(item, inherited=False) if mark_inherited else item for item in child}
    kept = [dict(item, inherited=True) if mark_inherited else item
            for item in parent if identity(item) not in own]
    return [*own.values(), *kept] if not mark_inherited else [*kept, *own.values()]


def merge_tables(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """The child's policy over its parent's: keys the child states win; a
    sub-table the child states (a stage, a kind of complainant) replaces the
    parent's whole; rules, exclusions and redress merge by their keys."""
    merged = dict(parent)
    for key, value in child.items():
        if key in MERGED_BY_KEY or key in ACCUMULATED:
            continue
        if isinstance(value, dict) and isinstance(parent.get(key), dict) and key not in REPLACED_WHOLE:
            merged[key] = {**parent[key], **value}
        else:
            merged[key] = value
    for key, identity in MERGED_BY_KEY.items():
        if key in child or key in parent:
            merged[key] = _merge_list(parent.get(key, []), child.get(key, []), identity, key == "rules")
    merged["rules"] = sorted(merged.get("rules", []), key=lambda r: (
        r.get("stage", 0) if isinstance(r.get("stage"), int) else 0,
        WHATS.index(r["what"]) if r.get("what") in WHATS else 99))
    for key in ACCUMULATED:
        if key in parent or key in child:
            merged[key] = [*parent.get(key, []), *child.get(key, [])]
    return merged


def check_own_rules(table: dict[str, Any], source: str) -> None:
    """Validate the rules a file itself states, so an error names that file
    and that file's own rules[N], before any merging renumbers them."""
    reader = _Reader(source, table)
    raw_rules = reader.get("rules", list, [])
    seen: set[tuple[int, str]] = set()
    for index, raw in enumerate(raw_rules):
        rule = _build_rule(reader, index, raw)
        if (rule.stage, rule.what) in seen:
            raise reader.fail(f"rules[{index}]", f"states stage {rule.stage} {rule.what} a second time")
        seen.add((rule.stage, rule.what))


class _Reader:
    """Typed access to one TOML table with errors that name file and key."""

    def __init__(self, source: str, table: dict[str, Any], prefix: str = ""):
        self.source, self.table, self.prefix = source, table, prefix

    def fail(self, key: str, problem: str) -> PolicyError:
        return PolicyError(f"policy {self.source}: key '{self.prefix}{key}' {problem}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., choices: tuple = ()):
        if key not in self.table:
            if default is ...:
                raise self.fail(key, "is missing")
            return default
        value = self.table[key]
        if isinstance(value, bool) and kind in (int, (int,)):
            raise self.fail(key, f"must be a whole number, not {value!r}")
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(key, f"must be a {_friendly(names)}, not {value!r}")
        if choices and value not in choices:
            raise self.fail(key, f"is {value!r}; use one of {', '.join(map(str, choices))}")
        return value

    def sub(self, key: str, table: dict[str, Any]) -> "_Reader":
        return _Reader(self.source, table, f"{self.prefix}{key}.")


def _friendly(type_names: str) -> str:
    return (
        type_names.replace("str", "string").replace("int", "whole number")
        .replace("dict", "table").replace("list", "list").replace("bool", "true/false")
    )


def _build_rule(reader: _Reader, index: int, raw: Any) -> Rule:
    if not isinstance(raw, dict):
        raise reader.fail(f"rules[{index}]", "must be a table")
    r = reader.sub(f"rules[{index}]", raw)
    stage = r.get("stage", int, choices=(1, 2))
    what = r.get("what", str, choices=WHATS)
    unlimited = r.get("unlimited", bool, False)
    if unlimited:
        amount, unit = None, None
    elif what == "time_limit":
        amount, unit = r.get("months", int), "months"
    else:
        if "weeks" in raw:
            amount, unit = r.get("weeks", int), "weeks"
        else:
            amount, unit = r.get("days", int), r.get("unit", str, choices=UNITS)
        if what in ("acknowledge", "respond", "extension") and unit != "working_days":
            raise r.fail("unit", f"is {unit!r}, but an officer's {what} period is in working_days")
    if amount is not None and amount <= 0:
        raise r.fail("days" if unit != "months" else "months", f"must be more than zero, not {amount}")
    start = r.get("from", str, None, choices=FROMS)
    if what in ("acknowledge", "respond", "escalation_window") and not unlimited and start is None:
        raise r.fail("from", f"is missing; say what the {what} period counts from ({', '.join(FROMS)})")
    exceptions = r.get("exceptions", list, [])
    return Rule(
        stage=stage,
        what=what,
        amount=amount,
        unit=unit,
        start=start,
        ref=str(r.get("ref", (str, int, float))),
        inherited=r.get("inherited", bool, False),
        note=r.get("note", str, ""),
        exceptions=tuple(str(e) for e in exceptions),
        unlimited=unlimited,
    )


def build_policy(table: dict[str, Any], source: str, redress_bodies: set[str]) -> Policy:
    """A merged policy table -> a Policy, or PolicyError naming what to fix."""
    r = _Reader(source, table)
    nation = r.get("nation", str, "england", choices=tuple(NATIONS))
    try:
        cutoff = parse_cutoff(r.get("cutoff", str, "17:00"))
    except CalendarError as err:
        raise r.fail("cutoff", str(err).replace("cut-off time ", "value ")) from None

    raw_rules = r.get("rules", list, [])
    rules = tuple(_build_rule(r, i, raw) for i, raw in enumerate(raw_rules))
    seen: set[tuple[int, str]] = set()
    for rule in rules:
        if (rule.stage, rule.what) in seen:
            raise r.fail("rules", f"states stage {rule.stage} {rule.what} twice")
        seen.add((rule.stage, rule.what))
    for stage in (1, 2):
        for what in ("acknowledge", "respond"):
            if (stage, what) not in seen:
                raise r.fail("rules", f"has no stage {stage} {what} rule, and the policy it extends has none either")

    stages_table = r.get("stages", dict, {})
    stages = []
    for key in sorted(stages_table):
        if key not in ("1", "2"):
            raise r.fail(f"stages.{key}", "is not a stage: the Code allows exactly stages 1 and 2")
        s = r.sub(f"stages.{key}", r.get("stages", dict)[key])
        stages.append(Stage(int(key), s.get("name", str, f"Stage {key}"), s.get("handler", str, ""), str(s.get("ref", (str, int, float), ""))))
    if not stages:
        stages = [Stage(1, "Stage 1", "", ""), Stage(2, "Stage 2", "", "")]

    outcomes_raw = r.get("outcomes", dict)
    for key, label in outcomes_raw.items():
        if key not in NORMALISED_OUTCOMES:
            raise r.fail(f"outcomes.{key}", f"is not an outcome; use {', '.join(NORMALISED_OUTCOMES)}")
        if not isinstance(label, str):
            raise r.fail(f"outcomes.{key}", "must be the landlord's wording, as a string")
    outcomes = {**{k: v for k, v in outcomes_raw.items()}, **{k: v for k, v in PROCESS_OUTCOMES.items() if k not in outcomes_raw}}

    redress = []
    for i, raw in enumerate(r.get("redress", list, [])):
        if not isinstance(raw, dict):
            raise r.fail(f"redress[{i}]", "must be a table")
        x = r.sub(f"redress[{i}]", raw)
        body = x.get("body", str)
        if body not in redress_bodies:
            raise x.fail("body", f"is {body!r}, which is not in policies/redress.toml")
        redress.append(Redress(body, x.get("for", str, "all", choices=REDRESS_SCOPES), str(x.get("ref", (str, int, float), ""))))
    if not redress:
        raise r.fail("redress", "is missing: name at least the redress body residents can go to")

    return Policy(
        name=r.get("name", str),
        landlord=r.get("landlord", str),
        document=r.get("document", str, ""),
        nation=nation,
        cutoff=cutoff,
        rules=rules,
        stages=tuple(stages),
        outcomes=outcomes,
        outcomes_ref=str(r.get("outcomes_ref", (str, int, float), "")),
        redress=tuple(redress),
        extends=r.get("extends", str, None),
        informal=r.get("informal", dict, {}),
        complainants=r.get("complainants", dict, {}),
        exclusions=tuple(r.get("exclusions", list, [])),
        escalation=r.get("escalation", dict, {}),
        notes=tuple(str(n) for n in r.get("notes", list, [])),
        source=source,
    )
