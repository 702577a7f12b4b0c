"""`init`: a working config for a new landlord: Maildir and SQLite to start
with, or an IMAP mailbox with its SMTP server."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from mailcomplaints.config import ConfigError, load_config
from mailcomplaints.policies import load_policy

TEMPLATE = '''# mailcomplaints config for {landlord} (see config.example.toml for every key)

[landlord]
name = "{landlord}"
policy = "{policy}"
# homes = 2400                # homes owned, for the TSM CH01 rate

[team]
name = "Complaints Team"
default_officer = "Complaints Team"

[calendar]
nation = "{nation}"
closure_days = []
cutoff = "{cutoff}"

{mailbox}
[database]
url = "sqlite:///{database_path}"
'''

MAILDIR = '''[mailbox]
backend = "maildir"
address = "{address}"
path = "{mailbox_path}"
'''

IMAP = '''[mailbox]
backend = "imap"
address = "{address}"
host = "{host}"
port = {port}
security = "{security}"          # tls | starttls; certificates are verified
password_env = "{password_env}"  # the environment variable holding the password
# oauth2_token_command = "/usr/local/bin/get-token"   # instead of a password (XOAUTH2)

[smtp]
host = "{smtp_host}"
port = {smtp_port}
security = "{smtp_security}"
{smtp_login}'''

SMTP_LOGIN = '''username = "{address}"
password_env = "{smtp_password_env}"
'''


@dataclass(frozen=True)
class ImapServer:
    """Where an IMAP mailbox and its SMTP server are, for `init --backend imap`."""

    host: str
    smtp_host: str
    port: int = 993
    security: str = "tls"
    smtp_port: int = 587
    smtp_security: str = "starttls"
    password_env: str = "MAILCOMPLAINTS_IMAP_PASSWORD"
    smtp_password_env: str | None = "MAILCOMPLAINTS_SMTP_PASSWORD"  # None: the SMTP server takes mail without a login


def config_text(*, landlord: str, policy: str, address: str, mailbox_path: str = "var/mailbox",
                database_path: str = "var/mailcomplaints.db", imap: ImapServer | None = None) -> str:
    loaded = load_policy(policy, relative_to=Path.cwd())
    quoted = landlord.replace("\\", "\\\\").replace('"', '\\"')
    if imap is None:
        mailbox = MAILDIR.format(address=address, mailbox_path=mailbox_path)
    else:
        login = SMTP_LOGIN.format(address=address, smtp_password_env=imap.smtp_password_env) if imap.smtp_password_env else ""
        mailbox = IMAP.format(address=address, smtp_login=login, **{k: v for k, v in asdict(imap).items() if k != "smtp_password_env"})
    return TEMPLATE.format(landlord=quoted, policy=policy, nation=loaded.nation, cutoff=loaded.cutoff.strftime("%H:%M"),
                           mailbox=mailbox, database_path=database_path)


def write_config(target: Path, *, landlord: str, policy: str, address: str, force: bool = False,
                 imap: ImapServer | None = None) -> Path:
    if target.exists() and not force:
        raise ConfigError(f"{target} already exists; pass --force to overwrite it")
    if "@" not in address:
        raise ConfigError(f"--address {address!r} is not an email address")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(config_text(landlord=landlord, policy=policy, address=address.lower(), imap=imap))
    load_config(target)  # what we write must load
    return target
