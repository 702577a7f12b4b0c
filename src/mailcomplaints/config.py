"""The landlord's config file (CONTRACT.md, "Config keys") -> typed settings.

Secrets are never in the file: it names the environment variable that holds
each one. Every problem is reported as one sentence naming the key to fix.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any

from mailcomplaints.domain.calendar import NATIONS, CalendarError, WorkingCalendar, parse_cutoff
from mailcomplaints.domain.policy import Policy, PolicyError
from mailcomplaints.domain.references import ReferenceFormat
from mailcomplaints.domain.retention import RetentionRules
from mailcomplaints.policies import load_policy

BACKENDS = ("maildir", "imap", "graph", "ews")
SECURITY = ("tls", "starttls", "none")
LOOPBACK = ("127.0.0.1", "::1", "localhost")


class ConfigError(ValueError):
    """A config that cannot be used; the message is one plain sentence."""


@dataclass(frozen=True)
class LandlordSettings:
    name: str
    policy: str
    homes: int | None = None
    address: str = ""
    phone: str = ""
    website: str = ""
    logo: str = ""


@dataclass(frozen=True)
class TeamSettings:
    name: str = "Complaints Team"
    email: str = ""
    default_officer: str = "Complaints Team"


@dataclass(frozen=True)
class MailboxSettings:
    backend: str
    address: str
    options: dict[str, Any] = field(default_factory=dict)

    def path(self, base: Path) -> Path:
        path = Path(self.options.get("path", "var/mailbox")).expanduser()
        return path if path.is_absolute() else base / path


@dataclass(frozen=True)
class DaemonSettings:
    poll_seconds: int = 60  # the longest wait between rounds (IMAP IDLE wakes it sooner for new mail)
    backoff_max_seconds: int = 300  # the longest wait after an error before trying again
    metrics_port: int | None = None  # a Prometheus /metrics endpoint, when set
    metrics_host: str = "127.0.0.1"
    digest_time: time = time(8, 0)  # when the daily digest goes to [team] email, London time


@dataclass(frozen=True)
class Settings:
    landlord: LandlordSettings
    team: TeamSettings
    mailbox: MailboxSettings
    database_url: str
    policy: Policy
    calendar: WorkingCalendar
    base_dir: Path
    smtp: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    references: ReferenceFormat = ReferenceFormat()
    letters_folder: str = "letters"  # where PDF letters are written
    auto_send: tuple[str, ...] = ()  # draft kinds that may go out without approval (off by default)
    four_eyes: tuple[str, ...] = ("response",)  # kinds whose author may not approve them
    daemon: DaemonSettings = DaemonSettings()
    drafts_per_sender_per_day: int = 10  # more automatic drafts to one address in a day looks like a loop with a robot
    trusted_senders: tuple[str, ...] = ()  # addresses the limit never holds (a resident wrongly taken for a machine)
    secrets_file: str | None = None  # KEY=VALUE secrets, mode 0600, for `..._env` names not set in the environment
    retention: RetentionRules = RetentionRules()  # how long personal data is kept ([retention]); never for ever


def _fail(source: str, key: str, problem: str) -> ConfigError:
    return ConfigError(f"config {source}: [{key.split('.')[0]}] {key.split('.', 1)[-1]} {problem}" if "." in key
                       else f"config {source}: {key} {problem}")


def _get(table: dict[str, Any], source: str, key: str, kind: type, default: Any = ..., choices: tuple = ()) -> Any:
    section, _, name = key.rpartition(".")
    if name not in table:
        if default is ...:
            return_key = f"[{section}] {name}" if section else name
            raise ConfigError(f"config {source}: {return_key} is missing")
        return default
    value = table[name]
    if isinstance(value, bool) and kind is int or not isinstance(value, kind):
        raise _fail(source, key, f"must be a {kind.__name__.replace('str', 'string').replace('int', 'whole number').replace('list', 'list')}, not {value!r}")
    if choices and value not in choices:
        raise _fail(source, key, f"is {value!r}; use one of {', '.join(choices)}")
    return value


def default_config_path() -> Path:
    return Path(os.environ.get("MAILCOMPLAINTS_CONFIG") or "mailcomplaints.toml")


def load_config(path: str | Path | None = None) -> Settings:
    """Read and check the config; relative paths are taken from the config's folder."""
    config_path = Path(path) if path else default_config_path()
    source = str(config_path)
    if not config_path.is_file():
        raise ConfigError(f"config file {source} does not exist; create one with `mailcomplaints init` or pass --config PATH")
    try:
        with config_path.open("rb") as handle:
            table = tomllib.load(handle)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config {source} is not valid TOML: {err}") from None
    except OSError as err:
        raise ConfigError(f"config {source} cannot be read: {err.strerror}") from None
    return settings_from_table(table, source, config_path.resolve().parent)


def _section(table: dict[str, Any], source: str, name: str, required: bool) -> dict[str, Any]:
    value = table.get(name)
    if value is None:
        if required:
            raise ConfigError(f"config {source}: the [{name}] section is missing")
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"config {source}: {name} must be a [{name}] section")
    return value


