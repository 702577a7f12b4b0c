"""Sender domains that imitate one we trust.

A message from `complaints@re1iance-housing.org.uk`, `casework@housing-0mbudsman.org.uk`
or `xn--hosing-ombudsman-…` is not from our team nor from the Housing
Ombudsman, however it is signed. Residents never write from such domains by
accident; a phisher does, to have an officer trust a request ("please send the
resident's file to…") or to pass for a referral. The tool does not refuse such
mail (the complaint may be real and the Code forbids refusing it): the
classification rule `lookalike_sender` names the rule that fired and both
domains, and raises the `lookalike_sender` flag on the case.

Rules as data, tried in a fixed order against each protected domain; the
first that fires is the evidence. A domain is compared by its *registrable*
part: the label just left of its public suffix ("reliance-housing" in
`mail.reliance-housing.org.uk`). Never a lookalike: a protected domain itself
or any domain under the same registrable name (a sibling mail host); a
well-known mail provider (anyone may have an address there); a domain under a
closed registry (gov.uk, nhs.uk, police.uk, ac.uk…: a council is not an impostor).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Callable, Iterable

OMBUDSMAN_DOMAIN = "housing-ombudsman.org.uk"

# Suffixes of more than one label under which names are registered (the part of
# the Public Suffix List a UK landlord meets), and the documentation domains
# (RFC 2606) the tests and examples use as if they were suffixes.
SUFFIXES = frozenset({
    "co.uk", "org.uk", "me.uk", "net.uk", "ltd.uk", "plc.uk", "ac.uk", "gov.uk", "nhs.uk", "police.uk", "sch.uk",
    "mod.uk", "parliament.uk", "judiciary.uk", "com.au", "org.au", "net.au", "co.nz", "org.nz", "co.za", "co.in",
    "com.br", "co.jp", "onmicrosoft.com", "example.com", "example.net", "example.org", "example.org.uk", "example.co.uk",
})
CLOSED_REGISTRIES = frozenset({"gov.uk", "nhs.uk", "police.uk", "ac.uk", "sch.uk", "mod.uk", "parliament.uk", "judiciary.uk"})
MAIL_PROVIDERS = frozenset({
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "hotmail.co.uk", "live.com", "live.co.uk", "msn.com",
    "yahoo.com", "yahoo.co.uk", "ymail.com", "icloud.com", "me.com", "mac.com", "aol.com", "aol.co.uk", "btinternet.com",
    "btopenworld.com", "sky.com", "virginmedia.com", "ntlworld.com", "blueyonder.co.uk", "talktalk.net", "tiscali.co.uk",
    "protonmail.com", "proton.me", "gmx.com", "gmx.co.uk", "mail.com", "zoho.com", "fastmail.com", "hey.com",
})
# Words a phisher adds to a name to look official (not any word: "reliance-plumbing" may be a real firm).
OFFICIAL_WORDS = frozenset({
    "uk", "gb", "org", "gov", "official", "secure", "security", "mail", "email", "online", "web", "service", "services",
    "support", "team", "complaint", "complaints", "casework", "caseworker", "portal", "login", "verify", "verification",
    "help", "helpdesk", "info", "contact", "admin", "notify", "notification", "notifications", "office", "hq", "group",
    "my", "account", "accounts", "case", "cases", "referral", "referrals", "noreply", "no-reply", "alerts",
})
MIN_EDIT_LABEL = 6  # one letter away from a shorter name is too common to mean anything

# Letters of other scripts drawn like Latin ones (a small part of Unicode's
# confusables.txt: the ones available in domain names that pass for a–z).
CONFUSABLE = str.maketrans({
    "а": "a", "в": "b", "е": "e", "ё": "e", "һ": "h", "і": "i", "ї": "i", "ј": "j", "к": "k", "ӏ": "l", "м": "m", "н": "h",
    "о": "o", "р": "p", "с": "c", "ѕ": "s", "т": "t", "у": "y", "х": "x", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ь": "b",
    "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w",
    "ı": "i", "ɩ": "i", "ł": "l", "ℓ": "l", "ɡ": "g", "ø": "o", "đ": "d", "ħ": "h",
})
# Swaps that read alike in a mail client's font, applied to both names.
SWAPS = (("rn", "m"), ("vv", "w"), ("0", "o"), ("1", "l"))


@dataclass(frozen=True)
class Lookalike:
    sender_domain: str
    imitates: str  # the protected domain
    rule: str  # which rule fired
    evidence: str  # in words, naming both domains


@dataclass(frozen=True)
class Name:
    """A domain as the rules see it."""

    domain: str  # as written (lower case, punycode as it came)
    shown: str  # as a mail client shows it (punycode decoded)
    label: str  # the registrable label, as shown
    suffix: str

    @property
    def registrable(self) -> str:
        return f"{self.label}.{self.suffix}" if self.suffix else self.label


def _shown(domain: str) -> str:
    labels = []
    for label in domain.split("."):
        if label.startswith("xn--"):
            try:
                label = label.encode("ascii").decode("idna")
            except (UnicodeError, ValueError):
                pass
        labels.append(label)
    return ".".join(labels)


def name_of(domain: str) -> Name:
    domain = unicodedata.normalize("NFKC", domain or "").strip().strip(".").lower()  # as DNS would: ｈ is h
    shown = _shown(domain)
    labels = shown.split(".")
    for size in (3, 2):  # the longest suffix that fits
        suffix = ".".join(labels[-size:])
        if len(labels) > size and suffix in SUFFIXES:
            return Name(domain, shown, labels[-size - 1], suffix)
    if len(labels) >= 2 and ".".join(labels[-2:]) not in SUFFIXES:
        return Name(domain, shown, labels[-2], labels[-1])
    return Name(domain, shown, "", ".".join(labels))  # a bare suffix: nothing registrable to compare


def skeleton(label: str) -> str:
    """What a label looks like: other scripts' look-alike letters and accents
    turned to Latin, then the swaps that read alike."""
    text = unicodedata.normalize("NFKC", label).lower().translate(CONFUSABLE)
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    for written, read in SWAPS:
        text = text.replace(written, read)
    return text


def _scripts(label: str) -> list[str]:
    found = []
    for char in label:
        if char.isalpha():
            script = unicodedata.name(char, "UNKNOWN").split()[0]
            if script not in found:
                found.append(script)
    return found


def one_edit_apart(a: str, b: str) -> bool:
    """One letter changed, added, dropped, or two neighbours swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
        return len(diffs) == 1 or (len(diffs) == 2 and diffs[1] == diffs[0] + 1
                                   and a[diffs[0]] == b[diffs[1]] and a[diffs[1]] == b[diffs[0]])
    shorter, longer = (a, b) if len(a) < len(b) else (b, a)
    i = next((i for i, (x, y) in enumerate(zip(shorter, longer)) if x != y), len(shorter))
    return shorter[i:] == longer[i + 1:]


