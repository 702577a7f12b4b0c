"""A base for stateful HTTPS test doubles on 127.0.0.1 (`graph_server.FakeGraph`,
`ews_server.FakeEws`), so each double holds only what its service does.

What a double gets here: a self-signed certificate (`ca_file`, for clients to
trust), a threaded HTTPS server with HTTP/1.1 keep-alive whose port is bound
(and known) from __init__, `start`/`stop` and use as a context manager, every
exchange kept in `requests`, and a 500 answer for a bug in the double itself
with its traceback kept in `errors` (so a test can tell the double failed, not
the code under test). A double subclasses `HttpsDouble` and `Handler`:

    class _Handler(Handler):
        server_version = "Example/1.0"                 # the Server header
        do_GET = do_POST = Handler.dispatch            # the methods it answers

    class FakeExample(HttpsDouble):
        handler = _Handler
        def _answer(self, handler, body): ...          # -> (status, headers, payload)
        def _internal_error(self): ...                 # the 500 for its own bugs
        def _record(self, handler, body, status): ...  # what goes in `requests`

Also here: `make_certificate` (servers.Dovecot uses it too) and `Mime`, the
stored-MIME helpers both mailbox doubles share.
"""

from __future__ import annotations

import email
import html
import re
import socket
import ssl
import subprocess
import sys
import threading
import traceback
import weakref
from email import policy as email_policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

HOST = "127.0.0.1"


