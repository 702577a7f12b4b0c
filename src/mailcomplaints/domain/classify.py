"""Explainable classification (DESIGN.md, decision 7).

One small rule per signal, in the shape of GNU Mailman's rules: a `name`
(a CONTRACT.md intent or flag where one fits), a one-line `description`, and
a `check` returning the evidence — the words that fired it — or None.
`classify` runs them in a fixed order; `Classification.intent` decides the
message's intent from the signals, so an officer can be shown which rule
fired and why.

Rules read what the sender wrote *now*: the new text (quoted history and
signature removed), the subject without our own labels, and a forwarded
message only when it is not ours. Words in the quoted copy of our own letter
are not the resident's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from email.utils import parseaddr
from typing import Callable

from mailcomplaints.domain.calendar import local
from mailcomplaints.domain.lookalike import imitated, protected_domains
from mailcomplaints.domain.phrases import Phrases, phrases
from mailcomplaints.domain.references import OUR_LABEL
from mailcomplaints.mail.message import Message

INTENTS = (
    "new_complaint", "further_information", "escalation_request", "compliment",
    "service_request", "enquiry", "withdrawal", "machine", "other",
)
OUR_SUBJECT = re.compile(rf"\b{OUR_LABEL}", re.I)
MAX_READING = 200_000  # characters the rules read: the new text first, then forwarded words (the rules take ~10 µs a character)
REPLY_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|sv|tr|wg|antw|vs)\s*(\[\d+\])?\s*:\s*|\[(external|ext)\]\s*)+", re.I)


@dataclass(frozen=True)
class Context:
    """What a rule may know besides the message: our address, and the
    landlord's time limit for raising a complaint."""

    ours: str
    time_limit_months: int | None = 12
    trusted: tuple[str, ...] = ()  # other addresses or domains whose look-alikes are suspect (the team's, trusted senders')

    @property
    def our_domain(self) -> str:
        return self.ours.split("@", 1)[-1].lower()

    @property
    def protected_domains(self) -> tuple[str, ...]:
        return protected_domains(self.ours, self.trusted)


@dataclass(frozen=True)
class Reading:
    subject: str
    text: str  # the sender's own words

    @property
    def both(self) -> str:
        return f"{self.subject}\n{self.text}"


def reading_of(message: Message, context: Context) -> Reading:
    subject = message.subject or ""
    if REPLY_PREFIX.match(subject) or OUR_SUBJECT.search(subject):
        subject = ""  # a reply's subject is inherited from the thread, not written now
    parts = [message.new_text]
    ours = context.our_domain
    if message.quote_marker in ("forwarded", "original_message", "outlook_header") and message.is_forward \
            and message.forwarded_from and not message.forwarded_from.endswith("@" + ours):
        parts.append(re.sub(r"(?m)^\s*>+ ?", "", message.quoted))  # the resident forwards their own words
    for inner in message.embedded:
        if inner.how in ("rfc822", "outlook-msg") and not _from_domain(inner.sender, ours):
            parts.append(inner.text)
    return Reading(subject.strip(), "\n".join(p for p in parts if p).strip()[:MAX_READING])


def _from_domain(sender: str, domain: str) -> bool:
    """Whether a From header's address is at `domain` or a host under it (not
    merely a From that contains it, as complaints@landlord.example.org.evil.example does)."""
    address = parseaddr(sender or "")[1].lower()
    if "@" not in address:
        return domain in (sender or "").lower()  # no address to read: as before, by its text
    host = address.rsplit("@", 1)[1]
    return host == domain or host.endswith("." + domain)


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
    check: Callable[[Message, Reading, Context], str | None]


# --- rule builders ---------------------------------------------------------------

def header(name: str, pattern: str) -> Callable[[Message, Reading, Context], str | None]:
    regex = re.compile(pattern, re.I)

    def check(message: Message, _reading: Reading, _context: Context) -> str | None:
        value = message.headers.get(name, "")
        return f"{name}: {value[:80]}" if value and regex.search(value) else None

    return check


def said(words: Phrases, where: str = "both") -> Callable[[Message, Reading, Context], str | None]:
    def check(_message: Message, reading: Reading, _context: Context) -> str | None:
        return words.find({"both": reading.both, "text": reading.text, "subject": reading.subject}[where])

    return check


def either(*checks: Callable) -> Callable[[Message, Reading, Context], str | None]:
    def check(message: Message, reading: Reading, context: Context) -> str | None:
        return next((found for found in (c(message, reading, context) for c in checks) if found), None)

    return check


# --- machine mail ----------------------------------------------------------------

def _own_mail(message: Message, _reading: Reading, context: Context) -> str | None:
    if "x-mailcomplaints-draft" in message.headers:
        return "X-Mailcomplaints-Draft header (one of our drafts)"
    if message.sender and message.sender.email == context.ours.lower():
        return f"From: {message.sender.email} (our own address)"
    if message.message_id.lower().endswith(f"@mailcomplaints.{context.our_domain}>"):
        return f"Message-ID {message.message_id} (our own)"
    return None


