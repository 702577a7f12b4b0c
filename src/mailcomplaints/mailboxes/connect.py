"""Building the configured mailbox backend from settings: the one place that
turns config keys (and the secrets they name) into a backend object."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from mailcomplaints.config import ConfigError, Settings
from mailcomplaints.mailboxes.base import Mailbox, MailboxError
from mailcomplaints.mailboxes.maildir import MaildirMailbox

DEFAULT_PORTS = {"imap": {"tls": 993, "starttls": 143, "none": 143}, "smtp": {"tls": 465, "starttls": 587, "none": 25}}


def secret(settings: Settings, section: dict, name: str, key: str) -> str | None:
    """The secret an `..._env` key names: from the environment, else from the
    secrets file `[secrets] file` names (KEY=VALUE lines, readable by its
    owner only) — never from the config file itself."""
    variable = section.get(f"{key}_env")
    if not variable:
        return None
    value = os.environ.get(str(variable))
    if value is None and settings.secrets_file:
        value = read_secrets_file(settings).get(str(variable))
    if value is None:
        where = f" or in {settings.secrets_file}" if settings.secrets_file else ""
        raise ConfigError(f"config {settings.source}: [{name}] {key}_env names {variable}, which is not set in the environment{where}")
    return value


def read_secrets_file(settings: Settings) -> dict[str, str]:
    path = Path(settings.secrets_file)
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"config {settings.source}: [secrets] file {path} cannot be read: {err.strerror}") from None
    if mode & 0o077:
        raise ConfigError(f"config {settings.source}: [secrets] file {path} can be read by others (mode {mode & 0o777:o}); "
                          f"make it private with: chmod 600 {path}")
    values = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            values[key.strip()] = value.strip().strip('"')
    return values


def token_command(command: str):
    """XOAUTH2: run the configured command for a fresh access token (e.g. a
    script around MSAL); its output is the token, and it is never logged."""

    def fetch() -> str:
        try:
            done = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=60, check=True)
        except (OSError, subprocess.SubprocessError) as err:
            raise MailboxError(f"the OAuth2 token command failed: {type(err).__name__}") from None
        return done.stdout.strip()

    return fetch


def _port(section: dict, kind: str, security: str) -> int:
    """The configured port, else the usual one for the protocol and security."""
    return int(section.get("port") or DEFAULT_PORTS[kind][security])


def open_mailbox(settings: Settings, cursors) -> Mailbox:
    box = settings.mailbox
    options = box.options
    if box.backend == "maildir":
        return MaildirMailbox(box.path(settings.base_dir), box.address,
                              approval_folder=options.get("approval_folder", "Drafts"),
                              sent_folder=options.get("sent_folder", "Sent"))
    if box.backend == "imap":
        from mailcomplaints.mailboxes.imap import ImapMailbox, ImapSettings
        from mailcomplaints.mailboxes.smtp import SmtpSender

        security = options.get("security", "tls")
        command = options.get("oauth2_token_command")
        imap = ImapSettings(
            host=options["host"], port=_port(options, "imap", security),
            username=str(options.get("username", box.address)), security=security,
            password=secret(settings, options, "mailbox", "password"),
            token_command=token_command(command) if command else None,
            ca_file=_path(settings, options.get("ca_file")),
            **{key: str(options[key]) for key in ("folder", "approval_folder", "approved_folder", "approved_keyword", "approver", "sent_folder") if key in options},
        )
        smtp = settings.smtp  # its host and the login were checked when the config was read
        smtp_security = smtp.get("security", "starttls")
        sender = SmtpSender(smtp["host"], _port(smtp, "smtp", smtp_security), box.address,
                            security=smtp_security, username=str(smtp.get("username", "")),
                            password=secret(settings, smtp, "smtp", "password"), ca_file=_path(settings, smtp.get("ca_file")))
        return ImapMailbox(imap, box.address, cursors, sender)
    if box.backend == "graph":
        from mailcomplaints.mailboxes.graph import GraphMailbox, GraphSettings

        graph = GraphSettings(
            tenant_id=str(options["tenant_id"]), client_id=str(options["client_id"]),
            client_secret=secret(settings, options, "mailbox", "client_secret") or "",
            ca_file=_path(settings, options.get("ca_file")),
            **{key: str(options[key]) for key in ("authority", "graph_url", "folder", "approval_folder", "approved_folder",
                                                  "approved_category", "approver", "sent_folder") if key in options},
        )
        return GraphMailbox(graph, box.address, cursors)
    if box.backend == "ews":
        from mailcomplaints.mailboxes.ews import EwsMailbox, EwsSettings

        ews = EwsSettings(
            username=str(options.get("username", box.address)), password=secret(settings, options, "mailbox", "password") or "",
            server_url=str(options["server_url"]) if options.get("server_url") else None, ca_file=_path(settings, options.get("ca_file")),
            **{key: str(options[key]) for key in ("auth_type", "access", "folder", "approval_folder", "approved_folder",
                                                  "approved_category", "approver", "sent_folder") if key in options},
        )
        return EwsMailbox(ews, box.address, cursors)
    raise ConfigError(f"config {settings.source}: [mailbox] backend {box.backend!r} is not available; use maildir, imap, graph or ews")


def _path(settings: Settings, value) -> str | None:
    if not value:
        return None
    path = Path(str(value)).expanduser()
    return str(path if path.is_absolute() else settings.base_dir / path)
