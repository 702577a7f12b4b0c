"""Explainable classification (DESIGN.md, decision 7).

One small rule per signal, in the shape of GNU Mailman's rules: a `name`
(a CONTRACT.md intent or flag where one fits), a one-line `description`,
and a `check` that returns the evidence — the words that fired it — or None.
`classify` runs them in a fixed order and decides the intent from the
signals, so an officer can always be shown which rule fired and why.

This is the foundation set; the mail-understanding issue grows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from mailcomplaints.mail.message import Message

INTENTS = (
    "new_complaint", "further_information", "escalation_request", "compliment",
    "service_request", "enquiry", "withdrawal", "machine", "other",
)


@dataclass(frozen=True)
class Signal:
    name: str
    evidence: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "evidence": self.evidence}


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    check: Callable[[Message, str], str | None]  # (message, our own address) -> evidence


def _header_rule(header: str, pattern: str) -> Callable[[Message, str], str | None]:
    regex = re.compile(pattern, re.I)

    def check(message: Message, _ours: str) -> str | None:
        value = message.headers.get(header, "")
        return f"{header}: {value}" if value and regex.search(value) else None

    return check


def _phrase_rule(*phrases: str, where: str = "both") -> Callable[[Message, str], str | None]:
    regex = re.compile(r"\b(" + "|".join(phrases) + r")\b", re.I)

    def check(message: Message, _ours: str) -> str | None:
        haystacks = {"subject": [message.subject], "body": [message.text], "both": [message.subject, message.text]}[where]
        for text in haystacks:
            found = regex.search(text or "")
            if found:
                return found.group(0)
        return None

    return check


def _own_mail(message: Message, ours: str) -> str | None:
    if "x-mailcomplaints-draft" in message.headers:
        return "X-Mailcomplaints-Draft header (our own draft)"
    if message.sender and ours and message.sender.email == ours.lower():
        return f"From: {message.sender.email} (our own address)"
    return None


def _bounce(message: Message, _ours: str) -> str | None:
    if "multipart/report" in message.headers.get("content-type", "").lower():
        return "Content-Type: multipart/report"
    sender = message.sender.email if message.sender else ""
    if re.match(r"(mailer-daemon|postmaster)@", sender):
        return f"From: {sender}"
    if message.headers.get("return-path", "").strip() == "<>":
        return "Return-Path: <>"
    return None


MACHINE_RULES: tuple[Rule, ...] = (
    Rule("own_mail", "Our own outgoing mail coming back", _own_mail),
    Rule("auto_submitted", "RFC 3834 Auto-Submitted other than 'no'", _header_rule("auto-submitted", r"^(?!\s*no\b).+")),
    Rule("precedence", "Precedence bulk, junk or list", _header_rule("precedence", r"\b(bulk|junk|list)\b")),
    Rule("x_autoreply", "X-Autoreply or X-Autorespond present", lambda m, o: _header_rule("x-autoreply", r".")(m, o) or _header_rule("x-autorespond", r".")(m, o)),
    Rule("inbox_rules_loop", "Exchange inbox-rule loop header", _header_rule("x-ms-exchange-inbox-rules-loop", r".")),
    Rule("auto_reply_subject", "Subject of an automatic reply", _phrase_rule(r"automatic reply", r"auto[- ]?reply", r"out of (the )?office", where="subject")),
    Rule("bounce", "A bounce or delivery status notification", _bounce),
    Rule("mailing_list", "Mailing-list mail (List-Id, List-Unsubscribe)", lambda m, o: _header_rule("list-id", r".")(m, o) or _header_rule("list-unsubscribe", r".")(m, o)),
)

INTENT_RULES: tuple[Rule, ...] = (
    Rule("withdrawal", "The resident withdraws the complaint",
         _phrase_rule(r"withdraw (my|the|this) complaint", r"no longer wish to (pursue|complain)", r"(consider|treat) (my|the|this) complaint (as )?(closed|withdrawn)")),
    Rule("escalation_request", "The resident asks to take the complaint further",
         _phrase_rule(r"escalat\w*", r"stage (2|two)", r"review (of )?(my|the|this) complaint", r"(complaint|it) (to be )?reviewed", r"senior manager", r"take (this|it|my complaint) further")),
    Rule("compliment", "Thanks or praise",
         _phrase_rule(r"thank you", r"thanks", r"compliment", r"pass on my (thanks|gratitude)", r"grateful", r"brilliant job", r"excellent service")),
    Rule("service_request", "A first request for a service, such as reporting a repair",
         _phrase_rule(r"report (a|an) (repair|fault|leak)", r"could (someone|you) (come|look|send)", r"please (arrange|book) a (repair|visit)", r"request a repair")),
    Rule("dissatisfaction", "Words of complaint or dissatisfaction",
         _phrase_rule(r"complain\w*", r"not happy", r"unhappy", r"dissatisfied", r"unacceptable", r"disgust\w*", r"appalled", r"still (not|no|waiting)", r"no one has", r"nobody has", r"fed up", r"rude", r"missed (two|three|\d+|the|my)? ?appointments?", r"let down")),
)

FLAG_RULES: tuple[Rule, ...] = (
    Rule("representative", "Written on the resident's behalf",
         _phrase_rule(r"on behalf of", r"my (mother|mum|father|dad|constituent|client)", r"\bMP\b", r"councillor", r"caseworker", r"advocate")),
    Rule("vulnerability", "A vulnerable person is mentioned",
         _phrase_rule(r"asthma", r"disab\w+", r"elderly", r"pregnan\w+", r"wheelchair", r"mental health", r"\d\d[- ]year[- ]old", r"newborn", r"baby", r"carer")),
    Rule("health_and_safety", "A risk to health or safety",
         _phrase_rule(r"damp", r"mould", r"gas leak", r"carbon monoxide", r"no heating", r"boiler", r"electric\w* (fault|shock)", r"exposed wir\w+", r"fire", r"asbestos")),
    Rule("ombudsman_mentioned", "The Housing Ombudsman is mentioned", _phrase_rule(r"ombudsman")),
    Rule("legal_action", "Legal action or a solicitor is mentioned",
         _phrase_rule(r"solicitors?", r"legal action", r"(take|taking) (you|them|this|it|the council|reliance) to court",
                      r"court (action|case|proceedings|claim)", r"county court", r"small claims", r"disrepair claim",
                      r"sue (you|them)")),
)


def run_rules(rules: tuple[Rule, ...], message: Message, ours: str) -> list[Signal]:
    signals = []
    for rule in rules:
        evidence = rule.check(message, ours)
        if evidence:
            signals.append(Signal(rule.name, evidence))
    return signals


@dataclass(frozen=True)
class Classification:
    machine: bool
    signals: tuple[Signal, ...]
    flags: tuple[str, ...]

    def has(self, name: str) -> bool:
        return any(s.name == name for s in self.signals)

    def intent(self, threaded: bool) -> str:
        """The message's intent, given whether it joined an existing case."""
        if self.machine:
            return "machine"
        if threaded:
            for name in ("withdrawal", "escalation_request"):
                if self.has(name):
                    return name
            return "further_information"
        if self.has("dissatisfaction"):
            return "new_complaint"
        if self.has("compliment"):
            return "compliment"
        if self.has("service_request"):
            return "service_request"
        return "new_complaint"  # the Code: dissatisfaction "however made"; an officer can correct it


def classify(message: Message, ours: str) -> Classification:
    machine = run_rules(MACHINE_RULES, message, ours)
    if machine:
        return Classification(True, tuple(machine), ())
    intent = run_rules(INTENT_RULES, message, ours)
    flags = run_rules(FLAG_RULES, message, ours)
    return Classification(False, tuple(intent + flags), tuple(s.name for s in flags))