def _bounce(message: Message, _reading: Reading, _context: Context) -> str | None:
    content_type = message.headers.get("content-type", "").lower()
    if "multipart/report" in content_type and "disposition-notification" not in content_type:
        return "Content-Type: multipart/report (delivery status)"
    sender = message.sender.email if message.sender else ""
    if re.match(r"(mailer-daemon|postmaster|mail-daemon)@", sender):
        return f"From: {sender}"
    if message.headers.get("return-path", "").strip() == "<>":
        return "Return-Path: <>"
    return None


MACHINE_RULES: tuple[Rule, ...] = (
    Rule("own_mail", "Our own outgoing mail coming back", _own_mail),
    Rule("auto_submitted", "RFC 3834 Auto-Submitted other than 'no'", header("auto-submitted", r"^(?!\s*no\b)\S")),
    Rule("precedence", "Precedence bulk, junk or list", header("precedence", r"\b(bulk|junk|list|auto_reply)\b")),
    Rule("x_autoreply", "X-Autoreply or X-Autorespond present", either(header("x-autoreply", r"."), header("x-autorespond", r"."))),
    Rule("inbox_rules_loop", "Exchange inbox-rule loop header", header("x-ms-exchange-inbox-rules-loop", r".")),
    Rule("auto_reply_subject", "Subject of an automatic reply",
         said(phrases(r"automatic reply", r"auto[- ]?reply", r"autoreply", r"out of (the )?office", r"auto[- ]?response",
                      r"automated response", r"thank you for your (e-?mail|message)\b.{0,20}\b(received|acknowledg\w+)",
                      negatable=False), where="subject")),
    Rule("bounce", "A bounce or delivery status notification", _bounce),
    Rule("read_receipt", "A read or delivery receipt",
         either(header("content-type", r"disposition-notification"),
                said(phrases(r"^(read|delivered|not read)\s*:", r"read receipt", negatable=False), where="subject"))),
    Rule("mailing_list", "Mailing-list mail (List-Id, List-Unsubscribe)", either(header("list-id", r"."), header("list-unsubscribe", r"."))),
)


# --- intent cues ---------------------------------------------------------------------

DISSATISFACTION = phrases(
    r"(make|making|raise|raising|log|logging|lodge|file|register|want to make|wish to make) (a |an |this |my )?(formal )?complaint",
    r"formal complaint", r"complain(ing|ed)?", r"i am complaining", r"this is a complaint",
    r"not (at all )?(happy|satisfied|pleased|acceptable|good enough|right|fair|ok|okay)", r"unhappy", r"dissatisfied",
    r"disappoint\w*", r"unacceptable", r"disgust\w*", r"appall?ed", r"fed up", r"sick (and tired|of)", r"had enough",
    r"(third|fourth|fifth|3rd|4th|5th|several|countless|numerous|multiple) times?", r"(two|three|four|five|six|many|\d+) times",
    r"(over|for) and over", r"still (not|no|waiting|hasn'?t|haven'?t|isn'?t|nothing)", r"nothing has (been done|happened|changed)",
    r"(nobody|no one|no-one|no body) (has|have|came|has come|turned up|bothered|got back|called|contacted|responded|replied)",
    r"(never|didn'?t|did not|failed to|failing to) (turn(ed)? up|show(ed)? up|come|came|arrive|call(ed)? back|get back|respond|reply|fix)",
    r"no[- ]show", r"rude(ly|ness)?", r"ignor(ed|ing)", r"let down", r"poor (service|workmanship|standard|communication)",
    r"shocking", r"ridiculous", r"disgrace(ful)?", r"outrage(d|ous)?", r"useless", r"waste of (time|money)",
    r"thanks for nothing", r"not good enough", r"unbelievable", r"absolute joke", r"a joke", r"angry", r"furious", r"upset",
    r"(been|still) (waiting|chasing)", r"chas(e|ed|ing) (this|you|it|up)", r"months? (later|on|now)", r"weeks? (later|on|now)",
    r"(for|over) (two|three|four|five|six|several|many|\d+) (weeks|months)", r"put up with", r"no response", r"no reply",
    r"wrongly (charged|billed)", r"overcharg\w+", r"charged (me )?(twice|wrong\w*|incorrect\w*)", r"mistake", r"error on my",
    r"should (not|never) have", r"not been (fixed|done|repaired|sorted|resolved)", r"cancell?ed (again|twice|without)",
    r"left (me|us) (without|with no)", r"without (heating|hot water|power|electricity|water)", r"this is the (second|third|fourth)",
    r"treated (me )?(badly|unfairly|like)", r"unprofessional", r"negligen\w+", r"incompeten\w+", r"don'?t (care|listen)",
    r"(has|have|had)(n'?t| not) been (cleaned|done|touched|fixed|repaired|replaced|collected|emptied|sorted|cut|seen to|kept|mopped|signed)",
    r"(is|are) not being (done|cleaned|kept|carried out)", r"(we|i) (are|am) not (getting|receiving)", r"never (fixed|repaired|done|sorted|replaced|kept|turned up)",
    r"which it has not", r"why (is|was|has|have|are|were) (it|this|that|they|you|the \w+) (taking|been left|being allowed|allowed|left|not)",
    r"what (are you|you are|you'?re|you intend|do you intend) (going to do|doing|to do) about", r"(want|like|expect) (a |an )?(refund|compensation|apology)",
    r"refund\w*", r"compensat\w+", r"got nowhere", r"getting nowhere", r"(rung|rang|phoned|called|chased|emailed|told (them|the \w+)) (twice|repeatedly|again and again|several times|three times|four times)",
    r"none of which", r"(no|nobody|no one|no-one) (ever )?(came|turned up|showed|did|knocked|rang|called)", r"drag(ged)? on", r"allowed to continue", r"kept waiting",
    r"frustrat\w+", r"despite (several|many|repeated|numerous|my|her|his|\d+) (calls|emails|requests|reports|attempts|complaints)",
    r"lack of (any )?(update|response|communication|contact|progress|action)", r"the delay", r"no follow[- ]?up", r"(had|received) no (reply|response|update|answer)",
    r"(not|won'?t|refuse to|am not) pay(ing)? (this|it|that|for)", r"why (have|has) (i|we|my \w+) been", r"(reported|told you|rang|called|asked)[^.\n]{0,40}\band again",
    r"end of my tether",
    negatable=False,
)
PROCESS_TALK = phrases(r"how (to|residents can|people can|tenants can|customers can|can i|do i|would i|can we) (make|raise|log|pay|submit) a (complaint|compliment)",
                       r"complaints? (policy|procedure|process|performance|report|form|leaflet)", negatable=False)
