"""`init --backend ...` writes a config that loads, with the keys each backend
needs and the permission steps for the administrator; missing details are
asked for in one line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CASES = {
    "imap": (["--host", "imap.example.org", "--smtp-host", "smtp.example.org"], "MAILCOMPLAINTS_IMAP_PASSWORD"),
    "graph": (["--tenant-id", "11111111-2222", "--client-id", "33333333-4444"], "New-ManagementRoleAssignment"),
    "ews": (["--server-url", "https://mail.example.org/EWS/Exchange.asmx", "--username", "EXAMPLE\\svc-complaints"],
            "Add-MailboxPermission"),
}


def mailcomplaints(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mailcomplaints.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("backend", sorted(CASES))
def test_init_writes_a_config_that_loads_and_says_what_to_set_up(tmp_path, backend):
    options, told = CASES[backend]
    done = mailcomplaints("init", "--backend", backend, "--address", "complaints@example.org", *options, cwd=tmp_path)
    assert done.returncode == 0 and told in done.stdout
    shown = mailcomplaints("--config", "mailcomplaints.toml", "status", "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["backend"] == backend


@pytest.mark.parametrize("backend", sorted(CASES))
def test_init_asks_for_what_a_backend_needs(tmp_path, backend):
    done = mailcomplaints("init", "--backend", backend, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr and f"--backend {backend} needs" in done.stderr