def _check_connection(section: dict[str, Any], source: str, name: str) -> None:
    """[mailbox] and [smtp]: a known security mode, plaintext only on loopback,
    and no secret written into the file itself."""
    if "security" in section:
        _get(section, source, f"{name}.security", str, choices=SECURITY)
    if section.get("security") == "none" and section.get("host") not in LOOPBACK:
        raise _fail(source, f"{name}.security", "may be \"none\" only for a loopback host (127.0.0.1, ::1, localhost)")
    for key in section:
        if key.endswith(("password", "secret", "token")):
            raise _fail(source, f"{name}.{key}", f"must not hold a secret: use {key}_env to name an environment variable")


def _check_server(section: dict[str, Any], source: str, name: str, what: str) -> None:
    host = section.get("host")
    if not isinstance(host, str) or not host.strip():
        raise ConfigError(f"config {source}: [{name}] host is missing: name the {what} server")
    port = section.get("port")
    if port is not None and (not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536):
        raise _fail(source, f"{name}.port", f"must be a port number, not {port!r}")


def _secrets_file(table: dict[str, Any], source: str, base_dir: Path) -> str | None:
    secrets_t = _section(table, source, "secrets", False)
    value = _get(secrets_t, source, "secrets.file", str, "")
    if not value:
        return None
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else base_dir / path)


