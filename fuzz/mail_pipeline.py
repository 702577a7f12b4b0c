"""Coverage-guided fuzzing (atheris, libFuzzer) of the mail pipeline's pure
core: bytes -> parse -> classify -> thread -> the headers of our reply.

    .venv/bin/python fuzz/mail_pipeline.py -max_total_time=60 [more libFuzzer flags]

Every input must satisfy fuzz/properties.py (only UnreadableMessage may
escape the parser; any address we would reply to is one valid address; our
reply's headers hold no CR/LF; ...). A failed property or any other exception
is a crash: libFuzzer saves the input (`-artifact_prefix=DIR/`) and exits 1.

Seeds are made at start-up in a temporary folder (or `--seeds DIR`, kept):
the real-world mail of ../shared/corpora, read in place and never copied into
the repository (MAILCOMPLAINTS_CORPORA names another folder), the project's
own test corpus, and small versions of the hostile cases (issue #8).
Corpus folders given as arguments are used as well, as libFuzzer does.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

with atheris.instrument_imports(include=["mailcomplaints", "email", "properties"]):
    import properties

MAX_SEED = 64 * 1024  # libFuzzer's -max_len here: seeds longer than this are not used


def _mail(headers: str, body: bytes | str) -> bytes:
    body = body.encode("utf-8", "surrogateescape") if isinstance(body, str) else body
    return headers.replace("\n", "\r\n").encode("utf-8", "surrogateescape") + b"\r\n\r\n" + body


def hostile_seeds() -> dict[str, bytes]:
    """Small versions of the hostile corpus (tests/integration/test_hostile_mail.py
    has them at full size), and mail that makes each threading rule fire."""
    to = "To: complaints@landlord.example.org"
    nested = b"I want to make a complaint about the lift.\n"
    for level in range(60):
        nested = (f'Content-Type: multipart/mixed; boundary="b{level}"\n\n--b{level}\n'.encode() + nested
                  + f"\n--b{level}--\n".encode())
    return {
        "long-subject": _mail(f"From: a@example.net\n{to}\nSubject: Complaint {'x' * 4000}", "I want to complain."),
        "many-recipients": _mail(f"From: a@example.net\n{to}\nCc: " + ", ".join(f"p{n}@example.org" for n in range(400))
                                 + "\nSubject: Bins", "The bins have not been emptied for three weeks."),
        "nested": b"From: d@example.net\n" + to.encode() + b"\nSubject: nested\nMIME-Version: 1.0\n" + nested,
        "many-parts": (b"From: m@example.net\nSubject: parts\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n"
                       + b"--b\n\n" * 2100 + b"--b--\n"),
        "nul-bytes": _mail(f"From: n@example.net\n{to}\nSubject: Compl\x00aint", "I want to make a complaint\x00 about the da\x00mp."),
        "bad-base64": _mail(f"From: b@example.net\n{to}\nSubject: x\nMIME-Version: 1.0\nContent-Type: text/plain\n"
                            "Content-Transfer-Encoding: base64", "!!!not base64 at all***\n=\nSGVsbG8=\nQQ"),
        "bad-qp": _mail(f"From: q@example.net\n{to}\nSubject: x\nContent-Transfer-Encoding: quoted-printable",
                        "I want to make a complaint =ZZ =\n=4 broken =C3"),
        "injection": _mail(f"From: =?utf-8?q?Evil=0D=0ABcc:_victim@example.org?= <evil@example.net>\n{to}\n"
                           "Subject: =?utf-8?q?Complaint=0D=0ABcc:_another@example.org?=", "The repair was never done."),
        "injection-raw": _mail(f"From: \"Evil\r\nBcc: v@example.org\" <evil@example.net>\n{to}\nSubject: a\rBcc: w@example.org",
                               "x"),
        "injection-charset": _mail(f"From: e@example.net\n{to}\nSubject: =?utf-9?q?Complaint=0D=0ABcc:_another@example.org?=", "x"),
        "injection-twice": _mail(f"From: e@example.net\n{to}\nSubject: =?utf-8?q?=3D=3Futf-8=3Fq=3FBoiler=3D0D=3D0ABcc=3A=5Fx"
                                 "=40example=2Eorg=3F=3D?=", "x"),
        "unicode-domain": _mail(f"From: Outlook <x@landlord.ex\xe4mple.org>\n{to}\nSubject: x", "y"),
        "quoted-long": _mail(f'From: "{"e" * 80}@elsewhere.example,thief"@example.net\n{to}\nSubject: y', "z"),
        "leading-dot": _mail("From: e@example.net\nTo: complaints@landlord.example.org, a@example.org, .b@example.org\nSubject: y", "z"),
        "quoted-local": _mail(f'From: "victim@example.org, x"@example.net\n{to}\nCc: "a,b"@example.net, a@b@c\nSubject: y', "z"),
        "lookalike": _mail(f"From: Casework <casework@housing-0mbudsman.org.uk>\n{to}\nSubject: Referral CMP-000001",
                           "We have received a complaint from your resident."),
        "lookalike-idn": _mail(f"From: x@xn--ousing-ombudsman-bbp.org.uk\n{to}\nSubject: Referral", "Please reply."),
        "reply": _mail(f"From: jane@example.net\n{to}\nSubject: RE: Your complaint CMP-000001 - Damp in bedroom\n"
                       "In-Reply-To: <draft-1.abc@mailcomplaints.landlord.example.org>\nReferences: <known-1@example.net>",
                       "Still not fixed.\n\nOn Mon, 23 Nov 2026 at 10:00, Complaints <complaints@landlord.example.org> wrote:\n> Dear Jane"),
        "closed-rewritten": _mail(f"From: jane@example.net\n{to}\nSubject: New problem with the lift\nIn-Reply-To: <closed-3@example.net>",
                                  "The lift is broken again."),
        "resend": _mail(f"From: jane@example.net\n{to}\nSubject: Fwd: damp",
                        "I want to make a complaint about the damp in my bedroom, it has been there for weeks now."),
        "html-quote": _mail(f"From: h@example.net\n{to}\nSubject: x\nContent-Type: text/html",
                            "<p>Not happy</p><blockquote><blockquote>CMP-000002<!-- x --><script>y</script></blockquote>"),
        "forward-attached": _mail(f"From: mp@example.org\n{to}\nSubject: Fwd: constituent\nMIME-Version: 1.0\n"
                                  "Content-Type: multipart/mixed; boundary=z",
                                  "--z\nContent-Type: text/plain\n\nPlease see below.\n--z\nContent-Type: message/rfc822\n\n"
                                  "From: r@example.net\nMessage-ID: <known-2@example.net>\nSubject: boiler\n\nNo heating.\n--z--\n"),
        "automatic": _mail(f"From: ooo@example.net\n{to}\nSubject: Automatic reply: x\nAuto-Submitted: auto-replied", "Away."),
    }


def seed_files() -> list[tuple[str, bytes]]:
    corpora = Path(os.environ.get("MAILCOMPLAINTS_CORPORA") or ROOT.parent / "shared" / "corpora")
    found: list[tuple[str, bytes]] = sorted(hostile_seeds().items())
    for folder in (corpora, ROOT / "tests" / "corpus"):
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.is_file() and path.suffix.lower() not in (".md", ".txt", ".toml", ".py", ".json", ".yaml") \
                        and "LICENSE" not in path.name and path.stat().st_size <= MAX_SEED:
                    found.append((f"{len(found):04d}-{folder.name}-{path.relative_to(folder)}".replace(os.sep, "_"),
                                  path.read_bytes()))
    return found


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris's name)
    properties.check(data)


def main() -> None:
    args = sys.argv[1:]
    keep = None
    if "--seeds" in args:
        at = args.index("--seeds")
        keep = Path(args[at + 1])
        del args[at:at + 2]
    holder = None
    if keep is None:
        holder = tempfile.TemporaryDirectory(prefix="mailcomplaints-fuzz-")
        keep = Path(holder.name)
    keep.mkdir(parents=True, exist_ok=True)
    seeds = seed_files()
    for name, data in seeds:
        (keep / name).write_bytes(data)
    print(f"mail_pipeline: {len(seeds)} seeds in {keep}", file=sys.stderr, flush=True)
    if not any(a.startswith("-max_len=") for a in args):
        args.append(f"-max_len={MAX_SEED}")
    atheris.Setup([sys.argv[0], *args, str(keep)], TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