def make_certificate(cert_file: Path, key_file: Path) -> None:
    """Self-signed, valid for both localhost and 127.0.0.1 (EC: fast to make)."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "3650", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key_file), "-out", str(cert_file)],
        check=True, capture_output=True)


# --------------------------------------------------------------------------
# MIME: the stored form of every message in both mailbox doubles.
# --------------------------------------------------------------------------

class Mime:
    """Reading and rewriting stored MIME. Edits re-serialise the message (as
    Exchange regenerates MIME too); untouched messages keep their bytes."""

    @staticmethod
    def parse(raw: bytes) -> EmailMessage:
        return email.message_from_bytes(raw, policy=email_policy.default)

    @staticmethod
    def dump(msg: EmailMessage) -> bytes:
        return msg.as_bytes(policy=email_policy.SMTP)

    @staticmethod
    def looks_like_mime(raw: bytes) -> bool:
        head = raw.split(b"\n", 1)[0]
        return re.match(rb"^[!-9;-~]+:", head) is not None

    @staticmethod
    def body_parts(msg: EmailMessage) -> list[EmailMessage]:
        """The text/plain and text/html parts that make up the body (not attachments)."""
        return [p for p in msg.walk()
                if not p.is_multipart() and p.get_content_type() in ("text/plain", "text/html")
                and p.get_content_disposition() != "attachment" and not p.get_filename()]

    @staticmethod
    def body(msg: EmailMessage, prefer: str | None = None) -> tuple[str, str]:
        """(contentType, content) as Exchange shows the body: in its own format
        unless `prefer` asks for "text" or "html" (Graph's `Prefer:
        outlook.body-content-type`, EWS's BodyType)."""
        order = ("plain", "html") if prefer == "text" else ("html", "plain")
        part = msg.get_body(preferencelist=order)
        if part is None:
            return ("text", "")
        text = part.get_content()
        text = text if isinstance(text, str) else ""
        kind = "html" if part.get_content_subtype() == "html" else "text"
        if prefer == "text" and kind == "html":
            return ("text", Mime.html_to_text(text))
        if prefer == "html" and kind == "text":
            return ("html", Mime.text_to_html(text))
        return (kind, text)

    @staticmethod
    def attachment_parts(msg: EmailMessage) -> list[EmailMessage]:
        """Parts that Exchange lists as attachments: disposition attachment, or a named part."""
        return [p for p in msg.walk()
                if not p.is_multipart() and (p.get_content_disposition() == "attachment" or p.get_filename())]

    @staticmethod
    def part_bytes(part: EmailMessage) -> bytes:
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) else inner
            return inner.as_bytes() if hasattr(inner, "as_bytes") else str(inner).encode()
        data = part.get_payload(decode=True)
        return data if data is not None else b""

    @staticmethod
    def set_body(raw: bytes, content: str, content_type: str) -> bytes:
        """Replace the body text: text/plain parts get plain text, text/html parts HTML."""
        msg = Mime.parse(raw)
        parts = Mime.body_parts(msg)
        is_html = content_type.lower() == "html"
        if not parts:
            if msg.is_multipart():
                new = EmailMessage(policy=email_policy.default)
                new.set_content(content, subtype="html" if is_html else "plain", charset="utf-8")
                msg.get_payload().insert(0, new)
                return Mime.dump(msg)
            parts = [msg]
        for part in parts:
            if part.get_content_subtype() == "html":
                text = content if is_html else Mime.text_to_html(content)
                part.set_content(text, subtype="html", charset="utf-8")
            else:
                text = Mime.html_to_text(content) if is_html else content
                part.set_content(text, subtype="plain", charset="utf-8")
        return Mime.dump(msg)

    @staticmethod
    def set_header(raw: bytes, name: str, value: str | None) -> bytes:
        msg = Mime.parse(raw)
        del msg[name]
        if value:
            msg[name] = value
        return Mime.dump(msg)

    @staticmethod
    def add_attachment(raw: bytes, data: bytes, name: str, content_type: str,
                       inline: bool = False, content_id: str | None = None) -> bytes:
        msg = Mime.parse(raw)
        maintype, _, subtype = (content_type or "application/octet-stream").partition("/")
        msg.add_attachment(data, maintype=maintype or "application", subtype=subtype or "octet-stream",
                           filename=name, disposition="inline" if inline else "attachment",
                           cid=f"<{content_id}>" if content_id else None)
        return Mime.dump(msg)

    @staticmethod
    def remove_part(raw: bytes, index: int) -> bytes:
        """Remove the `index`-th attachment part from its parent multipart."""
        msg = Mime.parse(raw)
        target = Mime.attachment_parts(msg)[index]
        for parent in msg.walk():
            if parent.is_multipart() and any(p is target for p in parent.get_payload()):
                parent.set_payload([p for p in parent.get_payload() if p is not target])
                break
        return Mime.dump(msg)

    @staticmethod
    def html_to_text(markup: str) -> str:
        markup = re.sub(r"(?is)<(script|style|head)\b.*?</\1>", "", markup)
        markup = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", markup)
        return html.unescape(re.sub(r"<[^>]+>", "", markup)).strip() + "\n"

    @staticmethod
    def text_to_html(text: str) -> str:
        body = html.escape(text).replace("\n", "<br>\n")
        return ('<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head>'
                f"<body>{body}</body></html>")


# --------------------------------------------------------------------------
# HTTP(S) plumbing.
# --------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    """TLS per connection (the handshake runs in the connection's thread, not
    the accept loop), HTTP/1.1 keep-alive; each request goes to the double.
    A double's subclass sets `server_version` and points its do_* at `dispatch`."""
    protocol_version = "HTTP/1.1"
    timeout = 30

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        self.request.settimeout(self.timeout)
        self.request = self.server.tls.wrap_socket(self.request, server_side=True,
                                                   do_handshake_on_connect=False)
        self.server.track(self.request, True)
        try:
            self.request.do_handshake()
        except (OSError, ssl.SSLError):
            self.server.track(self.request, False)
            self.request.close()
            raise
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.request, False)
            try:
                self.request.close()
            except OSError:
                pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass

    def _read_body(self) -> bytes:
        if "chunked" in str(self.headers.get("Transfer-Encoding", "")).lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def dispatch(self) -> None:
        status, headers, payload = self.server.double._exchange(self, self._read_body())
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    """One daemon thread per connection (never holding up interpreter exit),
    tracked here so that stopping can shut open keep-alive connections and
    then join every thread (ThreadingMixIn does not join daemon threads)."""
    daemon_threads = True

    def __init__(self, double: HttpsDouble, tls: ssl.SSLContext, handler: type[Handler], name: str):
        self.double, self.tls, self.name = double, tls, name
        self.connections: set = set()
        self.threads: list[threading.Thread] = []
        self.connections_lock = threading.Lock()
        super().__init__((HOST, 0), handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self.process_request_thread, args=(request, client_address),
                                  name=f"{self.name}:{self.server_address[1]}:connection", daemon=True)
        with self.connections_lock:
            self.threads = [t for t in self.threads if t.is_alive()] + [thread]
        thread.start()

    def track(self, connection: Any, open_: bool) -> None:
        with self.connections_lock:
            (self.connections.add if open_ else self.connections.discard)(connection)

    def shut_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (ssl.SSLError, ConnectionError, TimeoutError, OSError)):
            return  # clients that hang up or fail the handshake: not our concern
        super().handle_error(request, client_address)


def _stop_server(server: _Server, thread: threading.Thread | None) -> None:
    if thread is not None and thread.is_alive():
        server.shutdown()
    server.server_close()
    server.shut_connections()
    for worker in [*server.threads, *([thread] if thread is not None else [])]:
        worker.join(5)


class HttpsDouble:
    """A stateful HTTPS server on 127.0.0.1 holding a service's state. A context
    manager: the server runs inside `with`; the port is bound (and known) from
    __init__. Dropping the double stops it too (the server holds it weakly)."""

    handler: type[Handler] = Handler

    def __init__(self, root: Path, cert_name: str):
        """`root` holds the certificate `<cert_name>-cert.pem` (made once, then reused)."""
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.ca_file = self.root / f"{cert_name}-cert.pem"
        self._key_file = self.root / f"{cert_name}-key.pem"
        if not (self.ca_file.exists() and self._key_file.exists()):
            make_certificate(self.ca_file, self._key_file)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(self.ca_file, self._key_file)
        self.requests: list = []      # every exchange, as `_record` makes it
        self.errors: list[str] = []   # tracebacks of this double's own failures (answered 500)
        self._server = _Server(weakref.proxy(self), tls, self.handler, type(self).__name__)
        self.port: int = self._server.server_address[1]
        self._thread: threading.Thread | None = None
        self._cleanup = weakref.finalize(self, _stop_server, self._server, None)

    # -- what a double answers (its subclass) ----------------------------

    def _answer(self, handler: Handler, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, payload) for one request, the service's own errors included."""
        raise NotImplementedError

    def _internal_error(self) -> tuple[int, dict[str, str], bytes]:
        """The 500 answer, in the service's shape, when `_answer` raised (a bug in the double)."""
        raise NotImplementedError

    def _record(self, handler: Handler, body: bytes, status: int) -> Any:
        """What `requests` keeps of one exchange."""
        raise NotImplementedError

    def _describe(self, handler: Handler, body: bytes) -> str:
        """The request, as the message about an internal error names it."""
        return f"{handler.command} {handler.path}"

    def _exchange(self, handler: Handler, body: bytes) -> tuple[int, dict[str, str], bytes]:
        try:
            status, headers, payload = self._answer(handler, body)
        except Exception:  # a bug in this double: answer 500 and keep it for the test to see
            self.errors.append(traceback.format_exc())
            print(f"{type(self).__module__}: internal error on {self._describe(handler, body)}\n"
                  f"{self.errors[-1]}", file=sys.stderr)
            status, headers, payload = self._internal_error()
        self.requests.append(self._record(handler, body, status))
        return status, headers, payload

    # -- lifecycle -------------------------------------------------------

    def start(self) -> None:
        if not self._cleanup.alive:
            raise RuntimeError(f"this {type(self).__name__} was stopped; make a new one")
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"{type(self).__name__}:{self.port}", daemon=True)
        self._thread.start()
        self._cleanup.detach()
        self._cleanup = weakref.finalize(self, _stop_server, self._server, self._thread)

    def stop(self) -> None:
        """Stop serving, close every connection and join all server threads."""
        self._cleanup()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
