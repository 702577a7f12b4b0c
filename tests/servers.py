"""Real local servers for integration tests and benchmarks.

- `Dovecot`: a throw-away IMAP server in a temporary folder, so tests talk to
  the real thing (UIDs, IDLE, UIDVALIDITY changes) rather than a mock.
- `SmtpSink`: an SMTP server that records what it is sent and can be told to
  refuse, so sending can be checked without a mail system.
- `FaultProxy`: a TCP proxy that drops connections on cue, so tests can break
  an IMAP session at exactly the awkward moment.

Everything listens on 127.0.0.1 only. Recipe and gotchas:
/work/shared/notes/test-servers.md.
"""

from __future__ import annotations

import grp
import imaplib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import imapclient
from aiosmtpd.controller import Controller

from https_double import make_certificate
from databases import database_url

HOST = "127.0.0.1"


def _free_port() -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    try:
        socket.create_connection((HOST, port), timeout=0.5).close()
        return True
    except OSError:
        return False


def _greets(port: int) -> bool:
    """Whether an IMAP server on `port` sends its greeting (so a login process
    and auth are up, not just the listening socket)."""
    try:
        with socket.create_connection((HOST, port), timeout=1) as s:
            return s.recv(100).startswith(b"* OK")
    except OSError:
        return False


def _program(name: str, usual: str) -> str | None:
    """`usual` first: /usr/sbin is often not on a normal user's PATH."""
    return usual if os.path.exists(usual) else shutil.which(name)


def available() -> bool:
    """Whether Dovecot is installed, so tests can skip with
    `pytest.skip("Dovecot is not installed (apt-get install dovecot-imapd)")`."""
    return _program("dovecot", "/usr/sbin/dovecot") is not None


def _nobody() -> tuple[int, int]:
    try:
        entry = pwd.getpwnam("nobody")
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        return 65534, 65534


