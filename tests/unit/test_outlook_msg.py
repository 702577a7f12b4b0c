"""An Outlook .msg forward (an OLE compound file) is read for its subject,
sender, Message-ID and body. The file is built here, to the published CFB
layout, since no library in reach writes one."""

from __future__ import annotations

import struct
from datetime import datetime, timezone
from email.message import EmailMessage
from email.policy import SMTP

from mailcomplaints.mail.message import parse_message

SECTOR = 512
FREE, END, FAT = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD


def _entry(name: str, kind: int, start: int, size: int, child: int = FREE, right: int = FREE) -> bytes:
    encoded = (name + "\x00").encode("utf-16-le")
    return (encoded.ljust(64, b"\x00") + struct.pack("<HBB", len(encoded), kind, 1)
            + struct.pack("<III", FREE, right, child) + bytes(16) + bytes(4) + bytes(16)
            + struct.pack("<IIi", start, size, 0))


def outlook_msg(properties: dict[str, str]) -> bytes:
    """A compound file holding MAPI string properties as __substg1.0_TTTT001F streams.
    Streams are padded to 4096 bytes so they live in the regular FAT, not the mini stream."""
    streams = [(f"__substg1.0_{tag}001F", value.encode("utf-16-le").ljust(4096, b"\x00")) for tag, value in properties.items()]
    directory_sectors = (len(streams) + 1 + 3) // 4
    fat, data, next_sector = [FAT], b"", 1 + directory_sectors
    fat += [1 + i + 1 if i + 1 < directory_sectors else END for i in range(directory_sectors)]
    entries = [_entry("Root Entry", 5, END, 0, child=1)]
    for index, (name, payload) in enumerate(streams):
        count = len(payload) // SECTOR
        entries.append(_entry(name, 2, next_sector, len(payload), right=index + 2 if index + 1 < len(streams) else FREE))
        fat += [next_sector + i + 1 if i + 1 < count else END for i in range(count)]
        data += payload
        next_sector += count
    directory = b"".join(entries).ljust(directory_sectors * SECTOR, b"\x00")
    fat_sector = struct.pack(f"<{SECTOR // 4}I", *(fat + [FREE] * (SECTOR // 4 - len(fat))))
    header = (bytes.fromhex("D0CF11E0A1B11AE1") + bytes(16) + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6) + bytes(6)
              + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, END, 0, END, 0)
              + struct.pack("<109I", 0, *([FREE] * 108)))
    return header + fat_sector + directory + data


def test_a_forwarded_outlook_msg_is_read():
    original = outlook_msg({
        "0037": "Damp in the back bedroom",
        "0C1F": "jane.doe@example.net",
        "1035": "<original-123@example.net>",
        "1000": "The damp in the back bedroom is back and nobody has come.",
    })
    forward = EmailMessage(policy=SMTP)
    forward["From"], forward["To"], forward["Subject"] = "Jane Doe <jane.doe@example.net>", "complaints@landlord.example.org", "FW: damp"
    forward.set_content("Forwarding my earlier email, still waiting.")
    forward.add_attachment(original, maintype="application", subtype="vnd.ms-outlook", filename="Damp.msg")
    message = parse_message(forward.as_bytes(), datetime(2026, 11, 23, 10, tzinfo=timezone.utc))
    (inner,) = message.embedded
    assert (inner.how, inner.message_id, inner.subject, inner.sender) == (
        "outlook-msg", "<original-123@example.net>", "Damp in the back bedroom", "jane.doe@example.net")
    assert inner.text.startswith("The damp in the back bedroom is back")
    assert message.embedded_ids == ("<original-123@example.net>",)
    assert [a.filename for a in message.attachments] == ["Damp.msg"]


def test_a_broken_msg_attachment_does_not_lose_the_message():
    forward = EmailMessage(policy=SMTP)
    forward["From"], forward["Subject"] = "jane@example.net", "FW"
    forward.set_content("See attached.")
    forward.add_attachment(b"not an OLE file", maintype="application", subtype="vnd.ms-outlook", filename="x.msg")
    message = parse_message(forward.as_bytes(), datetime(2026, 11, 23, 10, tzinfo=timezone.utc))
    assert message.new_text == "See attached."
    assert message.attachments[-1].filename.startswith("unreadable part")