# --- the rules: (name, check(sender, protected) -> evidence or None) ----------------

def _look_alike_letters(sender: Name, protected: Name) -> str | None:
    if sender.label == sender.label.encode("ascii", "ignore").decode() or skeleton(sender.label) != skeleton(protected.label):
        return None
    scripts = _scripts(sender.label)
    mixed = f", mixing {' and '.join(s.title() for s in scripts)} letters" if len(scripts) > 1 else ""
    written = f"{sender.domain} (shown as {sender.shown})" if sender.domain != sender.shown else sender.domain
    return f"{written} imitates {protected.domain} with look-alike characters{mixed}"


def _swapped_letters(sender: Name, protected: Name) -> str | None:
    if sender.label == protected.label or skeleton(sender.label) != skeleton(protected.label):
        return None
    swaps = [f"{written} for {read}" for written, read in SWAPS if written in sender.label and written not in protected.label]
    swaps += [f"{read} for {written}" for written, read in SWAPS if written in protected.label and written not in sender.label]
    return f"{sender.domain} imitates {protected.domain}: {', '.join(swaps) or 'letters that read alike'}"


def _hyphens(sender: Name, protected: Name) -> str | None:
    if sender.label == protected.label or sender.label.replace("-", "") != protected.label.replace("-", ""):
        return None
    return f"{sender.domain} imitates {protected.domain} with its hyphens changed"


