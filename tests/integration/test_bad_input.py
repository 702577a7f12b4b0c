"""Bad configs and bad policy files: exit 2, one plain line on stderr naming
what to fix, never a traceback (CONTRACT.md, "Exit codes")."""

from __future__ import annotations

import pytest

from conftest import Landlord, assert_bad_input

LANDLORD = '[landlord]\nname = "Reliance Housing"\npolicy = "reliance"\n'
MAILBOX = '[mailbox]\nbackend = "maildir"\naddress = "complaints@reliance.example.org"\npath = "mailbox"\n'
DATABASE = '[database]\nurl = "sqlite:///db.sqlite"\n'


def config(landlord: str = LANDLORD, mailbox: str = MAILBOX, extra: str = "") -> str:
    return "\n".join((landlord, extra, mailbox, DATABASE))


# (test id, config text, words the error line must contain)
BAD_CONFIGS = [
    ("invalid TOML", config(landlord='[landlord]\nname = "Reliance Housing\npolicy = "reliance"\n'), ("TOML",)),
    ("missing [landlord]", config(landlord=""), ("[landlord]",)),
    ("unknown backend", config(mailbox='[mailbox]\nbackend = "pop3"\naddress = "complaints@reliance.example.org"\n'),
     ("backend", "pop3")),
    ("bad reference prefix", config(extra='[cases]\nreference_prefix = "C-M"\n'), ("[cases]", "prefix")),
    ("bad reference digits", config(extra='[cases]\nreference_digits = 2\n'), ("[cases]", "digits")),
    ("address without @", config(mailbox='[mailbox]\nbackend = "maildir"\naddress = "complaints"\npath = "mailbox"\n'),
     ("address",)),
    ("password in the file", config(mailbox=MAILBOX + 'password = "x"\n'), ("password", "password_env")),
    ("security none, remote host",
     config(mailbox='[mailbox]\nbackend = "imap"\naddress = "complaints@reliance.example.org"\n'
                    'host = "imap.example.org"\nsecurity = "none"\nusername = "c"\npassword_env = "P"\n'),
     ("security", "loopback")),
    ("imap without a host",
     config(mailbox='[mailbox]\nbackend = "imap"\naddress = "complaints@reliance.example.org"\npassword_env = "P"\n'),
     ("[mailbox]", "host")),
    ("imap without a way to log in",
     config(mailbox='[mailbox]\nbackend = "imap"\naddress = "complaints@reliance.example.org"\nhost = "imap.example.org"\n'),
     ("password_env",)),
    ("imap without [smtp]",
     config(mailbox='[mailbox]\nbackend = "imap"\naddress = "complaints@reliance.example.org"\nhost = "imap.example.org"\npassword_env = "P"\n'),
     ("[smtp]",)),
    ("bad metrics port", config(extra='[daemon]\nmetrics_port = 70000\n'), ("metrics_port",)),
    ("bad closure day", config(extra='[calendar]\nclosure_days = ["2026-12-32"]\n'), ("closure_days", "2026-12-32")),
    ("bad cutoff", config(extra='[calendar]\ncutoff = "5pm"\n'), ("cutoff", "5pm")),
    ("unknown policy name", config(landlord='[landlord]\nname = "X"\npolicy = "no-such-landlord"\n'),
     ("policy", "no-such-landlord")),
    ("unknown nation", config(extra='[calendar]\nnation = "france"\n'), ("nation", "france")),
]


@pytest.mark.parametrize("text,must_name", [pytest.param(t, n, id=i) for i, t, n in BAD_CONFIGS])
def test_bad_config(landlord: Landlord, text: str, must_name: tuple[str, ...]) -> None:
    landlord.config.write_text(text)
    assert_bad_input(landlord.run("status"), *must_name)
    assert not landlord.database.exists()  # refused before anything was created


def test_missing_config_file(landlord: Landlord) -> None:
    missing = landlord.root / "nowhere.toml"
    line = assert_bad_input(landlord.run("--config", str(missing), "cases", config=False), "nowhere.toml")
    assert "init" in line or "--config" in line