COMPLAINT_DENIED = phrases(r"(this is|it'?s|i'?m) not (a |making a )?complain\w*", r"not (to|wanting to|trying to) complain",
                           r"(don'?t|do not) (want|wish|mean|need) to (make|raise|log) a (formal )?complaint", r"(not|isn'?t) (a|making a) complaint",
                           r"not anyone'?s fault", r"no one'?s fault", r"nobody'?s fault", negatable=False)
COMPLIMENT = phrases(
    r"thank(s| you)( so much| very much)?", r"compliment\w*", r"pass on my (thanks|gratitude|appreciation)", r"grateful",
    r"brilliant", r"excellent", r"fantastic", r"amazing", r"great (job|work|service)", r"(really|very) (pleased|happy|impressed)",
    r"well done", r"credit to", r"above and beyond", r"praise", r"appreciate(d)?", r"lovely job", r"spot on",
    negatable=False,
)
STRONG_PRAISE = phrases(
    r"compliment\w*", r"pass on my (thanks|gratitude|appreciation)", r"brilliant", r"excellent", r"fantastic", r"amazing",
    r"great (job|work|service)", r"(really|very|so) (pleased|impressed)", r"well done", r"credit to", r"above and beyond",
    r"praise", r"lovely job", r"couldn'?t (be|have been) happier", r"(massive|huge|big|special|heartfelt|sincere) thank(s| you)",
    r"really appreciate\w*", r"thoughtful", r"made (a|such a) (real |big |huge )?difference", r"how much (of )?a difference",
    r"did a (proper|great|fantastic|lovely|brilliant|really good) job", r"just wanted to say (a )?(big |huge |massive )?thank(s| you)", negatable=False,
)
SERVICE_REQUEST = phrases(
    r"report(ing)? (a|an|the|some)\b", r"(please|pls) (can|could|would) (someone|somebody)", r"(please|pls) (can|could|would) you (come|fix|repair|send someone|arrange|book|sort)",
    r"(can|could|would) (you|someone|somebody) (please )?(come|look|arrange|fix|repair|book|check|sort|send (someone|somebody|an? \w+))",
    r"(has|have|had) (stopped|broken|packed up|gone|died|failed)", r"(stopped|isn'?t|is not|not) working", r"(is|are) (broken|leaking|dripping|blocked|loose|cracked|faulty|out)",
    r"need(s)? (fixing|repairing|replacing|a repair|looking at|to be (fixed|repaired|replaced|looked at))", r"book (a|an|in a) (repair|appointment|visit)",
    r"arrange (a|an|for) (repair|visit|someone|appointment)", r"request (a|an) (repair|visit|new)", r"raise a (repair|job)",
    r"(light|bulb|lights) (is |are )?out", r"(dripping|leaking) (tap|pipe|toilet)", r"blocked (sink|drain|toilet)",
    r"(i'?d|i would) like to (request|report|book|arrange)", r"(please|pls) (arrange|fix|book)",
    r"(please|pls) send (someone|somebody|an? (engineer|plumber|electrician|operative|surveyor|contractor|joiner|gas engineer))", r"(when|how soon) (can|could|will) (someone|you)",
    r"(want|like|need|wanted) to report", r"letting you know", r"need (someone|somebody|you) to (come|fix|look|repair|sort)",
    r"have a word with", r"(come|someone) (and|to) (fix|look at|repair|sort)", r"get (it|them|this|that) (fixed|repaired|sorted|replaced|looked at)",
    r"(have|has) been (off|out|broken|leaking|dripping) for", r"(so it|so that it|can it|could it) (can )?be (booked|fixed|looked at|sorted|repaired)",
    r"(has|have|is|are) (cracked|snapped|come loose|fallen off|blown|split)", r"(could|can) (we|i) (have|get) (a|an|the)",
    negatable=False,
)
ENQUIRY = phrases(
    r"how (do|can|would|should) i", r"what (day|time|date|is|are|do|does)", r"when (is|are|do|does|will)", r"where (is|are|do|can|should)",
    r"can you (tell|let|confirm|advise)", r"could you (tell|let|confirm|advise)", r"(i'?d|i would) like to know", r"is it possible",
    r"do you (have|know|offer)", r"am i (able|allowed|entitled)", r"is there (a|any)", r"(quick|a) question", r"wondering (if|whether)",
    r"please (advise|confirm|let me know)", r"who (do|should|can) i (speak|talk|contact|ask|write)", r"how long (is|does|will|would)",
    r"is there anything i can do", r"(could|can) you (please )?send me", r"please send me (a|the|some|any|details|information)", r"do you publish",
    negatable=False,
)
WITHDRAWAL = phrases(
    r"withdraw(ing)? (my|the|this|our) complaint", r"(close|closing) (my|the|this|our) complaint", r"(you can|please|happy (for you )?to) (close|withdraw) (it|this|the complaint|my complaint)",
    r"(no longer|don'?t) (wish|want|need) to (pursue|complain|continue|take (it|this) (any )?further)",
    r"(consider|treat) (my|the|this) complaint (as )?(closed|withdrawn|resolved)", r"(drop|dropping) (my|the|this) complaint",
    r"complaint (can be|can now be) (closed|withdrawn)", r"(i'?m|i am|we'?re|we are) withdrawing",
    r"(please )?disregard my (email|e-mail|message|letter|complaint)", r"(do not|don'?t|no longer) (wish|want|need) to take (it|this|the matter|things|my complaint) (any )?further",
    r"(you|u) can (now )?close (this|it)( off| now)?", r"(please )?close (this|it) (off|down|now)", r"no need (for you )?to (carry on|continue|take (it|this) further|pursue|investigate)",
    r"withdraw (what i sent|my email|my e-mail|my message|it|this)", r"(consider|treat) (this|it|the matter) (as )?(closed|resolved|sorted)",
)
ESCALATION = phrases(
    r"escalat\w*", r"stage (2|two)", r"(next|second|final) stage", r"(review|reconsider|look at|re-?examine) (of )?(my|this|the|our) complaint( again)?",
    r"(complaint|it|this|decision) (to be |be )?(reviewed|looked at again|reconsidered)", r"(want|like|need|ask for|asking for|request) (a |the |your )?(manager|senior manager|senior|someone (more )?senior|director|supervisor)",
    r"(manager|someone senior|senior manager) to (look at|review|deal with|investigate)", r"take (this|it|my complaint|the matter|things) further",
    r"appeal (against )?(the|your|this)? ?(decision|outcome|response)?", r"request(ing)? a review", r"ask(ing)? for a review",
    r"(someone|somebody|a person|an officer|a manager) (more )?senior", r"more senior (member of staff|officer|person|manager|colleague)",
    r"(a |have a )?fresh (look|pair of eyes)", r"(looked at|look at (it|this|the whole thing)|looked into|considered) again", r"(whoever|the person|someone) (is )?above you",
    r"pass (this|it) (on )?(up|to)( your)? (manager|boss|line manager|supervisor|superiors?|whoever)", r"independent (review|look|investigation)",
    r"(someone|somebody) (who|that) (had|has|was) (nothing to do with|no involvement|not involved|not been involved)",
    r"(passed|pass (it|this) on|referred|sent|put) (on )?(up )?to (a|the|your) (senior manager|manager|supervisor|director|line manager)",
    r"put (my complaint|this|it) through to",
)
ABOUT_RESPONSE = phrases(
    r"(not|still not|am not|i'?m not) (happy|satisfied|content) with (your|the|this) (response|reply|decision|outcome|answer|letter|findings|investigation)",
    r"(don'?t|do not|cannot|can'?t|won'?t) accept (your|the|this) (response|reply|decision|outcome|answer|findings)",
    r"disagree with (your|the|this) (response|reply|decision|outcome|findings)", r"(your|the) (response|reply|decision|outcome) (is|was) (not|wrong|unacceptable|rubbish)",
    r"(still|remain) (not happy|unhappy|dissatisfied)", r"i am still not happy", r"doesn'?t (resolve|address|answer)",
    r"(i|we) (do not|don'?t) agree with (your|the|this) (findings|decision|outcome|response|letter|answer|conclusion)",
    r"(not|am not|i'?m not) accepting (this|your|the) (answer|response|decision|outcome|letter)",
    r"(not|am not|i'?m not) (happy|satisfied|content) with (it|this|that|your letter)", r"(your|the) letter (does not|doesn'?t) (address|mention|explain|deal with)",
    negatable=False,
)

