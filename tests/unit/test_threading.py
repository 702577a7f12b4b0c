"""Which case a message joins: the threading rules in order of strength."""

from datetime import datetime, timezone

from mailcomplaints.domain.threading import fingerprint, references_in, subject_key, thread
from mailcomplaints.mail.message import Address, Embedded, Message

AT = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
OUR_ACK = "<ack-1@mailcomplaints.landlord.example.org>"
DAMP_WORDS = "I have reported the damp and black mould in my son's bedroom three times and nobody has come out"


class Store:
    """The look-ups, from plain dictionaries."""

    def __init__(self, closed=(), fingerprints=None, conversations=None, open_subjects=None, subjects=None):
        self.cases = {"CMP-000001", "CMP-000002"}
        self.messages = {OUR_ACK: "CMP-000001", "<resident-first@example.net>": "CMP-000002"}
        self.closed = set(closed)
        self.fingerprints = fingerprints or {}
        self.conversations = conversations or {}
        self.open_subjects = open_subjects or {}
        self.subjects = subjects or {"CMP-000001": {"damp in bedroom"}}

    def case_exists(self, reference): return reference in self.cases
    def case_of_message(self, message_id): return self.messages.get(message_id)
    def case_of_conversation(self, conversation_id): return self.conversations.get(conversation_id)
    def case_of_fingerprint(self, value, sender=None):
        reference, by = self.fingerprints.get(value, (None, None))
        return reference if sender is None or sender == by else None
    def open_case_of(self, sender, key): return self.open_subjects.get((sender, key))
    def case_is_closed(self, reference): return reference in self.closed
    def subjects_of(self, reference): return self.subjects.get(reference, set())


def message(subject="Hello", new_text="", quoted="", in_reply_to=None, references=(), embedded=(), conversation_id=None,
            sender="r@example.net", quote_marker=""):
    return Message(message_id="<new@example.net>", subject=subject, sender=Address("", sender), to=(), cc=(),
                   delivered_at=AT, text=new_text + "\n" + quoted, in_reply_to=in_reply_to, references=references,
                   new_text=new_text, quoted=quoted, embedded=embedded, conversation_id=conversation_id, quote_marker=quote_marker)


def test_our_reference_in_the_subject_or_new_text_wins_over_everything():
    assert thread(message("Your complaint CMP-000002 - damp", in_reply_to=OUR_ACK), Store()).reference == "CMP-000002"
    body = thread(message("A new subject", "About my complaint cmp-000002, here are photos"), Store())
    assert (body.reference, body.rule) == ("CMP-000002", "reference_in_new_text")


def test_a_reply_to_any_message_of_a_case_joins_it_whatever_the_subject():
    decision = thread(message("Re: something else", in_reply_to=OUR_ACK), Store())
    assert (decision.reference, decision.rule) == ("CMP-000001", "in_reply_to")
    theirs = thread(message("Changed subject", references=("<resident-first@example.net>",)), Store())
    assert theirs.reference == "CMP-000002"


def test_the_conversation_id_joins_when_headers_are_missing():
    decision = thread(message("Photos", conversation_id="AAQk123"), Store(conversations={"AAQk123": "CMP-000002"}))
    assert (decision.reference, decision.rule) == ("CMP-000002", "conversation")


def test_a_forward_or_resend_of_a_message_we_hold_joins_its_case():
    attached = Embedded("<resident-first@example.net>", "Damp", "r@example.net", "", "rfc822")
    assert thread(message("Fwd: Damp", embedded=(attached,)), Store()).rule == "forward_of_known"
    store = Store(fingerprints={fingerprint(DAMP_WORDS): ("CMP-000001", "r@example.net")})
    resent = thread(message("Damp again", DAMP_WORDS), store)
    assert (resent.reference, resent.rule) == ("CMP-000001", "resend_of_known")
    inline = "---------- Forwarded message ---------\nFrom: R <r@example.net>\nDate: Mon\nSubject: Damp\nTo: us\n\n" + DAMP_WORDS
    forward = thread(message("Fwd: Damp", "See below, still not fixed", inline, quote_marker="forwarded"), store)
    assert (forward.reference, forward.rule) == ("CMP-000001", "forward_of_known")
    mp = thread(message("Fwd: Damp", "My constituent's email", inline, quote_marker="forwarded", sender="mp@parliament.uk"), store)
    assert mp.reference == "CMP-000001"  # a forward joins whoever sends it


def test_the_same_words_from_another_resident_are_their_own_complaint():
    """A tenants' association circulates a letter; each resident who sends it has a case."""
    store = Store(fingerprints={fingerprint(DAMP_WORDS): ("CMP-000001", "r@example.net")})
    neighbour = thread(message("Damp", DAMP_WORDS, sender="neighbour@example.net"), store)
    assert (neighbour.reference, neighbour.rule) == (None, "new_thread")


def test_same_sender_and_subject_joins_an_open_case_but_a_generic_subject_does_not():
    store = Store(open_subjects={("r@example.net", "damp in bedroom"): "CMP-000001", ("r@example.net", "complaint"): "CMP-000001"})
    assert thread(message("RE: [EXTERNAL] Damp  in bedroom"), store).rule == "same_sender_subject"
    assert thread(message("Complaint"), store).reference is None
    assert thread(message("Damp in bedroom", sender="someone-else@example.net"), store).reference is None


def test_a_rewritten_subject_on_a_closed_thread_opens_a_linked_case():
    decision = thread(message("Noise from the flat upstairs", in_reply_to=OUR_ACK), Store(closed={"CMP-000001"}))
    assert (decision.reference, decision.linked_to, decision.rule) == (None, "CMP-000001", "rewritten_subject")
    same_subject = thread(message("RE: Your complaint CMP-000001 - Damp in bedroom", in_reply_to=OUR_ACK), Store(closed={"CMP-000001"}))
    assert same_subject.reference == "CMP-000001"


def test_our_reference_only_in_the_quote_joins_after_stronger_rules():
    decision = thread(message("Question", "Thanks", "> Please keep our reference CMP-000002"), Store())
    assert (decision.reference, decision.rule) == ("CMP-000002", "reference_in_quote")


def test_an_unknown_reference_or_nothing_starts_a_new_case():
    assert thread(message("About CMP-999999"), Store()).reference is None
    assert thread(message("Damp in my flat", "It is awful"), Store()).rule == "new_thread"


def test_subject_keys_and_references():
    assert subject_key("RE: FW: [EXTERNAL] Your complaint CMP-000001 - Damp  in bedroom!") == "damp in bedroom"
    assert subject_key("AW: SV: Re[2]: Boiler") == "boiler"
    assert references_in("CMP-000001 and cmp-000002, not CMP-12") == ["CMP-000001", "CMP-000002"]
    assert fingerprint("too short") is None


def test_a_landlords_own_reference_format_is_made_and_found():
    from mailcomplaints.domain.references import ReferenceFormat
    refs = ReferenceFormat("HSG", 5)
    assert refs.make(42) == "HSG-00042"
    store = Store()
    store.cases = {"HSG-00042"}
    decision = thread(message("Re: your letter", "About hsg-00042 again"), store, refs)
    assert (decision.reference, decision.rule) == ("HSG-00042", "reference_in_new_text")
    assert thread(message("About CMP-000001"), store, refs).reference is None  # not this landlord's format
    assert subject_key("RE: Your complaint HSG-00042 - Damp") == "damp"