def _shut_down(proc: subprocess.Popen, base_dir: Path) -> None:
    """Stop a Dovecot master (SIGTERM is its graceful shutdown), kill any of
    its processes left behind, and remove its base_dir. Runs from stop(),
    or at exit for a Dovecot nobody stopped."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    try:
        # A login process busy starting up can outlive the master by seconds.
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    shutil.rmtree(base_dir, ignore_errors=True)


class Dovecot:
    """A throw-away Dovecot on 127.0.0.1 with its mail, users and log under `root`.

    Works as root (as CI runs; the mail is then owned by nobody) and as a
    normal user (everything runs as that user). Runs `dovecot -F` as a child
    process. Its runtime folder (`base_dir`: sockets, pid file) is a new short
    temporary folder on every start: reusing one gives stale-pid errors, and
    socket paths under a deep pytest folder exceed the 108-character limit.
    """

    def __init__(self, root: Path, tls: bool = False) -> None:
        self.root = Path(root).resolve()
        self.tls = tls
        self.host = HOST
        self.port = _free_port()
        self.tls_port: int | None = None
        self.ca_file: Path | None = None
        if tls:
            self.tls_port = _free_port()
            while self.tls_port == self.port:
                self.tls_port = _free_port()
        self.conf = self.root / "dovecot.conf"
        self.log = self.root / "dovecot.log"
        self.passwd_dir = self.root / "passwd.d"
        self._home = self.root / "home"
        self._passwords: dict[str, str] = {}
        self._delivery: dict[str, imapclient.IMAPClient] = {}
        self._proc: subprocess.Popen | None = None
        self._cleanup: weakref.finalize | None = None

        self._home.mkdir(parents=True, exist_ok=True)
        self._home.chmod(0o755)
        self.passwd_dir.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            # Dovecot refuses mail owned by root, so mail belongs to nobody.
            self._mail_uid, self._mail_gid = _nobody()
        else:
            self._mail_uid, self._mail_gid = os.getuid(), os.getgid()
        if tls:
            self.ca_file = self.root / "cert.pem"
            self._key_file = self.root / "key.pem"
            if not self.ca_file.exists():
                make_certificate(self.ca_file, self._key_file)

    # -- lifecycle -------------------------------------------------------

    def start(self) -> None:
        """Start on `port` (and `tls_port`); returns once the server greets."""
        if self._proc is not None:
            return
        dovecot = _program("dovecot", "/usr/sbin/dovecot")
        if dovecot is None:
            raise RuntimeError("Dovecot is not installed (apt-get install dovecot-imapd)")
        base_dir = Path(tempfile.mkdtemp(prefix="dovecot-"))
        base_dir.chmod(0o755)  # login processes run as another user
        self.conf.write_text(self._config(base_dir))
        with open(self.log, "ab") as log:
            # A session (and process group) of its own: no Ctrl-C from the
            # terminal, and its processes can be found (killed) as a group.
            self._proc = subprocess.Popen([dovecot, "-F", "-c", str(self.conf)],
                                          stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                          start_new_session=True)
        self._cleanup = weakref.finalize(self, _shut_down, self._proc, base_dir)

        # The master binds all its ports at once, so the plain one tells for
        # both; a probe that only connected to tls_port would leave a login
        # process starting up, which can hold up a stop() right after by 5 s.
        deadline = time.monotonic() + 5
        while not _greets(self.port):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self._cleanup()
                self._proc = None
                raise RuntimeError(f"Dovecot did not start on port {self.port} within 5 s."
                                   f" Log tail:\n{self.log_tail()}")
            time.sleep(0.02)

    def stop(self) -> None:
        """`doveadm stop`, then wait until the master has exited and the port
        is closed. Takes about 1 s: the master sleeps a second for its log
        process before exiting."""
        if self._proc is None:
            return
        for client in self._delivery.values():
            try:
                client.logout()
            except Exception:
                pass
        self._delivery.clear()
        doveadm = _program("doveadm", "/usr/bin/doveadm") or "doveadm"
        stopping = subprocess.Popen([doveadm, "-c", str(self.conf), "stop"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # Reap the master while doveadm waits for it: an unreaped
            # (zombie) master looks alive to doveadm, which then waits 3 s.
            self._proc.wait(5)
        except subprocess.TimeoutExpired:
            pass  # _cleanup terminates, then kills
        stopping.wait()
        self._cleanup()
        self._proc = None
        deadline = time.monotonic() + 5
        while _port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.02)

    def restart(self) -> None:
        """Stop and start again: same port, same mail, new base_dir."""
        self.stop()
        self.start()

    def __enter__(self) -> Dovecot:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 30) -> str:
        """The end of dovecot.log, for failure messages."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- users and mail --------------------------------------------------

    def add_user(self, name: str, password: str = "secret") -> None:
        """Add a login; works at once on a running server.

        One passwd-file per user (passwd.d/<name>): Dovecot re-reads a changed
        passwd-file at most once a second, so appending to a shared file is
        missed by a login in the same second as an earlier one, whereas a new
        file is read at its first lookup."""
        if not re.fullmatch(r"[^\s:/]+", name) or re.search(r"[:\s]", password):
            raise ValueError(f"unusable user name or password: {name!r}")
        home = self._home / name
        home.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            os.chown(home, self._mail_uid, self._mail_gid)
        (self.passwd_dir / name).write_text(f"{name}:{{PLAIN}}{password}\n")
        self._passwords[name] = password

    def maildir(self, user: str) -> Path:
        """The user's Maildir (created by Dovecot at the first login)."""
        return self._home / user / "Maildir"

    def client(self, user: str, password: str = "secret") -> imapclient.IMAPClient:
        """A logged-in IMAPClient on the plain port; close it with logout()
        or use it as a context manager."""
        c = imapclient.IMAPClient(self.host, port=self.port, ssl=False, timeout=30)
        try:
            c.login(user, password)
        except Exception:
            c.shutdown()
            raise
        return c

    def deliver(self, user: str, raw: bytes, folder: str = "INBOX",
                when: datetime | None = None) -> int:
        """Put a message in `folder` as a delivering MTA would (APPEND with
        INTERNALDATE `when`); returns its UID. Keeps one connection per user
        open between calls (a login costs ~10 ms, an APPEND under 1 ms);
        stop() closes them."""
        try:
            response = self._delivery_client(user).append(folder, raw, msg_time=when)
        except (imaplib.IMAP4.abort, OSError):
            # The kept connection was dropped (e.g. idle timeout): once more.
            self._delivery.pop(user, None)
            response = self._delivery_client(user).append(folder, raw, msg_time=when)
        match = re.search(rb"APPENDUID \d+ (\d+)", response)
        if not match:
            raise RuntimeError(f"no APPENDUID in {response!r}")
        return int(match.group(1))

    def _delivery_client(self, user: str) -> imapclient.IMAPClient:
        if user not in self._delivery:
            self._delivery[user] = self.client(user, self._passwords.get(user, "secret"))
        return self._delivery[user]

    def reset_uidvalidity(self, user: str) -> int:
        """Simulate a restore from backup: the INBOX keeps its messages but
        gets a new UIDVALIDITY (returned), so clients must forget its UIDs.
        Restarts the server, so open connections drop.

        Dovecot keeps UIDs in dovecot-uidlist and the indexes; without them it
        renumbers the INBOX and takes the next value from dovecot-uidvalidity,
        which is left in place so the new value is always above the old one.
        """
        password = self._passwords.get(user, "secret")
        with self.client(user, password) as c:
            before = c.select_folder("INBOX", readonly=True)
        self.stop()
        md = self.maildir(user)
        for pattern in ("dovecot-uidlist", "dovecot.index*", "dovecot.list.index*"):
            for path in md.glob(pattern):
                path.unlink()
        self.start()
        with self.client(user, password) as c:
            after = c.select_folder("INBOX", readonly=True)
        if (after[b"UIDVALIDITY"] == before[b"UIDVALIDITY"]
                or after[b"EXISTS"] != before[b"EXISTS"]):
            raise RuntimeError(f"UIDVALIDITY reset failed: before {before}, after {after}")
        return after[b"UIDVALIDITY"]

    # -- internals -------------------------------------------------------

    def _config(self, base_dir: Path) -> str:
        root = self.root
        if os.geteuid() == 0:
            # pytest's tmp folders (mode 0700) are closed to other users, so
            # Dovecot's helpers (auth reads passwd.d) run as root, and the
            # mail process chroots into home/ (the "/./") while still root
            # before it becomes nobody. Login keeps Debian's dovenull (it
            # refuses root).
            privileges = ("default_internal_user = root\ndefault_internal_group = root\n"
                          f"valid_chroot_dirs = {root}/home\n")
            home = f"{root}/home/./%u"
        else:
            me, my_group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
            privileges = (f"default_internal_user = {me}\ndefault_internal_group = {my_group}\n"
                          f"default_login_user = {me}\n")
            home = f"{root}/home/%u"
        if self.tls:
            ssl = f"ssl = yes\nssl_cert = <{self.ca_file}\nssl_key = <{self._key_file}\n"
        else:
            ssl = "ssl = no\n"
        return f"""\
base_dir = {base_dir}
state_dir = {root}/state
log_path = {self.log}
{privileges}protocols = imap
listen = {HOST}
{ssl}disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
first_valid_uid = 1
mail_location = maildir:~/Maildir
# Tests open many connections from one address.
mail_max_userip_connections = 100
# A throw-away server: speed over durability.
mail_fsync = never
# Without a stats process to talk to, a stop() right after a start() cannot
# find a login process waiting 5 s for one.
stats_writer_socket_path =
# Failed logins answer in 0.5 s instead of 2 s ...
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.passwd_dir}/%u
}}
userdb {{
  driver = static
  args = uid={self._mail_uid} gid={self._mail_gid} home={home}
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Approved {{
    auto = subscribe
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = {HOST}
    port = {self.port}
  }}
  inet_listener imaps {{
    address = {HOST}
    port = {self.tls_port or 0}
  }}
  chroot =
}}
service anvil {{
  chroot =
  # ... and without the auth penalty, a failed login does not slow every
  # later login from 127.0.0.1 (by 2 to 15 s).
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service auth {{
  unix_listener auth-userdb {{
    mode = 0600
  }}
}}
"""