def settings_from_table(table: dict[str, Any], source: str, base_dir: Path) -> Settings:
    landlord_t = _section(table, source, "landlord", True)
    homes = _get(landlord_t, source, "landlord.homes", int, None)
    if homes is not None and homes <= 0:
        raise _fail(source, "landlord.homes", f"must be the number of homes owned, more than zero, not {homes}")
    landlord = LandlordSettings(
        name=_get(landlord_t, source, "landlord.name", str),
        policy=_get(landlord_t, source, "landlord.policy", str),
        homes=homes,
        address=_get(landlord_t, source, "landlord.address", str, ""),
        phone=_get(landlord_t, source, "landlord.phone", str, ""),
        website=_get(landlord_t, source, "landlord.website", str, ""),
        logo=_get(landlord_t, source, "landlord.logo", str, ""),
    )
    try:
        policy = load_policy(landlord.policy, relative_to=base_dir)
    except PolicyError as err:
        raise ConfigError(f"config {source}: [landlord] policy: {err}") from None

    team_t = _section(table, source, "team", False)
    team_name = _get(team_t, source, "team.name", str, "Complaints Team")
    team = TeamSettings(
        name=team_name,
        email=_get(team_t, source, "team.email", str, ""),
        default_officer=_get(team_t, source, "team.default_officer", str, team_name),
    )

    cal_t = _section(table, source, "calendar", False)
    nation = _get(cal_t, source, "calendar.nation", str, policy.nation, choices=tuple(NATIONS))
    closure_raw = _get(cal_t, source, "calendar.closure_days", list, [])
    closure: set[date] = set()
    for item in closure_raw:
        try:
            closure.add(item if isinstance(item, date) else date.fromisoformat(str(item)))
        except ValueError:
            raise _fail(source, "calendar.closure_days", f"has {item!r}, which is not a date like \"2026-12-29\"") from None
    try:
        cutoff: time = parse_cutoff(_get(cal_t, source, "calendar.cutoff", str, policy.cutoff.strftime("%H:%M")))
    except CalendarError as err:
        raise _fail(source, "calendar.cutoff", f"is wrong: {err}") from None
    calendar = WorkingCalendar(nation=nation, closure_days=frozenset(closure), cutoff=cutoff)

    mailbox_t = _section(table, source, "mailbox", True)
    backend = _get(mailbox_t, source, "mailbox.backend", str, "maildir", choices=BACKENDS)
    address = _get(mailbox_t, source, "mailbox.address", str, mailbox_t.get("mailbox", "") or ...)
    if "@" not in address:
        raise _fail(source, "mailbox.address", f"must be the mailbox's email address, not {address!r}")
    mailbox = MailboxSettings(backend, address.lower(), {k: v for k, v in mailbox_t.items() if k not in ("backend", "address")})
    _check_connection(mailbox_t, source, "mailbox")

    smtp = _section(table, source, "smtp", False)
    _check_connection(smtp, source, "smtp")
    if backend == "graph":
        for key, what in (("tenant_id", "the directory (tenant) ID of the app registration"),
                          ("client_id", "the application (client) ID"),
                          ("client_secret_env", "the environment variable holding the client secret")):
            if not isinstance(mailbox_t.get(key), str) or not mailbox_t[key].strip():
                raise _fail(source, f"mailbox.{key}", f"is missing: give {what}")
    if backend == "ews":
        if not mailbox_t.get("password_env"):
            raise _fail(source, "mailbox.password_env", "is missing: name the environment variable holding the service account's password")
        if "auth_type" in mailbox_t:
            _get(mailbox_t, source, "mailbox.auth_type", str, choices=("NTLM", "basic"))
        if "access" in mailbox_t:
            _get(mailbox_t, source, "mailbox.access", str, choices=("delegate", "impersonation"))
    if backend == "imap":
        _check_server(mailbox_t, source, "mailbox", "IMAP")
        if not mailbox_t.get("password_env") and not mailbox_t.get("oauth2_token_command"):
            raise _fail(source, "mailbox.password_env", "is missing: name the environment variable holding the IMAP password, or set oauth2_token_command")
        if not smtp:
            raise ConfigError(f"config {source}: the [smtp] section is missing: the IMAP backend sends through an SMTP server (host, port, security)")
        _check_server(smtp, source, "smtp", "SMTP")

    db_t = _section(table, source, "database", False)
    url = _get(db_t, source, "database.url", str, "sqlite:///var/mailcomplaints.db")
    if not url.startswith(("sqlite:", "postgresql")):
        raise _fail(source, "database.url", f"is {url!r}; use sqlite:///PATH or postgresql://...")
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////") and ":memory:" not in url:
        url = "sqlite:///" + str(base_dir / url.removeprefix("sqlite:///"))

    cases_t = _section(table, source, "cases", False)
    try:
        references = ReferenceFormat(_get(cases_t, source, "cases.reference_prefix", str, "CMP"),
                                     _get(cases_t, source, "cases.reference_digits", int, 6))
    except ValueError as err:
        raise ConfigError(f"config {source}: [cases] {err}") from None

    per_day = _get(cases_t, source, "cases.drafts_per_sender_per_day", int, 10)
    if per_day < 1:
        raise _fail(source, "cases.drafts_per_sender_per_day", f"must be at least 1, not {per_day}")
    trusted = tuple(str(a).strip().lower() for a in _get(cases_t, source, "cases.trusted_senders", list, []))
    letters_t = _section(table, source, "letters", False)
    approval_t = _section(table, source, "approval", False)
    kinds = ("acknowledgement", "extension", "response", "escalation_declined", "not_a_complaint", "compliment_thanks", "reminder")
    auto_send = _get(approval_t, source, "approval.auto_send", list, [])
    four_eyes = _get(approval_t, source, "approval.four_eyes", list, ["response"])
    for key, values in (("auto_send", auto_send), ("four_eyes", four_eyes)):
        unknown = [v for v in values if v not in kinds]
        if unknown:
            raise _fail(source, f"approval.{key}", f"names {unknown[0]!r}, which is not a draft kind; use {', '.join(kinds)}")
    if "response" in auto_send:
        raise _fail(source, "approval.auto_send", "may not include response: a person must approve every complaint response")

    daemon_t = _section(table, source, "daemon", False)
    numbers = {}
    for key, default in (("poll_seconds", 60), ("backoff_max_seconds", 300), ("metrics_port", None)):
        value = _get(daemon_t, source, f"daemon.{key}", int, default)
        if value is not None and not 0 < value < (65536 if key == "metrics_port" else 86400):
            raise _fail(source, f"daemon.{key}", f"is {value}, which is out of range")
        numbers[key] = value
    try:
        digest_time = parse_cutoff(_get(daemon_t, source, "daemon.digest_time", str, "08:00"))
    except CalendarError as err:
        raise _fail(source, "daemon.digest_time", f"is wrong: {err}") from None
    daemon = DaemonSettings(numbers["poll_seconds"], numbers["backoff_max_seconds"], numbers["metrics_port"],
                            _get(daemon_t, source, "daemon.metrics_host", str, "127.0.0.1"), digest_time)

    return Settings(landlord, team, mailbox, url, policy, calendar, base_dir, smtp, source, references,
                    _get(letters_t, source, "letters.folder", str, "letters"), tuple(auto_send), tuple(four_eyes), daemon,
                    per_day, trusted, _secrets_file(table, source, base_dir), _retention(table, source))


RETENTION_LIMITS = {"closed_case_years": (1, 100), "quarantine_days": (1, 36500), "unlinked_mail_days": (1, 36500)}


def _retention(table: dict[str, Any], source: str) -> RetentionRules:
    """[retention]: personal data is kept for a set time, never for ever, so
    every key is at least 1; a misspelt key is an error rather than a silent
    default, since the law is what it is for."""
    section = _section(table, source, "retention", False)
    unknown = sorted(set(section) - set(RETENTION_LIMITS))
    if unknown:
        raise _fail(source, f"retention.{unknown[0]}", f"is not a retention setting; use {', '.join(RETENTION_LIMITS)}")
    defaults = RetentionRules().as_dict()
    values = {}
    for key, (low, high) in RETENTION_LIMITS.items():
        value = _get(section, source, f"retention.{key}", int, defaults[key])
        if not low <= value <= high:
            raise _fail(source, f"retention.{key}", f"is {value}; give a period from {low} to {high} (personal data is not kept for ever)")
        values[key] = value
    return RetentionRules(**values)