def _other_suffix(sender: Name, protected: Name) -> str | None:
    if sender.label != protected.label or sender.suffix == protected.suffix:
        return None
    return f"{sender.domain} imitates {protected.domain}: the same name under .{sender.suffix} instead of .{protected.suffix}"


def _one_edit(sender: Name, protected: Name) -> str | None:
    if len(protected.label) < MIN_EDIT_LABEL or not one_edit_apart(skeleton(sender.label), skeleton(protected.label)):
        return None
    return f"{sender.domain} imitates {protected.domain}: one letter different"


def _carried_inside(sender: Name, protected: Name) -> str | None:
    """The protected name carried at the front of another domain:
    housing-ombudsman.org.uk.casework.example or housing-ombudsman-org-uk.example."""
    for form in (protected.registrable + ".", protected.registrable.replace(".", "-")):
        at = sender.shown.find(form)
        if at >= 0 and (at == 0 or sender.shown[at - 1] in ".-"):
            return f"{sender.domain} imitates {protected.domain}: it carries the name inside another domain ({sender.registrable})"
    return None


def _name_and_word(sender: Name, protected: Name) -> str | None:
    """The protected name with a word of officialdom before or after it:
    housing-ombudsman-uk.org, secure-reliancehousing.co.uk."""
    name, label = protected.label.replace("-", ""), sender.label.replace("-", "")
    if len(name) < MIN_EDIT_LABEL or not label.startswith(name) and not label.endswith(name):
        return None
    word = label[len(name):] if label.startswith(name) else label[:-len(name)]
    if word not in OFFICIAL_WORDS:
        return None
    return f"{sender.domain} imitates {protected.domain}: its name with \"{word}\" added"


RULES: tuple[tuple[str, Callable[[Name, Name], str | None]], ...] = (
    ("look_alike_letters", _look_alike_letters),  # IDN / punycode homoglyphs, mixed scripts
    ("swapped_letters", _swapped_letters),  # 0/o, 1/l, rn/m, vv/w
    ("hyphens", _hyphens),
    ("other_suffix", _other_suffix),
    ("one_edit", _one_edit),
    ("carried_inside", _carried_inside),
    ("name_and_word", _name_and_word),
)


def protected_domains(ours: str, others: Iterable[str] = ()) -> tuple[str, ...]:
    """Our domain, the Housing Ombudsman's and others (a trusted sender's),
    less the mail providers anyone may have an address at."""
    out = []
    for domain in (ours, OMBUDSMAN_DOMAIN, *others):
        domain = (domain or "").rsplit("@", 1)[-1].strip().strip(".").lower()
        if domain and domain not in out and name_of(domain).registrable not in MAIL_PROVIDERS and name_of(domain).label:
            out.append(domain)
    return tuple(out)


def imitated(sender_domain: str, protected: Iterable[str]) -> Lookalike | None:
    """The protected domain `sender_domain` imitates, and how; None for a
    genuine or an unrelated domain."""
    sender = name_of(sender_domain)
    if not sender.label or sender.suffix in CLOSED_REGISTRIES or sender.registrable in MAIL_PROVIDERS:
        return None
    names = [name_of(domain) for domain in protected]
    if any(sender.registrable == p.registrable for p in names):
        return None  # the domain itself, or another host under the same name
    for p in names:
        if not p.label:
            continue
        for rule, check in RULES:
            evidence = check(sender, p)
            if evidence:
                return Lookalike(sender.domain, p.domain, rule, evidence)
    return None
