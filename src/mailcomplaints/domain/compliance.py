"""How a landlord's policy departs from the Code 2024 baseline (`policy check`).

The product runs each policy as written and reports every difference; it
never silently "corrects" a policy. Every finding is exactly one of:

- ``stricter`` — better for residents than the Code (a shorter deadline, or
  one counted from an earlier event, that always meets the Code's);
- ``breach`` — falls short of the Code (following the policy as written can
  miss what the Code requires, or the policy leaves out what it requires);
- ``open`` — a choice the Code leaves to the landlord (an escalation window,
  exclusions, who is answered, other redress bodies).

Each finding carries both references: the Code's section (``code_ref``) and
the landlord's own section or heading (``ref``, also ``policy_ref``).
Everything is derived from the two policies as data (`policies/*.toml`);
nothing here knows a landlord by name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from mailcomplaints.domain.policy import WHATS, Policy, Rule

CLASSES = ("stricter", "breach", "open")
ORDER_OF_START = {"receipt": 0, "escalation_request": 0, "acknowledgement": 1, "response_sent": 2}
# The five landlords the seeds describe, in the order docs/policy-check.md lists them.
LANDLORDS = ("reliance", "housing-solutions", "connect", "southway", "alliance-homes")
DOC_PATH = "docs/policy-check.md"
REGENERATE = (".venv/bin/python -c \"from mailcomplaints.domain.compliance import policy_check_markdown; "
              "print(policy_check_markdown(), end='')\" > docs/policy-check.md")

# Code sections for matters the baseline file holds no rule for. Where the
# baseline does hold one (its rules, informal, escalation, redress), the
# reference is read from it instead.
CODE_SILENT = "silent"
CODE_ESCALATION_WINDOW = "2.1, 2.2"  # each complaint on its merits; fair and reasonable grounds not to escalate
CODE_EXCLUSIONS = "2.2"              # a policy sets out fair and reasonable exclusions
CODE_SERVICE_REQUESTS = "1.4"        # service requests are not complaints
CODE_REFUSAL = "2.2, 2.4, 5.11"      # grounds set out; a refusal explained in writing, with the Ombudsman's details
# Exclusions the Code itself accepts (2.2, 2.3) or that follow from it (a
# first report is a service request, 1.4); the time limit is a rule of its own.
CODE_ACCEPTED_EXCLUSIONS = {"time_limit", "legal_action", "already_considered", "service_request"}

UNIT_WORDS = {"working_days": "working days", "calendar_days": "days", "weeks": "weeks", "months": "months"}
WHAT_WORDS = {"acknowledge": "acknowledgement", "respond": "response", "extension": "extension",
              "escalation_window": "escalation window", "time_limit": "time limit"}
COMPLAINANT_WORDS = {"anonymous": "anonymous complaints", "representative": "complaints made through a representative",
                     "elected_representative": "MP and councillor enquiries", "group": "complaints from a group of residents"}
REPLY_TO_WORDS = {"representative": "the representative", "every_named_member": "every named member",
                  "nominated_signatory": "the nominated signatory", "enquirer_and_resident": "the enquirer, copied to the resident"}
REDRESS_WORDS = {"first-tier-tribunal-property": "the First-tier Tribunal (Property Chamber)",
                 "financial-ombudsman": "the Financial Ombudsman Service"}
SCOPE_WORDS = {"leaseholders": "leaseholders may also go to", "debt_advice": "complaints about its debt advice go to",
               "all": "residents may also go to"}
OUTCOME_WORDS = {"upheld": "upheld", "partly_upheld": "partly upheld", "not_upheld": "not upheld"}


@dataclass(frozen=True)
class Finding:
    """One difference from the Code. `severity` is the class (stricter |
    breach | open); `ref` is the landlord's section, `code_ref` the Code's;
    `message` is the summary followed by "(Code <code_ref>)"."""

    severity: str
    stage: int | None
    what: str
    message: str
    ref: str
    code_ref: str = ""
    summary: str = ""

    @property
    def classification(self) -> str:
        return self.severity

    @property
    def policy_ref(self) -> str:
        return self.ref

    def as_dict(self) -> dict:
        return {"severity": self.severity, "stage": self.stage, "what": self.what, "message": self.message,
                "ref": self.ref, "classification": self.severity, "code_ref": self.code_ref,
                "policy_ref": self.ref, "summary": self.summary}

    def line(self) -> str:
        return f"[{self.severity}] {self.summary} (Code {self.code_ref}; policy {self.ref})"


def _finding(cls: str, stage: int | None, what: str, summary: str, code_ref: str, policy_ref: str) -> Finding:
    assert cls in CLASSES, cls
    code_ref = code_ref or CODE_SILENT
    policy_ref = policy_ref or CODE_SILENT
    return Finding(cls, stage, what, f"{summary} (Code {code_ref})", policy_ref, code_ref, summary)


# ---- timescales ---------------------------------------------------------------


def _start_words(rule: Rule) -> str:
    return {
        "receipt": "of receipt of the complaint" if rule.stage == 1 else "of receipt",
        "escalation_request": "of the escalation request",
        "acknowledgement": "of the acknowledgement",
        "response_sent": "of the stage 1 response",
    }.get(rule.start or "", "")


def _describe(rule: Rule) -> str:
    if rule.unlimited:
        return "no limit"
    amount = f"{rule.amount} {UNIT_WORDS.get(rule.unit or '', rule.unit or '')}"
    if rule.what == "extension":
        return f"at most {amount} more"
    start = _start_words(rule)
    return f"within {amount} {start}".strip()


def _rank(mine: Rule, base: Rule, policy: Policy) -> str:
    """stricter when following the policy always meets the Code; breach when
    it can miss it; open where the two cannot be ranked (other units)."""
    if mine.what == "time_limit":
        if mine.unlimited:
            return "stricter"
        return "breach" if mine.unit == base.unit and mine.amount < base.amount else "stricter"
    if mine.unlimited:
        return "breach"  # a landlord's own deadline with no limit
    if mine.unit != base.unit:
        return "open"
    if mine.what == "extension":
        return "stricter" if mine.amount <= base.amount else "breach"
    later = ORDER_OF_START.get(mine.start or "", 0) - ORDER_OF_START.get(base.start or "", 0)
    if later <= 0:
        # Counted from the same or an earlier event: the Code's own start can
        # fall on the same day (an acknowledgement sent at once), so the amount decides.
        return "stricter" if mine.amount <= base.amount else "breach"
    # Counted from a later event (the acknowledgement) than the Code's (receipt):
    # that event may come as late as the policy's own acknowledgement period.
    ack = policy.rule(mine.stage, "acknowledge")
    slack = ack.amount if ack is not None and ack.amount is not None and ack.unit == mine.unit else 0
    return "stricter" if mine.amount + slack <= base.amount else "breach"


def _stage_ref(policy: Policy, stage: int) -> str:
    for item in policy.stages:
        if item.number == stage and item.ref:
            return item.ref
    return ""


def _compared(mine: Rule, base: Rule, policy: Policy) -> Finding:
    cls = _rank(mine, base, policy)
    label = f"stage {mine.stage} {WHAT_WORDS[mine.what]}"
    if mine.what == "time_limit":
        own = "no time limit" if mine.unlimited else f"complaints must be raised within {mine.amount} months"
        if mine.exceptions:
            own += f" (except {', '.join(mine.exceptions)})"
        summary = f"{own}; the Code accepts complaints raised within {base.amount} months"
    else:
        summary = f"{label} {_describe(mine)}; the Code says {_describe(base)}"
        if cls == "stricter" and mine.start != base.start and mine.start in ("receipt", "escalation_request"):
            summary += " — counted from receipt rather than the acknowledgement"
    return _finding(cls, mine.stage, mine.what, summary, base.ref, mine.ref)


def _window(mine: Rule) -> Finding:
    """The Code sets no escalation window: any window is the landlord's choice,
    and one the Code does not allow to be enforced rigidly."""
    if mine.unlimited:
        summary = "no time limit for asking for stage 2; the Code sets none either"
        return _finding("open", mine.stage, mine.what, summary, CODE_SILENT, mine.ref)
    summary = (f"a resident must ask for stage 2 {_describe(mine)}; the Code sets no escalation window — "
               f"one may be set, but not enforced rigidly: a late request is weighed on its merits, and the product "
               f"flags it for an officer's decision rather than refusing it")
    return _finding("open", mine.stage, mine.what, summary, CODE_ESCALATION_WINDOW, mine.ref)


def _silent(policy: Policy, base: Rule) -> Finding:
    """The policy states no rule where the Code has one: the Code's applies
    (inherited). A missing deadline is a breach; a missing extension or time
    limit is the landlord's choice, unless the policy lets its deadline be set
    aside with no limit."""
    label = f"stage {base.stage} {WHAT_WORDS[base.what]}"
    where = _stage_ref(policy, base.stage) if base.what != "time_limit" else ""
    policy_ref = f"{CODE_SILENT} (its stage {base.stage}: {where})" if where else CODE_SILENT
    if base.what in ("acknowledge", "respond"):
        summary = f"the policy states no {label} period; the Code requires one {_describe(base)}, which is applied (inherited)"
        return _finding("breach", base.stage, base.what, summary, base.ref, policy_ref)
    if base.what == "extension":
        respond = policy.rule(base.stage, "respond")
        if respond is not None and not respond.inherited and respond.exceptions:
            summary = (f"the stage {base.stage} response date may be set aside — {'; '.join(respond.exceptions)}; "
                       f"the Code allows an extension of {_describe(base)}, explained with the Ombudsman's details "
                       f"(the Code's limit is applied here)")
            return _finding("breach", base.stage, base.what, summary, base.ref, respond.ref)
        summary = f"the policy states no {label}; the Code allows {_describe(base)}, which is applied (inherited)"
        return _finding("open", base.stage, base.what, summary, base.ref, policy_ref)
    if base.what == "time_limit":
        summary = (f"the policy sets no time limit for raising a complaint; the Code's {base.amount} months "
                   f"is applied (inherited)")
        return _finding("open", base.stage, base.what, summary, base.ref, policy_ref)
    summary = f"the policy states no {label}; the Code's ({_describe(base)}) is applied (inherited)"
    return _finding("open", base.stage, base.what, summary, base.ref, policy_ref)


def _rule_findings(policy: Policy, code: Policy) -> list[Finding]:
    keys = {(r.stage, r.what) for r in (*policy.rules, *code.rules)}
    findings = []
    for stage, what in sorted(keys, key=lambda k: (k[0], WHATS.index(k[1]) if k[1] in WHATS else 99)):
        mine, base = policy.rule(stage, what), code.rule(stage, what)
        if base is None:
            if mine is None:
                continue
            if what == "escalation_window":
                findings.append(_window(mine))
            else:
                findings.append(_finding("open", stage, what, f"stage {stage} {WHAT_WORDS[what]} {_describe(mine)}; "
                                         f"the Code sets none", CODE_SILENT, mine.ref))
            continue
        same = mine is not None and (mine.amount, mine.unit, mine.start, mine.unlimited) == (
            base.amount, base.unit, base.start, base.unlimited)
        if mine is None or (mine.inherited and same):
            findings.append(_silent(policy, base))
        elif not same:
            findings.append(_compared(mine, base, policy))
    return findings


# ---- process, complainants, outcomes, exclusions, redress -----------------------


def _sections(text: str) -> str:
    """The section numbers in a reference ("1.2 (a complaint may be ...)" -> "1.2")."""
    found = re.findall(r"\b\d+\.\d+(?:\.\d+)*\b", text or "")
    return ", ".join(dict.fromkeys(found)) or CODE_SILENT


def _ombudsman_ref(code: Policy) -> str:
    return next((r.ref for r in code.redress if r.body == "housing-ombudsman"), CODE_SILENT)


def _process_findings(policy: Policy, code: Policy) -> list[Finding]:
    findings = []
    informal, escalation = policy.informal, policy.escalation
    code_stages = str(code.informal.get("ref", "")) or "5.2, 5.3"
    if informal.get("exists"):
        ref = str(informal.get("ref", ""))
        if informal.get("service_request"):
            summary = ("dissatisfaction first goes through a service-request route (first queries and requests put "
                       "right at once) before a complaint is recorded; the Code lets service requests be handled outside "
                       "the complaints process, but dissatisfaction with the response must be taken as a complaint")
            findings.append(_finding("open", None, "informal", summary, CODE_SERVICE_REQUESTS, ref))
        else:
            summary = ("an informal step comes before stage 1; the Code allows exactly two stages and no informal "
                       "'stage 0' — emailed complaints start at stage 1 here")
            if informal.get("reasons_required"):
                reasons_ref = str(informal.get("reasons_ref", ""))
                summary += (f"; and the resident must give reasons and evidence to move the complaint into the "
                            f"formal process ({reasons_ref})")
                if reasons_ref and reasons_ref not in ref:
                    ref = f"{ref}, {reasons_ref}"
            findings.append(_finding("breach", None, "informal", summary, code_stages, ref))
    stated = escalation.get("stages_stated")
    if isinstance(stated, int) and not isinstance(stated, bool) and stated != 2:
        summary = (f"the text calls its procedure a {stated} stage process but describes {len(policy.stages)}; "
                   f"the Code allows exactly two — run here as the {len(policy.stages)} it describes")
        findings.append(_finding("breach", None, "stages", summary, code_stages,
                                 str(escalation.get("stages_stated_ref", ""))))
    code_escalation = code.escalation
    if escalation.get("reasons_required"):
        summary = "the resident must give reasons to escalate to stage 2; the Code says they need not"
        findings.append(_finding("breach", 2, "escalation_reasons", summary,
                                 str(code_escalation.get("reasons_ref", "6.12")), str(escalation.get("reasons_ref", ""))))
    if escalation.get("different_handler") is False:
        summary = "the stage 2 handler may be the stage 1 handler; the Code says they must not be"
        findings.append(_finding("breach", 2, "stage2_handler", summary,
                                 str(code_escalation.get("different_handler_ref", "6.13")),
                                 str(escalation.get("different_handler_ref", ""))))
    examples = escalation.get("refusal_examples") or []
    if examples:
        refs = ", ".join(r for r in (str(escalation.get("refusal_ref", "")), str(escalation.get("refusal_examples_ref", ""))) if r)
        listed = "; ".join(str(e).rstrip(".").lower() for e in examples)
        summary = (f"may decline to escalate in exceptional circumstances, for example: {listed} — the Code lets a policy "
                   f"set fair and reasonable grounds, each request weighed on its merits and a refusal explained in "
                   f"writing with the right to go to the Ombudsman")
        findings.append(_finding("open", 2, "escalation_refusal", summary, CODE_REFUSAL, refs))
    weeks, designated = escalation.get("ombudsman_wait_weeks"), escalation.get("ombudsman_designated_person")
    if weeks or designated:
        route = " or ".join(part for part in (
            f"wait {weeks} weeks after the stage 2 decision" if weeks else "",
            "go through a 'designated person' (a councillor, MP or tenant panel)" if designated else "") if part)
        summary = (f"describes the pre-2023 rule that a resident must {route} before the Housing Ombudsman; the "
                   f"Building Safety Act 2022 removed that filter from 1 October 2023 and residents may go to the "
                   f"Ombudsman at any stage — never copied into letters")
        findings.append(_finding("breach", None, "ombudsman_route", summary,
                                 f"{_ombudsman_ref(code)}; Building Safety Act 2022",
                                 str(escalation.get("ombudsman_route_ref", ""))))
    dated = escalation.get("ombudsman_details_dated")
    if dated:
        summary = (f"the Housing Ombudsman's contact details in the policy are out of date — {dated}; letters take "
                   f"the current ones from redress.toml, never from the policy")
        findings.append(_finding("breach", None, "ombudsman_details", summary, _ombudsman_ref(code),
                                 str(escalation.get("ombudsman_details_ref", ""))))
    return findings


def _complainant_words(rule: dict) -> str:
    parts = []
    if rule.get("accepted") is False:
        parts.append("not handled under the policy")
    elif rule.get("accepted") is True:
        parts.append("accepted")
    if rule.get("treated_as"):
        parts.append(f"treated as {'not a complaint' if rule['treated_as'] == 'not_a_complaint' else 'a ' + rule['treated_as'].replace('_', ' ')}")
    if rule.get("reply_to"):
        parts.append(f"answered to {REPLY_TO_WORDS.get(rule['reply_to'], rule['reply_to'].replace('_', ' '))}")
    return ", ".join(parts)


def _complainant_findings(policy: Policy, code: Policy) -> list[Finding]:
    findings = []
    keys = ("accepted", "treated_as", "reply_to")
    for kind, rule in policy.complainants.items():
        if not isinstance(rule, dict):
            continue
        base = code.complainants.get(kind, {})
        if all(rule.get(k) == base.get(k) for k in keys if k in rule):
            continue
        label = COMPLAINANT_WORDS.get(kind, kind.replace("_", " "))
        theirs = _complainant_words(rule)
        code_words = _complainant_words(base) if base else ""
        summary = f"{label}: {theirs}" + (f" (the baseline: {code_words})" if code_words else "")
        summary += "; the Code leaves this to the landlord"
        findings.append(_finding("open", None, f"complainants.{kind}", summary,
                                 _sections(str(base.get("ref", ""))), str(rule.get("ref", ""))))
    return findings


def _outcome_findings(policy: Policy, code: Policy) -> list[Finding]:
    missing = [k for k in code.outcomes if k not in policy.outcomes]
    extra = [k for k in policy.outcomes if k not in code.outcomes]
    if not missing and not extra:
        return []
    parts = []
    if missing:
        parts.append("no " + " or ".join(f"'{OUTCOME_WORDS.get(k, k.replace('_', ' '))}'" for k in missing) + " outcome")
    if extra:
        parts.append("its own " + ", ".join(f"'{policy.outcomes[k]}'" for k in extra) + " outcome")
    summary = f"{' and '.join(parts)}; the Code sets no outcome vocabulary"
    return [_finding("open", None, "outcomes", summary, CODE_SILENT, policy.outcomes_ref)]


def _exclusion_findings(policy: Policy, code: Policy) -> list[Finding]:
    accepted = CODE_ACCEPTED_EXCLUSIONS | {str(e.get("name")) for e in code.exclusions if isinstance(e, dict)}
    findings = []
    for exclusion in policy.exclusions:
        if not isinstance(exclusion, dict) or exclusion.get("name") in accepted:
            continue
        description = str(exclusion.get("description", exclusion.get("name", ""))).rstrip(".")
        summary = (f"not handled as a complaint: {description[:1].lower()}{description[1:]} — the Code lets a policy "
                   f"set fair and reasonable exclusions, each complaint weighed on its merits")
        findings.append(_finding("open", None, f"exclusion.{exclusion.get('name')}", summary, CODE_EXCLUSIONS,
                                 str(exclusion.get("ref", ""))))
    return findings


def _redress_findings(policy: Policy, code: Policy) -> list[Finding]:
    known = {(r.body, r.scope) for r in code.redress}
    findings = []
    for item in policy.redress:
        if (item.body, item.scope) in known:
            continue
        body = REDRESS_WORDS.get(item.body, item.body.replace("-", " "))
        summary = (f"{SCOPE_WORDS.get(item.scope, item.scope.replace('_', ' ') + ':')} {body}; the Code names only "
                   f"the Housing Ombudsman")
        findings.append(_finding("open", None, f"redress.{item.body}", summary, CODE_SILENT, item.ref))
    return findings


def compare_with_code(policy: Policy, code: Policy) -> list[Finding]:
    """Every difference between `policy` and the Code baseline `code`, each
    classed stricter | breach | open, with both section references."""
    return [
        *_rule_findings(policy, code),
        *_process_findings(policy, code),
        *_complainant_findings(policy, code),
        *_outcome_findings(policy, code),
        *_exclusion_findings(policy, code),
        *_redress_findings(policy, code),
    ]


# ---- docs/policy-check.md ------------------------------------------------------------


def _md(text: str) -> str:
    return text.replace("*", "\\*")


def render_markdown(policies: Iterable[Policy], code: Policy) -> str:
    """The check over `policies` as Markdown: a heading per landlord, one line
    per finding with its class and both references."""
    out = [
        "# Policy check: the five landlords against the Code 2024",
        "",
        "Generated by `mailcomplaints.domain.compliance.policy_check_markdown()` — do not edit by hand.",
        "`tests/unit/test_policy_check.py` fails when this file is out of date; regenerate it with:",
        "",
        "```",
        REGENERATE,
        "```",
        "",
        f"Baseline: {code.document} (`{code.name}`).",
        "",
        "Each line gives the class — **stricter** (better for residents than the Code), **breach** (falls",
        "short of the Code) or **open** (a choice the Code leaves to the landlord) — then the difference,",
        "and in brackets the Code's section and the landlord's own section or heading. \"silent\" means",
        "that side says nothing on the matter.",
    ]
    for policy in policies:
        findings = compare_with_code(policy, code)
        counts = ", ".join(f"{sum(f.severity == c for f in findings)} {c}" for c in CLASSES)
        out += ["", f"## {policy.landlord} (`{policy.name}`)", ""]
        if policy.document:
            out += [f"{_md(policy.document)}. {len(findings)} findings: {counts}.", ""]
        if not findings:
            out.append("No differences from the Code.")
        for f in findings:
            out.append(f"- **{f.severity}** — {_md(f.summary)} (Code {_md(f.code_ref)} | policy {_md(f.ref)})")
    return "\n".join(out) + "\n"


def policy_check_markdown(names: Sequence[str] = LANDLORDS, load: Callable[[str], Policy] | None = None) -> str:
    """docs/policy-check.md: the check over the shipped policies `names`.
    `load` reads a policy by name; by default the shipped-policy loader
    (imported here, so this module stays free of I/O until asked)."""
    if load is None:
        from mailcomplaints.policies import BASELINE, load_policy
        load, baseline = load_policy, BASELINE
    else:
        baseline = "housing-ombudsman-code-2024"
    return render_markdown([load(name) for name in names], load(baseline))
