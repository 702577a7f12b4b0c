"""The Microsoft Graph backend, for a shared mailbox on Exchange Online.

A thin client of our own on httpx (the few calls below; msgraph-sdk installs
some 390 MB for them) and MSAL's client-credentials flow for the token. The
app registration's application permission (Mail.ReadWrite, Mail.Send) is
limited to the one shared mailbox by RBAC for Applications or an application
access policy (README).

- New mail: a delta query on the folder; the deltaLink is the cursor, kept
  in the database once a round has read every page. A 410 (the sync state
  expired) starts a full sync again; messages already held are recognised by
  their immutable id, so nothing is duplicated. Delivery time is
  receivedDateTime, and conversationId goes to threading.
- Drafts are created from our MIME in the approval folder (attachments over
  3 MB through an upload session); officers see and edit them in Outlook.
- Approval: the "Approved" category (or "Approved-Priya Shah"), the approver
  being the name Exchange records as the item's last modifier
  (PidTagLastModifierName), or a move into the Approved folder.
- Deadlines are shown as categories ("Response due 7 Dec", "Overdue").
- Sending is the draft's own `send`, so what goes is what the officer left;
  Exchange saves it in Sent Items under the Message-ID we gave it.
- 429 and 503 are retried after the Retry-After the service asks for.
- There is no push here (change notifications need a public HTTPS endpoint):
  the daemon polls the delta every `poll_seconds`.
"""

from __future__ import annotations

import base64
import email
import logging
import ssl
import threading
import urllib.request
import time
from dataclasses import dataclass
from datetime import datetime
from email import policy as email_policy
from typing import Iterator
from urllib.parse import quote

from mailcomplaints.drafting.compose import message_id_of
from mailcomplaints.mailboxes.base import Delivered, MailboxApproval, MailboxError, SendRefused
from mailcomplaints.mailboxes.categories import relabelled, split_approval

log = logging.getLogger("mailcomplaints.graph")

SCOPE = ["https://graph.microsoft.com/.default"]
LAST_MODIFIER = "String 0x3FFA"  # PidTagLastModifierName: who last changed the item in Outlook
INLINE_LIMIT = 3 * 1024 * 1024  # attachments from this size go through an upload session (documented limit)
REQUEST_LIMIT = 3_500_000  # a request body must stay under 4 MB; base64 adds a third
CHUNK = 320 * 1024 * 10  # upload-session chunks must be multiples of 320 KiB
MAX_TRIES = 6


class GraphError(MailboxError):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"Microsoft Graph answered {status} {code}: {message[:200]}")
        self.status, self.code = status, code


@dataclass(frozen=True)
class GraphSettings:
    tenant_id: str
    client_id: str
    client_secret: str
    authority: str = ""  # default https://login.microsoftonline.com/<tenant_id>
    graph_url: str = "https://graph.microsoft.com/v1.0"
    ca_file: str | None = None  # a private CA (a TLS-inspecting proxy); verification is always on
    folder: str = "inbox"
    approval_folder: str = "drafts"
    approved_folder: str = "Approved"
    approved_category: str = "Approved"
    approver: str = "approved in the mailbox"
    sent_folder: str = "sentitems"
    page_size: int = 50
    timeout: float = 60.0


class GraphClient:
    """Requests with a fresh token, JSON errors as GraphError, and throttling
    (429, 503) retried after Retry-After."""

    def __init__(self, settings: GraphSettings):
        import httpx
        import msal

        self.settings = settings
        authority = settings.authority or f"https://login.microsoftonline.com/{settings.tenant_id}"
        self.msal = msal.ConfidentialClientApplication(
            settings.client_id, client_credential=settings.client_secret, authority=authority,
            http_client=_identity_session(settings.ca_file), instance_discovery=False if settings.authority else None,
            timeout=settings.timeout)
        verify = ssl.create_default_context(cafile=settings.ca_file) if settings.ca_file else True
        self.http = httpx.Client(base_url=settings.graph_url.rstrip("/") + "/", verify=verify, timeout=settings.timeout)

    def token(self) -> str:
        try:
            result = self.msal.acquire_token_for_client(scopes=SCOPE)  # cached by MSAL until near expiry
        except Exception as err:  # noqa: BLE001 - requests' and MSAL's own errors
            raise MailboxError(f"no token from Microsoft identity platform: {type(err).__name__}") from None
        if "access_token" not in result:
            raise MailboxError(f"no token from Microsoft identity platform: {result.get('error')}: "
                               f"{str(result.get('error_description', ''))[:160]}")
        return result["access_token"]

    def request(self, method: str, url: str, *, json=None, content: bytes | None = None,
                headers: dict[str, str] | None = None, params: dict | None = None, auth: bool = True):
        import httpx

        for attempt in range(MAX_TRIES):
            sent_headers = {"Prefer": 'IdType="ImmutableId"', **(headers or {})}
            if auth:
                sent_headers["Authorization"] = f"Bearer {self.token()}"
            try:
                response = self.http.request(method, url, json=json, content=content, headers=sent_headers, params=params)
            except httpx.HTTPError as err:
                raise MailboxError(f"Microsoft Graph could not be reached: {type(err).__name__}: {str(err)[:160]}") from None
            if response.status_code in (429, 503, 504) and attempt < MAX_TRIES - 1:
                wait = _retry_after(response.headers.get("Retry-After"), attempt)
                log.warning("graph throttled status=%d retry_in=%.1fs", response.status_code, wait)
                time.sleep(wait)
                continue
            if response.status_code >= 400:
                raise _error(response)
            return response
        raise MailboxError("Microsoft Graph kept answering 'too many requests'")

    def close(self) -> None:
        self.http.close()