INTENT_RULES: tuple[Rule, ...] = (
    Rule("withdrawal", "The resident withdraws the complaint", said(WITHDRAWAL, "text")),
    Rule("escalation_request", "The resident asks for the complaint to go further (stage 2, a manager, a review)", said(ESCALATION)),
    Rule("response_rejected", "The resident does not accept our response", said(ABOUT_RESPONSE, "text")),
    Rule("dissatisfaction", "Words of complaint or dissatisfaction", said(DISSATISFACTION)),
    Rule("complaint_denied", "The writer says this is not a complaint", said(COMPLAINT_DENIED, "text")),
    Rule("compliment", "Thanks or praise", said(COMPLIMENT, "text")),
    Rule("praise", "Clear praise for a person or a service", said(STRONG_PRAISE, "text")),
    Rule("service_request", "A request for a service, such as reporting a repair", said(SERVICE_REQUEST)),
    Rule("enquiry", "A question", either(said(ENQUIRY, "text"), lambda m, r, c: "?" if "?" in r.text else None)),
    Rule("process_talk", "Talk about the complaints process itself, not a complaint", said(PROCESS_TALK, "text")),
)


# --- signals that are case flags ---------------------------------------------------------

ELECTED = phrases(r"\bMP\b", r"member of parliament", r"councillor", r"\bcllr\b", r"constituen\w+", r"office of [\w .'-]{2,40} MP",
                  r"caseworker", r"parliamentary", negatable=False)
