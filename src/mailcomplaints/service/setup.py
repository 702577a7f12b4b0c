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
url = "{database_url}"

# [retention]                 # how long personal data is kept (UK GDPR); these are the defaults
# closed_case_years = 6       # message bodies, letters and names of a case, after it closes
# quarantine_days = 90        # mail that could not be read
# unlinked_mail_days = 90     # mail that joined no case (auto-replies, bounces)
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

GRAPH = '''[mailbox]
backend = "graph"
address = "{address}"           # the shared mailbox
tenant_id = "{tenant_id}"       # Entra ID: the app registration's directory (tenant) ID
client_id = "{client_id}"       # ... and its application (client) ID
client_secret_env = "MAILCOMPLAINTS_GRAPH_SECRET"   # the environment variable holding its client secret
# approval_folder = "drafts"     # drafts wait in Drafts; an officer gives one the category "Approved"
# approved_folder = "Approved"   # ... or moves it here
# Permissions (README, "Microsoft 365"): application permissions Mail.ReadWrite and
# Mail.Send, limited to this one mailbox with RBAC for Applications in Exchange Online.
'''

EWS = '''[mailbox]
backend = "ews"
address = "{address}"           # the shared mailbox
server_url = "{server_url}"     # the EWS endpoint; leave out to use autodiscover
username = "{username}"         # the service account (DOMAIN\\name or name@domain)
password_env = "MAILCOMPLAINTS_EWS_PASSWORD"   # the environment variable holding its password
auth_type = "NTLM"              # NTLM | basic
access = "delegate"             # delegate (Full Access on the mailbox) | impersonation
# approval_folder = "drafts"; approved_folder = "Approved"; approved_category = "Approved"
'''

EWS_STEPS = '''  In the Exchange Management Shell, give the service account access to {address} and nothing else:
    Add-MailboxPermission -Identity {address} -User "{username}" -AccessRights FullAccess -AutoMapping $false
  (or, with access = "impersonation", a management scope holding only this mailbox and the
  ApplicationImpersonation role assigned to the account with -CustomRecipientWriteScope).
'''

GRAPH_STEPS = '''  In Exchange Online PowerShell (Connect-ExchangeOnline), as an Exchange administrator:
  1. New-ServicePrincipal -AppId {client_id} -ObjectId <the enterprise application's object ID> -DisplayName mailcomplaints
  2. New-ManagementScope -Name "mailcomplaints mailbox" -RecipientRestrictionFilter "PrimarySmtpAddress -eq '{address}'"
  3. New-ManagementRoleAssignment -App {client_id} -Role "Application Mail.ReadWrite" -CustomResourceScope "mailcomplaints mailbox"
     New-ManagementRoleAssignment -App {client_id} -Role "Application Mail.Send" -CustomResourceScope "mailcomplaints mailbox"
  4. Test-ServicePrincipalAuthorization -Identity {client_id} -Resource {address}   (InScope: True)
  Do not also grant Mail.ReadWrite or Mail.Send tenant-wide in Entra ID: that consent would reach every mailbox.
'''

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
                database_path: str = "var/mailcomplaints.db", imap: ImapServer | None = None,
                graph: tuple[str, str] | None = None, ews: tuple[str, str] | None = None,
                database_url: str | None = None) -> str:
    """The config text; `graph` is (tenant_id, client_id) for Microsoft 365,
    `ews` (server_url, username) for Exchange Server; `database_url`, when
    given, replaces the SQLite file at `database_path`."""
    loaded = load_policy(policy, relative_to=Path.cwd())
    quoted = landlord.replace("\\", "\\\\").replace('"', '\\"')
    if graph is not None:
        mailbox = GRAPH.format(address=address, tenant_id=graph[0], client_id=graph[1])
    elif ews is not None:
        mailbox = EWS.format(address=address, server_url=ews[0], username=ews[1].replace("\\", "\\\\"))
    elif imap is None:
        mailbox = MAILDIR.format(address=address, mailbox_path=mailbox_path)
    else:
        login = SMTP_LOGIN.format(address=address, smtp_password_env=imap.smtp_password_env) if imap.smtp_password_env else ""
        mailbox = IMAP.format(address=address, smtp_login=login, **{k: v for k, v in asdict(imap).items() if k != "smtp_password_env"})
    return TEMPLATE.format(landlord=quoted, policy=policy, nation=loaded.nation, cutoff=loaded.cutoff.strftime("%H:%M"),
                           mailbox=mailbox, database_url=database_url or f"sqlite:///{database_path}")


def write_config(target: Path, *, landlord: str, policy: str, address: str, force: bool = False,
                 imap: ImapServer | None = None, graph: tuple[str, str] | None = None,
                 ews: tuple[str, str] | None = None) -> Path:
    if target.exists() and not force:
        raise ConfigError(f"{target} already exists; pass --force to overwrite it")
    if "@" not in address:
        raise ConfigError(f"--address {address!r} is not an email address")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(config_text(landlord=landlord, policy=policy, address=address.lower(), imap=imap, graph=graph, ews=ews))
    load_config(target)  # what we write must load
    return target
