"""The application context a command runs in: settings, database, mailbox, renderer.

Built once per CLI invocation (or once per daemon); `now` is passed to every
service call, never read from a clock here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from mailcomplaints.config import Settings
from pathlib import Path

from mailcomplaints.drafting.pdf import PdfRenderer
from mailcomplaints.drafting.render import Renderer
from mailcomplaints.mailboxes.base import Mailbox
from mailcomplaints.policies import redress_bodies
from mailcomplaints.resources import shipped_dir
from mailcomplaints.store.database import Database


@dataclass
class App:
    settings: Settings

    @cached_property
    def db(self) -> Database:
        return Database(self.settings.database_url)

    @cached_property
    def mailbox(self) -> Mailbox:
        from mailcomplaints.mailboxes.connect import open_mailbox
        from mailcomplaints.store.repository import DbCursors

        return open_mailbox(self.settings, DbCursors(self.db))

    @cached_property
    def renderer(self) -> Renderer:
        return Renderer()

    @cached_property
    def pdf(self) -> PdfRenderer:
        return PdfRenderer(shipped_dir("templates") / "letters" / "letter.css", allowed=[shipped_dir("templates"), *self.logo_files])

    @property
    def logo_files(self) -> list[Path]:
        logo = self.settings.landlord.logo
        return [self.settings.base_dir / logo] if logo and (self.settings.base_dir / logo).is_file() else []

    @property
    def letters_dir(self) -> Path:
        folder = Path(self.settings.letters_folder)
        return folder if folder.is_absolute() else self.settings.base_dir / folder

    @property
    def policy(self):
        return self.settings.policy

    @property
    def calendar(self):
        return self.settings.calendar

    def redress(self, scope: str = "all") -> list[dict]:
        """The policy's redress bodies for this scope, with their contact details."""
        bodies = redress_bodies()
        return [dict(bodies[item.body], key=item.body, ref=item.ref) for item in self.policy.redress if item.scope == scope]

    def close(self) -> None:
        if "mailbox" in self.__dict__:
            self.mailbox.close()
        if "db" in self.__dict__:
            self.db.close()