REPRESENTATIVE = phrases(
    r"on behalf of", r"writing (for|about) my (mother|mum|father|dad|nan|gran|grandmother|grandfather|sister|brother|son|daughter|aunt|uncle|client|tenant|neighbour)",
    r"i am (her|his|their|the tenant'?s) (carer|daughter|son|advocate|support worker|social worker|representative|niece|nephew)",
    r"(my|our) (client|constituent|service user)", r"advocate\b", r"advocacy", r"support worker", r"social worker",
    r"(with|have) (her|his|their) (consent|permission|authority)", r"acting for", r"authority to act", r"(mum|mother|dad|father)('s)? (flat|home|house|tenancy|boiler|property)",
    r"(asked|wanted) me to (write|email|e-mail|get in touch|contact|let you know)", r"i'?m (the|his|her|their) (carer|support worker|advocate|social worker)",
    r"i am (the|his|her|their) (carer|support worker|advocate|social worker)", r"(carer|advocate|support worker|social worker) for (mr|mrs|ms|miss|my|a)",
    r"\((daughter|son|carer|advocate|niece|nephew|granddaughter|grandson)\)", r"on (his|her|their) behalf",
    r"(asked|wanted) me to (deal with|handle|take over|look after|take this on)",
    negatable=False,
)
VULNERABILITY = phrases(
    r"disab\w+", r"wheelchair", r"cancer", r"chemo\w*", r"terminal\w*", r"pregnan\w+", r"newborn", r"new[- ]born", r"(a |my |our )baby",
    r"toddler", r"(\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten)[- ](year|month|week)s?[- ]old", r"young (children|child|kids|family)",
    r"elderly", r"pensioner", r"(in (her|his|their) )?(80|90)s", r"aged (7|8|9)\d", r"\b(7|8|9)\d (years old|year old)", r"asthma\w*", r"copd", r"dementia",
    r"mental health", r"depress\w+", r"anxiety", r"autis\w+", r"blind", r"deaf", r"oxygen", r"frail", r"vulnerable", r"chronic",
    r"mobility", r"learning disabilit\w+", r"stroke", r"heart condition", r"diabet\w+", r"dialysis", r"ptsd", r"epilep\w+",
    r"breathing (problems|difficulties)", r"lung (condition|disease)", r"immun\w+", r"carer",
    r"(i am|i'?m|he is|he'?s|she is|she'?s|mum is|dad is|mother is|father is|aged|age) (6[5-9]|[7-9]\d|1[01]\d)", r"children under (\d+|two|three|four|five|ten)",
    r"partially sighted", r"visually impaired", r"hard of hearing", r"lives alone", r"unsteady on (her|his|my|their) feet", r"(her|his) (ot|occupational therapist)",
    r"(a|my|our) (\d+|nine|ten|six)[- ]month[- ]old",
)
HEALTH_SAFETY = phrases(
    r"damp\w*", r"mou?ld\w*", r"black spots", r"condensation", r"gas (leak|smell)", r"smell(s|ing)? (of )?gas", r"carbon monoxide", r"\bco alarm",
    r"exposed wir\w+", r"electric(al)? (shock|fault|hazard)", r"spark(s|ing)", r"live wire", r"bare wires", r"fuse ?box", r"burning smell",
    r"fire (door|alarm|exit|risk|hazard|safety)", r"smoke alarm", r"(fell|fallen|tripped|slipped) (on|down|over|in)", r"injur\w+",
    r"hurt (her|his|my|their|herself|himself|myself) ?(wrist|leg|arm|back|head|hip|ankle)?", r"rotten (floor|floorboards|joists|stairs|timber)",
    r"floor\w*[^.\n]{0,40}\b(rotten|hole|giving way|collapsing)", r"(go|fall) through (it|the floor)", r"(plaster|ceiling)[^.\n]{0,20}\b(came down|fell|falling|come down)", r"structural\w*", r"(large |big |huge )?crack(s|ed)? (in|on|across) the (wall|ceiling|floor)",
    r"ceiling (has )?(collapsed|collapsing|falling|fell|caving)", r"collaps\w+", r"subsidence", r"no heating", r"no hot water", r"without (heating|hot water)",
    r"(heating|boiler)( has| is)? (broken|not working|stopped|packed up|off)", r"no (power|electricity)", r"asbestos", r"sewage", r"flood\w*",
    r"(water|leak\w*) (coming )?(through|from) the (ceiling|light)", r"rats?\b", r"mice", r"vermin", r"infestation", r"unsafe", r"dangerous",
    r"trip(ping)? hazard", r"(loose|broken) (handrail|banister|stair)", r"legionella", r"cold (flat|house|home)", r"freezing",
    r"crack\w*[^.\n]{0,40}\b(wall|ceiling|floor|brickwork|render|foundations?|chimney)s?", r"(ceiling|roof|wall)[^.\n]{0,40}\b(sagging|bowing|bow|bulging)",
    r"water[^.\n]{0,40}\bcoming (in|through)", r"leak\w*[^.\n]{0,20}\bcoming through", r"isn'?t safe", r"not safe", r"fire risk",
)
REASONABLE_ADJUSTMENT = phrases(
    r"large print", r"big(ger)? (print|font|writing)", r"interpret(er|ing)", r"translat\w+", r"(another|other|my (own|first)) language",
    r"english is (not|my second)", r"(phone|telephone) (calls? )?only", r"(please )?(phone|call|ring) (me )?(rather than|instead of|not)",
    r"(can'?t|cannot|struggle to|unable to) (read|write|use email|use a computer)", r"easy[- ]read", r"\bbsl\b", r"sign language",
    r"hearing loop", r"braille", r"dyslex\w+", r"reasonable adjustment\w*", r"audio (version|format)", r"text (me )?(rather|instead)",
    r"(in|by) (polish|urdu|arabic|punjabi|bengali|somali|romanian|portuguese|spanish|french|gujarati|tigrinya|farsi|kurdish)",
    r"(cannot|can'?t|unable to) use the (phone|telephone)", r"contact(ed)? (me )?by (text|email|e-mail|letter)( or (text|email|e-mail|letter))?( only)?",
    r"(text|email|e-mail)( or (text|email|e-mail))? only", r"need to be contacted by",
)
ASB = phrases(
    r"anti[- ]?social", r"\basb\b", r"noise (from|coming from|next door|upstairs|downstairs)", r"noisy neighbour\w*", r"(loud|constant) (music|parties|banging|shouting)",
    r"harass\w*", r"intimidat\w*", r"drug (dealing|use|dealers)", r"dealing drugs", r"threaten\w* (me|us|my)", r"neighbour dispute", r"verbal abuse from",
    r"racial abuse", r"hate crime", r"vandal\w*", r"graffiti", r"shout\w* abuse", r"calling (us|me|my \w+) names", r"threw (something|stones|eggs|things)",
    r"go back where", r"shout\w* at (me|us|my|our)", r"(sort|sorting) (him|her|them|us|me) out", r"grass(ing)? (on|up)|grassing", r"neighbour[^.\n]{0,60}\b(abuse|shouting|shouts|threaten\w*|noise|harass\w*|fighting|screaming|music|barking)",
    r"(dog|dogs)[^.\n]{0,40}\b(barking|fouling|mess|loose|aggressive)", r"bark(s|ing)",
)
ABUSIVE = phrases(
    r"f+u+c+k\w*", r"f\*+k\w*", r"sh[i*]t\w*", r"bastard\w*", r"idiot\w*", r"moron\w*", r"cretin\w*", r"scum", r"tosser\w*", r"w[a*]nker\w*",
    r"piss (off|take)", r"(you'?ll|you will) (regret|pay for) (this|it)", r"watch your back", r"(come|coming) (down|round) (there|to your office) and",
    r"sort (you|them) out", r"i know where", r"brain ?dead", r"useless (idiots|lot|bunch|morons|bastards)",
    negatable=False,
)
ANONYMOUS = phrases(
    r"a concerned (resident|neighbour|tenant|member of the public|local)", r"anonymous\w*", r"(don'?t|do not|won'?t|will not|rather not|prefer not to) (want to )?(give|leave|share|say|tell you) my name",
    r"not giving my name", r"(without|won'?t) giving (my )?name", r"name withheld",
    r"(rather not|prefer not to|don'?t want to|won'?t|will not) (say|give|tell you|share) (who i am|my name|my details)",
    r"not (putting|giving|signing|leaving) my name", negatable=False,
)
ANONYMOUS_SIGNOFF = re.compile(r"(?im)^\s*(just |from )?(a|an) (concerned |worried |fed[- ]up |local )?(\w+ )?(tenant|resident|neighbour|local|customer)\s*$")
OMBUDSMAN = phrases(r"ombudsm[ae]n", r"\bhos\b", negatable=False)
LEGAL = phrases(
    r"solicitors?", r"lawyers?", r"legal action", r"legal (advice|proceedings|claim|route)", r"(take|taking) (you|them|this|it|the (council|association|landlord)) to court",
    r"court (action|case|proceedings|claim|order)", r"county court", r"small claims", r"disrepair claim", r"housing disrepair", r"letter (before|of) (action|claim)",
    r"pre-?action protocol", r"sue (you|them)", r"suing", r"no win,? no fee", r"claims? (company|firm|management)", r"issued (a|proceedings)",
)
INSURANCE = phrases(
    r"(my|our|your|the) insurers?", r"insurance (claim|company|policy)", r"claim (on|against|through) (your|the|my|our) insurance",
    r"(contents|home|buildings) insurance", r"public liability", r"(make|making|put in|submit|submitting) a claim (for|against)",
)
PETITION = phrases(r"petition", r"we,? the undersigned", r"signed by (\d+|all|every|the following)", r"signatories", r"signatures", negatable=False)