def test_default_config_missing(landlord: Landlord) -> None:
    landlord.config.unlink()  # ./mailcomplaints.toml, the default
    assert_bad_input(landlord.run("status", config=False), "mailcomplaints.toml")


UNKNOWN_WHAT = '''name = "mine"
landlord = "Reliance Housing"
extends = "housing-ombudsman-code-2024"

[[rules]]
stage = 1
what = "reply"
days = 5
unit = "working_days"
from = "receipt"
ref = "3.1"
'''


def test_policy_file_with_an_unknown_what(landlord: Landlord) -> None:
    (landlord.root / "mine.toml").write_text(UNKNOWN_WHAT)
    landlord.config.write_text(config(landlord='[landlord]\nname = "Reliance Housing"\npolicy = "mine.toml"\n'))
    assert_bad_input(landlord.run("status"), "mine.toml", "what", "reply")
    # `policy show` on the file itself says the same, without a config.
    assert_bad_input(landlord.run("policy", "show", "mine.toml", "--json", config=False), "mine.toml", "what", "reply")


def test_policy_show_unknown_name(landlord: Landlord) -> None:
    assert_bad_input(landlord.run("policy", "show", "no-such-landlord", config=False), "no-such-landlord")


def test_deadline_with_an_unknown_nation(landlord: Landlord) -> None:
    assert_bad_input(landlord.run("deadline", "2026-12-23", "--working-days", "5", "--nation", "france",
                                  config=False), "france")


SMTP_BASE = '[smtp]\nhost = "smtp.example.org"\nport = 587\nusername = "complaints@reliance.example.org"\n'


def test_smtp_password_in_the_file_is_refused(landlord: Landlord) -> None:
    landlord.config.write_text(config(extra=SMTP_BASE + 'security = "starttls"\npassword = "hunter2"\n'))
    assert_bad_input(landlord.run("status"), "password", "password_env")


def test_smtp_security_outside_the_vocabulary_is_refused(landlord: Landlord) -> None:
    landlord.config.write_text(config(extra=SMTP_BASE + 'security = "ssl"\npassword_env = "MAILCOMPLAINTS_SMTP_PASSWORD"\n'))
    assert_bad_input(landlord.run("status"), "security", "ssl")


def test_smtp_security_none_needs_a_loopback_host(landlord: Landlord) -> None:
    landlord.config.write_text(config(extra=SMTP_BASE + 'security = "none"\n'))
    assert_bad_input(landlord.run("status"), "[smtp]", "security", "loopback")


def test_an_imap_password_variable_that_is_not_set_is_named(landlord: Landlord) -> None:
    landlord.config.write_text(config(mailbox='[mailbox]\nbackend = "imap"\naddress = "complaints@reliance.example.org"\n'
                                              'host = "127.0.0.1"\nsecurity = "none"\npassword_env = "MAILCOMPLAINTS_UNSET_FOR_TEST"\n',
                                      extra='[smtp]\nhost = "127.0.0.1"\nsecurity = "none"\n'))
    assert_bad_input(landlord.run("ingest"), "MAILCOMPLAINTS_UNSET_FOR_TEST", "password_env")


def test_a_secrets_file_others_can_read_is_refused_and_a_private_one_is_used(landlord) -> None:
    secrets = landlord.root / "secrets.env"
    secrets.write_text("MAILCOMPLAINTS_TEST_SECRET_IN_FILE=s3cret\n")
    secrets.chmod(0o644)
    mailbox = ('[mailbox]\nbackend = "imap"\naddress = "complaints@reliance.example.org"\nhost = "127.0.0.1"\nport = 1\n'
               'security = "none"\npassword_env = "MAILCOMPLAINTS_TEST_SECRET_IN_FILE"\n')
    landlord.config.write_text(config(mailbox=mailbox, extra=f'[smtp]\nhost = "127.0.0.1"\nsecurity = "none"\n\n[secrets]\nfile = "{secrets}"\n'))
    assert_bad_input(landlord.run("ingest"), "chmod 600", "secrets.env")
    secrets.chmod(0o600)
    rc, _, err = landlord.run("ingest")  # the password is found; nothing listens on port 1, so the mailbox fails instead
    assert rc == 1 and "127.0.0.1:1" in err and "s3cret" not in err
