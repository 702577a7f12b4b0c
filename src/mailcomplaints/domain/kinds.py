"""What a first message is *for this landlord*: the policy decides the kind.

The same MP's letter is a complaint at Southway and an enquiry at Connect
(1.17); an anonymous complaint is handled at Southway (5.6) and not at
Connect (1.10); a petition is one complaint at Alliance Homes (2.1.6). The
kind comes with the reason and the policy section, for the officer.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailcomplaints.domain.classify import Classification
from mailcomplaints.domain.policy import Policy

INTENT_TO_KIND = {
    "new_complaint": "complaint",
    "compliment": "compliment",
    "service_request": "service_request",
    "enquiry": "enquiry",
}


@dataclass(frozen=True)
class KindDecision:
    kind: str
    reason: str = ""


def kind_for(intent: str, verdict: Classification, policy: Policy) -> KindDecision:
    kind = INTENT_TO_KIND.get(intent, "complaint")
    if kind != "complaint":
        return KindDecision(kind)
    rules = policy.complainants
    anonymous = rules.get("anonymous", {})
    if verdict.has("anonymous") and anonymous.get("accepted") is False:
        return KindDecision("not_a_complaint", f"{policy.landlord} does not handle anonymous complaints ({anonymous.get('ref', 'policy')})")
    elected = rules.get("elected_representative", {})
    if verdict.has("elected_representative") and elected.get("treated_as") == "not_a_complaint":
        return KindDecision("enquiry", f"{policy.landlord} does not treat MP and councillor enquiries as complaints ({elected.get('ref', 'policy')})")
    return KindDecision("complaint")