MONTHS = "january february march april may june july august september october november december".split()
SINCE = re.compile(
    r"\b(since|from|back in|started in|began in|in|as far back as|going on since|ever since)\s+"
    r"((?P<month>" + "|".join(m[:3] + r"\w*" for m in MONTHS) + r")\s+)?(?P<year>(19|20)\d\d)\b", re.I)
DURATION = re.compile(r"\b(for|over|nearly|almost|more than|going on|at least)\s+(?P<n>\d+|a|one|two|three|four|five|six|seven|eight|nine|ten|eighteen)\s+(?P<unit>years?|months?)\b", re.I)
WORD_NUMBERS = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eighteen": 18}


def _months_ago(message: Message, reading: Reading, context: Context) -> str | None:
    """The issue began longer ago than the landlord's time limit allows."""
    if not context.time_limit_months:
        return None
    received: date = local(message.delivered_at).date()
    for match in SINCE.finditer(reading.text):
        month = next((i + 1 for i, m in enumerate(MONTHS) if match.group("month") and m.startswith(match.group("month")[:3].lower())), 1)
        months = (received.year - int(match.group("year"))) * 12 + received.month - month
        if months > context.time_limit_months:
            return f"\"{match.group(0)}\": about {months} months before it was raised (limit {context.time_limit_months})"
    for match in DURATION.finditer(reading.text):
        count = int(match.group("n")) if match.group("n").isdigit() else WORD_NUMBERS[match.group("n").lower()]
        months = count * (12 if match.group("unit").lower().startswith("year") else 1)
        if months > context.time_limit_months:
            return f"\"{match.group(0)}\": more than the {context.time_limit_months}-month limit"
    return None