# -- SMTP ---------------------------------------------------------------------


@dataclass
class Received:
    """One message as the sink got it."""
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


class _SinkHandler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.sink.replies:
            return self.sink.replies.pop(0)
        self.sink.messages.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


class SmtpSink:
    """An SMTP server on 127.0.0.1 that records every message it accepts.

    Queue forced replies in `replies` (e.g. "451 4.3.0 try again later",
    "554 5.7.1 rejected"): each DATA takes the next one instead of accepting.
    No TLS, no AUTH.
    """

    def __init__(self) -> None:
        self.host = HOST
        self.port = _free_port()
        self.messages: list[Received] = []
        self.replies: list[str] = []
        self._controller = Controller(_SinkHandler(self), hostname=HOST, port=self.port,
                                      server_hostname="localhost")

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpSink:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        """Wait until `count` messages have been accepted; returns them all."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.messages)} of {count} messages "
                                   f"arrived within {timeout} s")
            time.sleep(0.02)
        return list(self.messages)


# -- fault injection ------------------------------------------------------------


class FaultProxy:
    """A TCP proxy on 127.0.0.1 in front of (host, port) that can drop
    connections: all at once (`cut_all`) or when the server sends something
    (`cut_when`). Starts listening at once; `close()` or use as a context manager.

    A cut closes both sides (the client sees end-of-file, as when a server or
    NAT drops the connection). No half-close: when either side closes, the
    proxy closes the other.
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.host = HOST
        self.triggered = threading.Event()
        self.connections_opened = 0
        self._pattern: bytes | None = None
        self._open: set[tuple[socket.socket, socket.socket]] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._listener = socket.create_server((HOST, 0))
        self._listener.settimeout(0.1)  # so the accept loop notices close()
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True,
                                        name=f"FaultProxy:{self.port}")
        self._thread.start()

    def cut_all(self) -> None:
        """Close every open connection now, both sides."""
        with self._lock:
            connections = list(self._open)
        for connection in connections:
            self._cut(connection)

    def cut_when(self, server_bytes_pattern: bytes) -> None:
        """Arm a one-shot trigger: the first chunk from the server that contains
        the pattern (e.g. b"FETCH (" for mid-FETCH, b"+ idling" for mid-IDLE)
        sets `triggered`, is forwarded through the end of the pattern's line
        plus half of the rest of the chunk, and then that connection is closed.
        The pattern must arrive within one chunk (one server write), and in
        plain text: it never matches inside TLS."""
        with self._lock:
            self._pattern = server_bytes_pattern
        self.triggered.clear()

    def close(self) -> None:
        self._closed = True
        self._thread.join()
        self._listener.close()
        self.cut_all()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            with self._lock:
                self.connections_opened += 1
            try:
                server = socket.create_connection(self.target, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            connection = (client, server)
            with self._lock:
                self._open.add(connection)
            for src, dst, from_server in ((client, server, False), (server, client, True)):
                threading.Thread(target=self._pump, args=(src, dst, connection, from_server),
                                 daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket,
              connection: tuple[socket.socket, socket.socket], from_server: bool) -> None:
        try:
            while chunk := src.recv(65536):
                cut = self._cut_point(chunk) if from_server else None
                if cut is not None:
                    dst.sendall(chunk[:cut])
                    self._cut(connection)
                    return
                dst.sendall(chunk)
        except OSError:
            pass
        self._cut(connection)

    def _cut_point(self, chunk: bytes) -> int | None:
        """Where to cut this chunk if it fires the trigger, else None.
        Sets `triggered` at once, so it is set by the time the client sees
        the connection end."""
        with self._lock:
            if self._pattern is None or (at := chunk.find(self._pattern)) < 0:
                return None
            self._pattern = None
        self.triggered.set()
        line_end = chunk.find(b"\n", at) + 1 or len(chunk)
        return line_end + (len(chunk) - line_end) // 2

    def _cut(self, connection: tuple[socket.socket, socket.socket]) -> None:
        with self._lock:
            self._open.discard(connection)
        for s in connection:
            try:
                s.shutdown(socket.SHUT_RDWR)  # wakes the other pump's recv()
            except OSError:
                pass
            s.close()


def imap_config(root: Path, *, user: str, imap_port: int, smtp_port: int, password_env: str,
                security: str = "none", extra: str = "") -> Path:
    """The config `mailcomplaints init --backend imap` writes, pointed at these
    local servers (no SMTP login; `extra` is appended, e.g. a [daemon] section)."""
    from mailcomplaints.service.setup import ImapServer, config_text

    server = ImapServer(host=HOST, port=imap_port, security=security, smtp_host=HOST, smtp_port=smtp_port,
                        smtp_security="none", password_env=password_env, smtp_password_env=None)
    config = root / "mailcomplaints.toml"
    config.write_text(config_text(landlord="Reliance Housing", policy="reliance", address=user,
                                  database_url=database_url(root), imap=server) + "\n" + extra + "\n")
    return config
