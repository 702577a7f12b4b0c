"""`init`: a working config for a new landlord, Maildir and SQLite to start with."""

from __future__ import annotations

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

[mailbox]
backend = "maildir"
address = "{address}"
path = "{mailbox_path}"

[database]
url = "sqlite:///{database_path}"
'''


def config_text(*, landlord: str, policy: str, address: str, mailbox_path: str = "var/mailbox",
                database_path: str = "var/mailcomplaints.db") -> str:
    loaded = load_policy(policy, relative_to=Path.cwd())
    quoted = landlord.replace("\\", "\\\\").replace('"', '\\"')
    return TEMPLATE.format(landlord=quoted, policy=policy, address=address, nation=loaded.nation,
                           cutoff=loaded.cutoff.strftime("%H:%M"), mailbox_path=mailbox_path, database_path=database_path)


def write_config(target: Path, *, landlord: str, policy: str, address: str, force: bool = False) -> Path:
    if target.exists() and not force:
        raise ConfigError(f"{target} already exists; pass --force to overwrite it")
    if "@" not in address:
        raise ConfigError(f"--address {address!r} is not an email address")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(config_text(landlord=landlord, policy=policy, address=address.lower()))
    load_config(target)  # what we write must load
    return target