def _lookalike(message: Message, _reading: Reading, context: Context) -> str | None:
    """The sender's domain imitates ours, the Housing Ombudsman's or a trusted
    sender's (domain.lookalike names the rule and both domains)."""
    if not message.sender or "@" not in message.sender.email:
        return None
    found = imitated(message.sender.email.rsplit("@", 1)[1], context.protected_domains)
    return found.evidence if found else None


def _anonymous(message: Message, reading: Reading, context: Context) -> str | None:
    found = ANONYMOUS.find(reading.both)
    if found:
        return found
    signoff = ANONYMOUS_SIGNOFF.search(reading.text)
    if signoff and not (message.sender and message.sender.name):
        return f"signed \"{signoff.group(0).strip()}\""
    local_part = message.sender.email.split("@")[0] if message.sender else ""
    if not message.sender or re.match(r"(anon|anonymous|no-?name|unknown|concerned)", local_part, re.I):
        return f"From: {message.sender.email if message.sender else '(none)'}"
    return None


FLAG_RULES: tuple[Rule, ...] = (
    Rule("representative", "Written on the resident's behalf (family, advocate, MP, councillor)", either(said(REPRESENTATIVE), said(ELECTED))),
    Rule("elected_representative", "An MP, councillor or their office", said(ELECTED)),
    Rule("vulnerability", "A vulnerable person is mentioned", said(VULNERABILITY, "text")),
    Rule("health_and_safety", "A risk to health or safety (Awaab's Law)", said(HEALTH_SAFETY)),
    Rule("reasonable_adjustment", "A request for a reasonable adjustment", said(REASONABLE_ADJUSTMENT, "text")),
    Rule("asb", "Anti-social behaviour", said(ASB)),
    Rule("abusive", "Abusive or threatening language", said(ABUSIVE, "text")),
    Rule("anonymous", "The writer does not give their name", _anonymous),
    Rule("ombudsman_mentioned", "The Housing Ombudsman is mentioned", said(OMBUDSMAN, "text")),
    Rule("legal_action", "Legal action, a solicitor or a disrepair claim", said(LEGAL, "text")),
    Rule("insurance_claim", "An insurance claim", said(INSURANCE, "text")),
    Rule("time_limit", "The issue began longer ago than the policy's time limit", _months_ago),
    Rule("petition", "A petition or a complaint signed by many", said(PETITION, "text")),
    Rule("lookalike_sender", "The sender's domain imitates ours, the Housing Ombudsman's or a trusted sender's", _lookalike),
)
FLAG_NAMES = ("representative", "vulnerability", "health_and_safety", "reasonable_adjustment", "asb", "abusive",
              "anonymous", "ombudsman_mentioned", "legal_action", "insurance_claim", "time_limit", "lookalike_sender")