def _identity_session(ca_file: str | None):
    """MSAL's HTTP session. With a configured CA it must not take the CA from
    REQUESTS_CA_BUNDLE (requests lets that variable override `verify`);
    proxies from the environment are still used."""
    import requests

    session = requests.Session()
    if ca_file:
        session.trust_env = False
        session.verify = ca_file
        session.proxies = urllib.request.getproxies()
    return session


def _retry_after(value: str | None, attempt: int) -> float:
    try:
        return min(60.0, max(0.0, float(value)))
    except (TypeError, ValueError):
        return min(60.0, 2.0 ** attempt)


def _error(response) -> GraphError:
    try:
        body = response.json().get("error", {})
    except ValueError:
        body = {}
    if isinstance(body, str):
        body = {"code": body}
    return GraphError(response.status_code, str(body.get("code", "")), str(body.get("message", response.reason_phrase)))


def _received(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class GraphMailbox:
    def __init__(self, settings: GraphSettings, address: str, cursors, client: GraphClient | None = None):
        self.settings = settings
        self.address = address
        self.cursors = cursors
        self._client = client
        self._folders: dict[str, str] = {}
        self.user = f"users/{quote(address)}"
        self.backlog = 0
        self._unmarked: set[str] = set()

    @property
    def client(self) -> GraphClient:
        if self._client is None:
            self._client = GraphClient(self.settings)
        return self._client

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    # --- folders ---------------------------------------------------------------

    WELL_KNOWN = {"inbox", "drafts", "sentitems", "deleteditems", "archive", "junkemail", "outbox"}

    def _folder(self, name: str) -> str:
        """A well-known name as it is; another folder by display name, created if missing."""
        if name.lower() in self.WELL_KNOWN:
            return name.lower()
        if name not in self._folders:
            found = self.client.request("GET", f"{self.user}/mailFolders",
                                        params={"$filter": f"displayName eq '{_odata(name)}'", "$select": "id"}).json()["value"]
            if not found:
                found = [self.client.request("POST", f"{self.user}/mailFolders", json={"displayName": name}).json()]
            self._folders[name] = found[0]["id"]
        return self._folders[name]

    # --- reading ---------------------------------------------------------------

    def _delta(self, folder: str, is_known, wait_for_marks: bool) -> Iterator[Delivered]:
        name = f"graph:delta:{folder}"
        start = f"{self.user}/mailFolders/{self._folder(folder)}/messages/delta"
        url = self.cursors.get(name) or start
        params = {"$select": "id,receivedDateTime,conversationId,internetMessageId"}
        while True:
            try:
                page = self.client.request("GET", url, params=None if url.startswith("http") else params,
                                           headers={"Prefer": f'IdType="ImmutableId", odata.maxpagesize={self.settings.page_size}'}).json()
            except GraphError as err:
                if err.status != 410 or url == start:
                    raise
                log.warning("graph delta expired folder=%s: reading the folder again", folder)
                url = start  # the sync state is gone: a full sync; held messages are known by id
                continue
            items = [item for item in page.get("value", []) if "@removed" not in item]
            known = is_known([item["id"] for item in items]) if items else set()
            self.backlog = len(items) - len(known)
            for item in items:
                if item["id"] in known:
                    continue
                raw = self.client.request("GET", f"{self.user}/messages/{item['id']}/$value").content
                if wait_for_marks:
                    self._unmarked.add(item["id"])
                yield Delivered(item["id"], _received(item["receivedDateTime"]), raw, item.get("conversationId"))
                self.backlog -= 1
            if "@odata.nextLink" in page:
                url = page["@odata.nextLink"]
                continue
            if not self._unmarked:  # every message handed over was stored: the next round starts from here
                self.cursors.set(name, page["@odata.deltaLink"])
            return

    def new_messages(self, is_known) -> Iterator[Delivered]:
        self._unmarked = set()
        self._folder(self.settings.approved_folder)  # made on the first round, so officers can move drafts into it
        yield from self._delta(self.settings.folder, is_known, wait_for_marks=True)

    def sent_messages(self, is_known) -> Iterator[Delivered]:
        yield from self._delta(self.settings.sent_folder, is_known, wait_for_marks=False)

    def mark_processed(self, backend_id: str) -> None:
        self._unmarked.discard(backend_id)  # the delta link is kept once every message read was stored

    # --- drafts ----------------------------------------------------------------

    def _by_message_id(self, folder: str, message_id: str) -> list[str]:
        found = self.client.request("GET", f"{self.user}/mailFolders/{self._folder(folder)}/messages",
                                    params={"$filter": f"internetMessageId eq '{_odata(message_id)}'", "$select": "id"}).json()
        return [item["id"] for item in found.get("value", [])]

    def save_draft(self, draft_id: str, raw: bytes) -> str:
        """Idempotent: a draft already created (a crash before the database
        recorded it) is found by its Message-ID."""
        message = email.message_from_bytes(raw, policy=email_policy.SMTP)
        existing = self._by_message_id(self.settings.approval_folder, str(message["Message-ID"]).strip())
        if existing:
            return existing[0]
        large = [part for part in message.iter_attachments() if part.get_filename()] if len(raw) * 4 / 3 > REQUEST_LIMIT else []
        if large:  # too big for one request (4 MB, base64 included): create without the files, then add each
            kept = email.message_from_bytes(raw, policy=email_policy.SMTP)
            _drop_attachments(kept, {part.get_filename() for part in large})
            raw = kept.as_bytes()
        created = self.client.request("POST", f"{self.user}/mailFolders/{self._folder(self.settings.approval_folder)}/messages",
                                      content=base64.b64encode(raw), headers={"Content-Type": "text/plain"}).json()
        for part in large:
            self._upload(created["id"], part.get_filename() or "letter.pdf", part.get_content_type(), part.get_payload(decode=True))
        return created["id"]

    def _upload(self, message_id: str, name: str, content_type: str, data: bytes) -> None:
        if len(data) < INLINE_LIMIT:
            self.client.request("POST", f"{self.user}/messages/{message_id}/attachments", json={
                "@odata.type": "#microsoft.graph.fileAttachment", "name": name, "contentType": content_type,
                "contentBytes": base64.b64encode(data).decode()})
            return
        session = self.client.request("POST", f"{self.user}/messages/{message_id}/attachments/createUploadSession", json={
            "AttachmentItem": {"attachmentType": "file", "name": name, "size": len(data), "contentType": content_type}}).json()
        for start in range(0, len(data), CHUNK):  # the upload URL carries its own authorisation
            chunk = data[start:start + CHUNK]
            self.client.request("PUT", session["uploadUrl"], content=chunk, auth=False, headers={
                "Content-Range": f"bytes {start}-{start + len(chunk) - 1}/{len(data)}", "Content-Type": "application/octet-stream"})

    def read_draft(self, mailbox_ref: str) -> bytes | None:
        """The draft as it stands; None once it is gone or sent (an immutable
        id follows the message into Sent Items)."""
        item = self._item(mailbox_ref, "id,isDraft")
        if item is None or not item.get("isDraft"):
            return None
        return self.client.request("GET", f"{self.user}/messages/{mailbox_ref}/$value").content

    def draft_editor(self, mailbox_ref: str) -> str | None:
        item = self._item(mailbox_ref, "id")
        return _last_modifier(item) if item else None

    def _item(self, mailbox_ref: str, select: str) -> dict | None:
        try:
            return self.client.request("GET", f"{self.user}/messages/{mailbox_ref}", params={
                "$select": select, "$expand": f"singleValueExtendedProperties($filter=id eq '{LAST_MODIFIER}')"}).json()
        except GraphError as err:
            if err.status == 404:
                return None
            raise

    def replace_draft(self, mailbox_ref: str, raw: bytes) -> None:
        """Graph cannot replace a message's MIME: the body is patched and the
        PDF letter swapped, leaving the officer's other changes alone."""
        message = email.message_from_bytes(raw, policy=email_policy.default)
        html, text = message.get_body(("html",)), message.get_body(("plain",))
        body = {"contentType": "html", "content": html.get_content()} if html else {"contentType": "text", "content": text.get_content()}
        self.client.request("PATCH", f"{self.user}/messages/{mailbox_ref}", json={"body": body})
        letters = {part.get_filename(): part for part in message.iter_attachments()}
        current = self.client.request("GET", f"{self.user}/messages/{mailbox_ref}/attachments", params={"$select": "id,name"}).json()
        for attachment in current.get("value", []):
            if attachment.get("name") in letters:
                self.client.request("DELETE", f"{self.user}/messages/{mailbox_ref}/attachments/{attachment['id']}")
        for name, part in letters.items():
            self._upload(mailbox_ref, name or "letter.pdf", part.get_content_type(), part.get_payload(decode=True))

    def remove_draft(self, mailbox_ref: str) -> None:
        try:
            self.client.request("DELETE", f"{self.user}/messages/{mailbox_ref}")
        except GraphError as err:
            if err.status != 404:
                raise

    # --- approval and labels ------------------------------------------------------

    def _listed(self, folder: str) -> Iterator[dict]:
        url = f"{self.user}/mailFolders/{self._folder(folder)}/messages"
        params: dict | None = {"$select": "id,categories,isDraft", "$top": "100",
                               "$expand": f"singleValueExtendedProperties($filter=id eq '{LAST_MODIFIER}')"}
        while url:
            page = self.client.request("GET", url, params=params).json()
            yield from page.get("value", [])
            url, params = page.get("@odata.nextLink"), None

    def approvals(self) -> list[MailboxApproval]:
        wanted = self.settings.approved_category.lower()
        out = []
        for item in self._listed(self.settings.approval_folder):
            for category in item.get("categories", []):
                head, who = split_approval(category)
                if head.lower() == wanted:
                    out.append(MailboxApproval(item["id"], None, who or _last_modifier(item)))
                    break
        for item in self._listed(self.settings.approved_folder):
            out.append(MailboxApproval(item["id"], None, _last_modifier(item)))
        return out

    def refuse_approval(self, mailbox_ref: str, labels: list[str]) -> None:
        item = self._item(mailbox_ref, "id,categories,parentFolderId")
        if item is None:
            return
        if item.get("parentFolderId") == self._folder(self.settings.approved_folder):
            self.client.request("POST", f"{self.user}/messages/{mailbox_ref}/move",
                                json={"destinationId": self._folder(self.settings.approval_folder)})
        categories = relabelled(item.get("categories", []), labels, drop_approval=self.settings.approved_category)
        self.client.request("PATCH", f"{self.user}/messages/{mailbox_ref}", json={"categories": categories})

    def set_labels(self, mailbox_ref: str, labels: list[str]) -> None:
        item = self._item(mailbox_ref, "id,categories")
        if item is None:
            return
        current = item.get("categories", [])
        wanted = relabelled(current, labels)
        if wanted != current:
            self.client.request("PATCH", f"{self.user}/messages/{mailbox_ref}", json={"categories": wanted})

    # --- sending ---------------------------------------------------------------

    def send(self, mailbox_ref: str | None, raw: bytes) -> str | None:
        """The draft's own send (what the officer left, with the Message-ID we
        gave it); without a draft, our MIME through sendMail. Exchange keeps a
        copy in Sent Items either way."""
        try:
            draft = self._item(mailbox_ref, "id,isDraft") if mailbox_ref else None
            if draft is not None and draft.get("isDraft"):
                self.client.request("POST", f"{self.user}/messages/{mailbox_ref}/send")
                return mailbox_ref  # an immutable id: the Sent Items copy keeps the draft's
            self.client.request("POST", f"{self.user}/sendMail", content=base64.b64encode(raw), headers={"Content-Type": "text/plain"})
        except GraphError as err:
            if 400 <= err.status < 500 and err.status not in (401, 403, 404, 408, 409, 429):
                raise SendRefused(str(err)) from None  # the message itself is refused: say so, do not retry
            raise
        message_id = message_id_of(raw)
        copies = self._by_message_id(self.settings.sent_folder, message_id) if message_id else []
        return copies[0] if copies else None  # else known by its Message-ID when the Sent Items delta shows it

    def was_sent(self, message_id: str) -> bool:
        return bool(self._by_message_id(self.settings.sent_folder, message_id))

    def wait_for_mail(self, timeout: float, stop: threading.Event) -> None:
        stop.wait(timeout)  # delta polling: no push without a public endpoint



def _last_modifier(item: dict) -> str | None:
    for prop in item.get("singleValueExtendedProperties", []) or []:
        if prop.get("id", "").lower() == LAST_MODIFIER.lower():
            return prop.get("value") or None
    return None


def _odata(value: str) -> str:
    return value.replace("'", "''")


def _drop_attachments(message, names: set) -> None:
    for part in list(message.walk()):
        if part.is_multipart():
            part.set_payload([p for p in part.get_payload() if p.get_filename() not in names or not p.get_filename()])