def run_rules(rules: tuple[Rule, ...], message: Message, reading: Reading, context: Context) -> list[Signal]:
    signals = []
    for rule in rules:
        evidence = rule.check(message, reading, context)
        if evidence:
            signals.append(Signal(rule.name, evidence[:200]))
    return signals


@dataclass(frozen=True)
class Classification:
    machine: bool
    signals: tuple[Signal, ...]

    @property
    def flags(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.signals if s.name in FLAG_NAMES)

    def has(self, name: str) -> bool:
        return any(s.name == name for s in self.signals)

    def intent(self, threaded: bool, responded: bool = False) -> str:
        """The message's intent, given whether it joined an existing case and
        whether that case has had a stage response."""
        if self.machine:
            return "machine"
        if threaded:
            if self.has("withdrawal"):
                return "withdrawal"
            if self.has("escalation_request") or (responded and self.has("response_rejected")):
                return "escalation_request"
            if self.has("praise") and not self.has("dissatisfaction") and not self.has("process_talk"):
                return "compliment"
            return "further_information"
        if self._complains():
            return "new_complaint"
        if self.has("praise") and not self.has("process_talk"):
            return "compliment"
        if self.has("service_request") or self.has("asb"):
            return "service_request"  # a first report, of a repair or of a neighbour, is a service request
        if self.has("enquiry"):
            return "enquiry"
        if self.has("compliment"):
            return "compliment"
        return "new_complaint"  # the Code: dissatisfaction "however made"; an officer can correct it

    def _complains(self) -> bool:
        """Dissatisfaction with the landlord. Not when the writer says it is not a
        complaint, nor when "complaint" is only talk about the process; a first
        report about a neighbour complains of the neighbour, not of us."""
        evidence = next((s.evidence.lower() for s in self.signals if s.name == "dissatisfaction"), "")
        if not (evidence or self.has("response_rejected")) or self.has("complaint_denied"):
            return False
        only_the_word = evidence.startswith(("complain", "make", "making", "raise", "log", "lodge", "file", "register", "want to", "wish to", "formal"))
        if only_the_word and self.has("process_talk"):
            return False
        if self.has("asb") and only_the_word:
            return False
        return True


def classify(message: Message, context: Context) -> Classification:
    reading = reading_of(message, context)
    machine = run_rules(MACHINE_RULES, message, reading, context)
    if machine:
        return Classification(True, tuple(machine))
    return Classification(False, tuple(run_rules(INTENT_RULES, message, reading, context) + run_rules(FLAG_RULES, message, reading, context)))
