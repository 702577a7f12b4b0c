"""The command line (CONTRACT.md). Thin: parse, call a service, print.

Exit codes: 0 success; 1 an operational failure; 2 bad input, with one plain
line on stderr and no traceback.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable

import click
from rich.console import Console
from rich.table import Table

from mailcomplaints.config import ConfigError, load_config
from mailcomplaints.domain.calendar import LONDON, CalendarError, WorkingCalendar, NATIONS
from mailcomplaints.domain.lifecycle import LifecycleError
from mailcomplaints.domain.policy import PolicyError
from mailcomplaints.mailboxes.base import MailboxError
from mailcomplaints.service.app import App
from mailcomplaints.service.approval import Refused
from mailcomplaints.service.privacy import PrivacyError
from mailcomplaints.service.report import UnknownFigure
from mailcomplaints.store.repository import NotFound

BAD_INPUT = (ConfigError, PolicyError, CalendarError, LifecycleError, NotFound, Refused, UnknownFigure, PrivacyError)
console = Console()


class Context:
    """What every command gets: the config path and the clock."""

    def __init__(self, config: str | None, now: datetime):
        self.config_path, self.now = config, now
        self._app: App | None = None

    @property
    def app(self) -> App:
        if self._app is None:
            self._app = App(load_config(self.config_path))
        return self._app


def parse_now(text: str | None) -> datetime:
    if not text:
        return datetime.now(timezone.utc)
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 time such as 2026-12-23T10:00:00+00:00", param_hint="--now") from None
    return value if value.tzinfo else value.replace(tzinfo=LONDON)


def default_actor() -> str:
    return os.environ.get("MAILCOMPLAINTS_USER") or getpass.getuser()


def emit(data: Any, as_json: bool, human: Callable[[Any], None]) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        human(data)


json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (the stable contract).")
by_option = click.option("--by", default=default_actor, show_default="$MAILCOMPLAINTS_USER or your login", help="Who is doing this.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config", default=None, help="Config file [default: $MAILCOMPLAINTS_CONFIG, then ./mailcomplaints.toml].")
@click.option("--now", "now", default=None, help="Use this time instead of the clock (ISO 8601).")
@click.version_option(package_name="mailcomplaints")
@click.pass_context
def cli(ctx: click.Context, config: str | None, now: str | None) -> None:
    """Complaint handling on a landlord's shared mailbox, under the Housing Ombudsman's Code."""
    ctx.obj = Context(config, parse_now(now))


pass_context = click.make_pass_decorator(Context)


# --- the pipeline ------------------------------------------------------------------

@cli.command()
@json_option
@pass_context
def ingest(ctx: Context, as_json: bool) -> None:
    """Process every new message in the mailbox once."""
    from mailcomplaints.service.pipeline import ingest as run
    result = run(ctx.app, ctx.now).as_dict()
    emit(result, as_json, lambda r: click.echo(
        f"{r['processed']} processed, {len(r['new_cases'])} new cases, {r['quarantined']} quarantined, "
        f"{r['duplicates']} duplicates, {r['drafts']} drafts saved to the mailbox"))


@cli.command()
@json_option
@pass_context
def tick(ctx: Context, as_json: bool) -> None:
    """Run the scheduled work once: deadline flags, reminders, closing ended windows."""
    from mailcomplaints.service.scheduler import tick as run
    result = run(ctx.app, ctx.now).as_dict()
    emit(result, as_json, lambda r: click.echo(
        f"{len(r['closed'])} closed, {len(r['flagged'])} flagged overdue, {r['reminders']} reminders drafted"
        + (f", personal data removed from {len(r['retention']['cases'])} cases past retention" if r["retention"]["cases"] else "")))


@cli.command()
@json_option
@pass_context
def send(ctx: Context, as_json: bool) -> None:
    """Send every approved draft once."""
    from mailcomplaints.service.approval import send_approved
    from mailcomplaints.service.views import draft_dict
    sent = [draft_dict(d) | {"case": d.case.reference} for d in send_approved(ctx.app, ctx.now)]
    emit(sent, as_json, lambda items: click.echo(f"{len(items)} sent" + "".join(f"\n  {d['id']} {d['kind']} {d['case']}" for d in items)))


@cli.command()
@click.option("--interval", type=int, default=None, help="The longest wait between rounds, in seconds (default: [daemon] poll_seconds, 60).")
@click.option("--once", is_flag=True, help="One round of ingest, tick and send, then exit.")
@pass_context
def run(ctx: Context, interval: int | None, once: bool) -> None:
    """The daemon: ingest, tick and send, continuously, until SIGTERM or Ctrl-C."""
    from mailcomplaints.service.daemon import run_forever
    run_forever(ctx.app, interval=interval, once=once, fixed_now=ctx.now if once else None)


# --- cases ---------------------------------------------------------------------------

def _cases_table(items: list[dict]) -> None:
    click.echo(f"{len(items)} cases")
    for c in items:  # one line each, reference first: readable at any width
        open_deadlines = [d for d in c["deadlines"] if d["status"] in ("pending", "due_today", "overdue") and d["kind"] != "escalation_window"]
        nxt = min(open_deadlines, key=lambda d: d["due"], default=None)
        due = f"; next: {nxt['kind']} {nxt['due']} ({nxt['status'].replace('_', ' ')})" if nxt else ""
        flags = f"; flags: {', '.join(c['flags'])}" if c["flags"] else ""
        click.echo(f"{c['reference']}  {c['kind'].replace('_', ' ')}, stage {c['stage']}, {c['state'].replace('_', ' ')}"
                   f" - {c['complainant']['email'] or c['complainant']['name']}{due}{flags}")


@cli.command()
@click.option("--state", default=None, help="Only cases in this state.")
@click.option("--kind", default=None, help="Only cases of this kind.")
@json_option
@pass_context
def cases(ctx: Context, state: str | None, kind: str | None, as_json: bool) -> None:
    """List every case (of every kind and state unless filtered)."""
    from mailcomplaints.service.queries import list_cases
    emit(list_cases(ctx.app, ctx.now, state=state, kind=kind), as_json, _cases_table)


@cli.command()
@click.argument("reference")
@json_option
@pass_context
def case(ctx: Context, reference: str, as_json: bool) -> None:
    """One case with its messages and history."""
    from mailcomplaints.service.queries import show_case
    emit(show_case(ctx.app, reference, ctx.now), as_json, _case_human)


def _case_human(c: dict) -> None:
    console.print(f"[bold]{c['reference']}[/] {c['kind']}, stage {c['stage']}, {c['state']} — {c['subject']}")
    console.print(f"complainant: {c['complainant']['name']} <{c['complainant']['email']}>   handler: {c['handler']}   flags: {', '.join(c['flags']) or '-'}")
    for d in c["deadlines"]:
        console.print(f"  deadline {d['kind']} stage {d['stage']}: due {d['due']} — {d['status']}{' (provisional)' if d['provisional'] else ''}")
    for d in c["drafts"]:
        console.print(f"  draft {d['id']} {d['kind']} stage {d['stage']}: {d['state']}")
    for e in c["events"]:
        console.print(f"  {e['at']}  {e['kind']:<18} {e['actor']:<16} {e['reason']}")


@cli.command()
@click.argument("reference")
@click.argument("officer")
@by_option
@json_option
@pass_context
def assign(ctx: Context, reference: str, officer: str, by: str, as_json: bool) -> None:
    """Set the case's handling officer."""
    from mailcomplaints.service import casework
    casework.assign(ctx.app, reference, officer, ctx.now, by)
    _print_case(ctx, reference, as_json)


@cli.command()
@click.argument("reference")
@click.option("--working-days", type=click.IntRange(min=1), required=True, help="How many working days more.")
@click.option("--reason", required=True, help="Why (the resident is told).")
@click.option("--agreed", is_flag=True, help="Past the policy's limit, agreed with the resident.")
@by_option
@json_option
@pass_context
def extend(ctx: Context, reference: str, working_days: int, reason: str, agreed: bool, by: str, as_json: bool) -> None:
    """Extend the current stage's response date and draft the letter saying so."""
    from mailcomplaints.service import casework
    casework.extend(ctx.app, reference, working_days, reason, ctx.now, by, agreed)
    _print_case(ctx, reference, as_json)


@cli.command()
@click.argument("reference")
@click.argument("decision", type=click.Choice(["accept-escalation", "decline-escalation"]))
@click.option("--reason", default="", help="Why, for the record.")
@by_option
@json_option
@pass_context
def decide(ctx: Context, reference: str, decision: str, reason: str, by: str, as_json: bool) -> None:
    """Decide a late or premature escalation."""
    from mailcomplaints.service import casework
    casework.decide(ctx.app, reference, decision, ctx.now, by, reason)
    _print_case(ctx, reference, as_json)


@cli.command()
@click.argument("reference")
@click.option("--outcome", required=True, help="One of the landlord's outcomes.")
@by_option
@json_option
@pass_context
def close(ctx: Context, reference: str, outcome: str, by: str, as_json: bool) -> None:
    """Close a case with its outcome."""
    from mailcomplaints.service import casework
    casework.close(ctx.app, reference, outcome, ctx.now, by)
    _print_case(ctx, reference, as_json)


@cli.command()
@click.argument("message_id")
@click.argument("reference")
@by_option
@json_option
@pass_context
def move(ctx: Context, message_id: str, reference: str, by: str, as_json: bool) -> None:
    """Move a message to another case."""
    from mailcomplaints.service.corrections import move as run
    run(ctx.app, message_id, reference, ctx.now, by)
    _print_case(ctx, reference, as_json)


@cli.command()
@click.argument("message_id")
@click.argument("intent")
@by_option
@json_option
@pass_context
def reclassify(ctx: Context, message_id: str, intent: str, by: str, as_json: bool) -> None:
    """Correct a message's intent; its case follows (kind, escalation, withdrawal)."""
    from mailcomplaints.service.corrections import reclassify as run
    reference = run(ctx.app, message_id, intent, ctx.now, by)
    _print_case(ctx, reference, as_json)


@cli.command()
@click.argument("reference")
@click.argument("into")
@by_option
@json_option
@pass_context
def merge(ctx: Context, reference: str, into: str, by: str, as_json: bool) -> None:
    """Merge case REFERENCE into case INTO (its messages move; it is closed as a duplicate)."""
    from mailcomplaints.service.corrections import merge as run
    run(ctx.app, reference, into, ctx.now, by)
    _print_case(ctx, into, as_json)


@cli.command()
@click.argument("message_id")
@click.argument("what", type=click.Choice(["acknowledgement", "response", "neither"]))
@by_option
@json_option
@pass_context
def confirm(ctx: Context, message_id: str, what: str, by: str, as_json: bool) -> None:
    """Say what a reply an officer wrote by hand did (it meets that deadline when it was sent)."""
    from mailcomplaints.service import casework
    row = casework.confirm(ctx.app, message_id, what, ctx.now, by)
    _print_case(ctx, row.reference, as_json)


def _print_case(ctx: Context, reference: str, as_json: bool) -> None:
    from mailcomplaints.service.queries import show_case
    emit(show_case(ctx.app, reference, ctx.now), as_json,
         lambda c: click.echo(f"{c['reference']}: stage {c['stage']}, {c['state']}"))


# --- drafts ------------------------------------------------------------------------------

@cli.command()
@click.option("--state", default=None, help="Only drafts in this state.")
@click.option("--all", "show_all", is_flag=True, help="Also sent, rejected and superseded drafts (the table shows those waiting).")
@json_option
@pass_context
def drafts(ctx: Context, state: str | None, show_all: bool, as_json: bool) -> None:
    """List drafts, each with its case (--json: every draft)."""
    from mailcomplaints.service.queries import list_drafts

    def human(items: list[dict]) -> None:
        if not (state or show_all):
            items = [d for d in items if d["state"] in ("pending", "approved", "sending")]
        click.echo(f"{len(items)} drafts{'' if state or show_all else ' waiting'}")
        for d in items:  # one line each, identifiers first: readable at any width
            to = ", ".join(d["to"]) or ("by post" if d.get("postal") else "")
            click.echo(f"{d['id']}  {d['case']}  {d['state']:<9} {d['kind'].replace('_', ' ')}, stage {d['stage']}, to {to}: {d['subject']}")

    emit(list_drafts(ctx.app, state), as_json, human)


@cli.command("draft")
@click.argument("reference")
@click.argument("kind")
@click.option("--stage", type=int, default=None, help="Defaults to the case's current stage.")
@click.option("--outcome", default=None, help="With a response: the stage's outcome.")
@by_option
@json_option
@pass_context
def draft_cmd(ctx: Context, reference: str, kind: str, stage: int | None, outcome: str | None, by: str, as_json: bool) -> None:
    """Plan a draft of KIND for a case."""
    from mailcomplaints.service import casework
    from mailcomplaints.service.queries import one_draft
    made = casework.plan_draft(ctx.app, reference, kind, ctx.now, by, stage, outcome)
    emit(one_draft(ctx.app, made.id), as_json, lambda d: click.echo(f"draft {d['id']} ({d['kind']}, stage {d['stage']}) is waiting for approval"))


@cli.command()
@click.argument("draft_id")
@click.option("--by", required=True, help="Who approves.")
@click.option("--override", default=None, help="Approve despite the lint or four-eyes rule, recording why.")
@json_option
@pass_context
def approve(ctx: Context, draft_id: str, by: str, override: str | None, as_json: bool) -> None:
    """Approve a draft for sending."""
    from mailcomplaints.service.approval import approve as run
    from mailcomplaints.service.queries import one_draft
    run(ctx.app, draft_id, by, ctx.now, override)
    emit(one_draft(ctx.app, draft_id), as_json, lambda d: click.echo(f"draft {d['id']} approved by {d['approved_by']}"))


@cli.command()
@click.argument("draft_id")
@click.option("--by", required=True, help="Who edits.")
@click.option("--file", "text_file", type=click.File("r", encoding="utf-8"), default="-",
              help="The draft's whole new text (default: standard input).")
@json_option
@pass_context
def edit(ctx: Context, draft_id: str, by: str, text_file, as_json: bool) -> None:
    """Replace a waiting draft's text; its letter is rendered again from it."""
    from mailcomplaints.service.approval import edit as run
    from mailcomplaints.service.queries import one_draft
    run(ctx.app, draft_id, by, text_file.read(), ctx.now)
    emit(one_draft(ctx.app, draft_id), as_json, lambda d: click.echo(f"draft {d['id']} edited by {by}"))


@cli.command()
@click.argument("draft_id")
@click.option("--by", required=True, help="Who rejects.")
@click.option("--reason", required=True, help="Why.")
@json_option
@pass_context
def reject(ctx: Context, draft_id: str, by: str, reason: str, as_json: bool) -> None:
    """Reject a draft."""
    from mailcomplaints.service.approval import reject as run
    from mailcomplaints.service.queries import one_draft
    run(ctx.app, draft_id, by, reason, ctx.now)
    emit(one_draft(ctx.app, draft_id), as_json, lambda d: click.echo(f"draft {d['id']} rejected"))


# --- the rest -------------------------------------------------------------------------------

@cli.command("log")
@click.option("--name", required=True, help="Who made the complaint.")
@click.option("--email", default="", help="Their email address, if they have one.")
@click.option("--address", default="", help="Their postal address (letters go here when there is no email).")
@click.option("--channel", type=click.Choice(["phone", "letter", "in_person", "social_media", "webform", "email"]), required=True)
@click.option("--received", "received", default=None, help="When it was received (ISO 8601); default now.")
@click.option("--summary", required=True, help="What they said, in a sentence or two.")
@click.option("--kind", type=click.Choice(["complaint", "compliment", "service_request", "enquiry"]), default="complaint", show_default=True)
@by_option
@json_option
@pass_context
def log_cmd(ctx: Context, name: str, email: str, address: str, channel: str, received: str | None, summary: str,
            kind: str, by: str, as_json: bool) -> None:
    """Record a complaint made by phone, letter, in person or on social media."""
    from mailcomplaints.service import casework
    row = casework.log_contact(ctx.app, name=name, email=email, address=address, channel=channel,
                               received=parse_now(received) if received else ctx.now, summary=summary, kind=kind, now=ctx.now, by=by)
    _print_case(ctx, row.reference, as_json)


@cli.command()
@click.argument("draft_id")
@click.option("--by", required=True, help="Who posted it.")
@json_option
@pass_context
def posted(ctx: Context, draft_id: str, by: str, as_json: bool) -> None:
    """Confirm an approved letter was posted (it counts as sent now)."""
    from mailcomplaints.service.approval import posted as run
    from mailcomplaints.service.queries import one_draft
    run(ctx.app, draft_id, by, ctx.now)
    emit(one_draft(ctx.app, draft_id), as_json, lambda d: click.echo(f"letter {d['id']} recorded as posted"))


@cli.command()
@json_option
@pass_context
def status(ctx: Context, as_json: bool) -> None:
    """What has been processed and what is waiting."""
    from mailcomplaints.service.status import status as run
    def human(s: dict) -> None:
        for key, value in s.items():
            for name, item in (value.items() if isinstance(value, dict) else [("", value)]):
                click.echo(f"{key}{' ' + name.replace('_', ' ') if name else ''}: {'-' if item is None else item}")

    emit(run(ctx.app), as_json, human)


@cli.command()
@click.option("--from", "start", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="First day (default: the last April-March year).")
@click.option("--to", "end", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="Last day, inclusive.")
@click.option("--cases", "figure", default=None, help="List the cases behind one figure, e.g. stage1.responded_late.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), default=None, help="Write the report as a self-contained web page.")
@click.option("--pdf", "pdf_path", type=click.Path(dir_okay=False), default=None, help="Write the report as an A4 PDF.")
@click.option("--csv", "as_csv", is_flag=True, help="Every figure as CSV (figure,value) on standard output.")
@json_option
@pass_context
def report(ctx: Context, start, end, figure: str | None, html_path: str | None, pdf_path: str | None, as_csv: bool, as_json: bool) -> None:
    """The complaints performance report: volumes, CH01, CH02, timeliness, outcomes."""
    from mailcomplaints.reports import page
    from mailcomplaints.service.report import cases_behind, report as run
    start, end = (start.date() if start else None), (end.date() if end else None)
    if figure:
        emit(cases_behind(ctx.app, ctx.now, figure, start, end), as_json, lambda refs: click.echo("\n".join(refs) or "no cases"))
        return
    figures, behind = run(ctx.app, ctx.now, start, end)
    if html_path or pdf_path:
        html = page.as_html(ctx.app, figures, behind, ctx.now)
        if html_path:
            Path(html_path).write_text(html, encoding="utf-8")
        if pdf_path:
            Path(pdf_path).write_bytes(page.as_pdf(html))
    if as_csv:
        click.echo(page.as_csv(figures), nl=False)
        return

    def human(r: dict) -> None:
        click.echo(f"Complaints {r['period']['from']} to {r['period']['to']}" + (f", {r['homes']} homes" if r["homes"] else ""))
        for stage in ("stage1", "stage2"):
            f = r[stage]
            ch02 = "-" if f["ch02_within_timescale"] is None else f"{f['ch02_within_timescale']:.1%}"
            ch01 = "-, no [landlord] homes" if f["ch01_per_1000_homes"] is None else f["ch01_per_1000_homes"]
            click.echo(f"  {stage}: {f['received']} received (CH01 {ch01} per 1,000 homes), "
                       f"{f['responded']} responded, {f['responded_within_timescale']} within the Code (CH02 {ch02})")
        click.echo(f"  escalation rate {r['escalation_rate']}, compliments {r['compliments']}; `report --cases stage1.responded_late` lists cases")

    emit(figures, as_json, human)


@cli.group()
def policy() -> None:
    """Show or check a complaints policy."""


@policy.command("show")
@click.argument("name")
@json_option
def policy_show(name: str, as_json: bool) -> None:
    """The policy as loaded (a shipped name or a path)."""
    from mailcomplaints.policies import load_policy
    loaded = load_policy(name, relative_to=Path.cwd())

    def human(p: dict) -> None:
        console.print(f"[bold]{p['landlord']}[/] ({p['name']}), {p['nation']}, cut-off {p['cutoff']}")
        table = Table()
        for col in ("stage", "what", "period", "from", "ref", "inherited"):
            table.add_column(col)
        for r in p["rules"]:
            amount = "not limited" if r.get("unlimited") else f"{r.get('days') or r.get('months')} {r['unit']}"
            table.add_row(str(r["stage"]), r["what"], amount, r["from"] or "", r["ref"], "yes" if r["inherited"] else "")
        console.print(table)
        console.print("outcomes: " + ", ".join(p["outcomes"]))

    emit(loaded.as_dict(), as_json, human)


@policy.command("check")
@click.argument("name", required=False)
@json_option
@click.pass_context
def policy_check(click_ctx: click.Context, name: str | None, as_json: bool) -> None:
    """Differences between a policy and the Code 2024 baseline."""
    from mailcomplaints.domain.compliance import compare_with_code
    from mailcomplaints.policies import BASELINE, load_policy
    if name is None:
        name = click_ctx.find_object(Context).app.settings.landlord.policy
    findings = compare_with_code(load_policy(name, relative_to=Path.cwd()), load_policy(BASELINE))
    emit([f.as_dict() for f in findings], as_json, lambda items: click.echo(
        "\n".join(f"[{f['classification']}] {f['summary']} (Code {f['code_ref']}; policy {f['policy_ref']})" for f in items)
        or "no differences from the Code"))


@cli.command()
@click.argument("start")
@click.option("--working-days", type=click.IntRange(min=0), required=True)
@click.option("--nation", type=click.Choice(list(NATIONS)), default="england", show_default=True)
@json_option
def deadline(start: str, working_days: int, nation: str, as_json: bool) -> None:
    """The working-day calculator: START plus N working days."""
    try:
        day = date.fromisoformat(start)
    except ValueError:
        raise click.BadParameter(f"{start!r} is not a date like 2026-12-23", param_hint="START") from None
    due = WorkingCalendar(nation=nation).add_working_days(day, working_days)
    emit({"start": day.isoformat(), "working_days": working_days, "nation": nation, "due": due.isoformat()},
         as_json, lambda r: click.echo(f"{r['due']} ({due:%A})"))


@cli.command()
@click.option("--landlord", default="My Housing Association", show_default=True, help="The landlord's name.")
@click.option("--policy", "policy_name", default="housing-ombudsman-code-2024", show_default=True, help="A shipped policy or a path.")
@click.option("--address", default="complaints@example.org", show_default=True, help="The shared mailbox's address.")
@click.option("--path", "target", default="mailcomplaints.toml", show_default=True, help="Where to write the config.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.option("--backend", type=click.Choice(["maildir", "imap", "graph", "ews"]), default="maildir", show_default=True, help="Where the mailbox is.")
@click.option("--host", default=None, help="With --backend imap: the IMAP server (port 993, TLS).")
@click.option("--smtp-host", default=None, help="With --backend imap: the SMTP submission server (port 587, STARTTLS).")
@click.option("--tenant-id", default=None, help="With --backend graph: the app registration's directory (tenant) ID.")
@click.option("--client-id", default=None, help="With --backend graph: the app registration's application (client) ID.")
@click.option("--server-url", default=None, help="With --backend ews: https://mail.example.org/EWS/Exchange.asmx.")
@click.option("--username", default=None, help="With --backend ews: the service account, DOMAIN\\name.")
def init(landlord: str, policy_name: str, address: str, target: str, force: bool, backend: str, host: str | None,
         smtp_host: str | None, tenant_id: str | None, client_id: str | None, server_url: str | None, username: str | None) -> None:
    """Write a working config for a new landlord (Maildir and SQLite to start, an IMAP mailbox, or Microsoft 365)."""
    from mailcomplaints.service.setup import EWS_STEPS, GRAPH_STEPS, ImapServer, write_config
    imap = graph = ews = None
    if backend == "imap":
        if not host or not smtp_host:
            raise click.UsageError("--backend imap needs --host (the IMAP server) and --smtp-host (the SMTP server)")
        imap = ImapServer(host=host, smtp_host=smtp_host)
    if backend == "graph":
        if not tenant_id or not client_id:
            raise click.UsageError("--backend graph needs --tenant-id and --client-id (the app registration in Entra ID)")
        graph = (tenant_id, client_id)
    if backend == "ews":
        if not server_url or not username:
            raise click.UsageError("--backend ews needs --server-url (the EWS endpoint) and --username (the service account)")
        ews = (server_url, username)
    written = write_config(Path(target), landlord=landlord, policy=policy_name, address=address, force=force, imap=imap,
                           graph=graph, ews=ews)
    if ews:
        click.echo(f"wrote {written}.\n" + EWS_STEPS.format(address=address.lower(), username=username)
                   + f"then set MAILCOMPLAINTS_EWS_PASSWORD and run: mailcomplaints --config {written} ingest")
    elif graph:
        click.echo(f"wrote {written}. Now give the app access to {address.lower()} and nothing else:\n"
                   + GRAPH_STEPS.format(address=address.lower(), client_id=client_id)
                   + f"\nthen set MAILCOMPLAINTS_GRAPH_SECRET and run: mailcomplaints --config {written} ingest")
    elif imap:
        click.echo(f"wrote {written}; set {imap.password_env} and {imap.smtp_password_env} in the environment "
                   f"(or a 0600 secrets file the service loads), then: mailcomplaints --config {written} ingest")
    else:
        click.echo(f"wrote {written}; try: mailcomplaints --config {written} status")


# --- data protection (UK GDPR) ----------------------------------------------------------

def _removed_line(counts: dict) -> str:
    return ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in counts.items() if n) or "nothing"


@cli.command()
@click.option("--dry-run", is_flag=True, help="List what is due, change nothing.")
@by_option
@json_option
@pass_context
def retention(ctx: Context, dry_run: bool, by: str, as_json: bool) -> None:
    """Remove personal data kept longer than [retention] allows (tick does this too)."""
    from mailcomplaints.service.privacy import retention as run
    emit(run(ctx.app, ctx.now, by, dry_run), as_json, lambda r: click.echo(
        f"{'would remove' if r['dry_run'] else 'removed'}: {_removed_line(r['counts'])}"
        + (f" ({', '.join(r['cases'])})" if r["cases"] else "")))


@cli.command()
@click.argument("reference", required=False)
@click.option("--person", default=None, help="Everything held about this email address instead of one case.")
@click.option("--output", default=None, help="The ZIP file to write [default: REF-export.zip here].")
@json_option
@pass_context
def export(ctx: Context, reference: str | None, person: str | None, output: str | None, as_json: bool) -> None:
    """Everything held about a case or a person, as a ZIP (a subject access request)."""
    from mailcomplaints.service.export import export_case, export_person
    if bool(reference) == bool(person):
        raise click.UsageError("give a case REFERENCE or --person EMAIL (one of them)")
    result = export_person(ctx.app, person, output, ctx.now) if person else export_case(ctx.app, reference, output, ctx.now)
    emit(result, as_json, lambda r: click.echo(f"wrote {r['path']}: {r['files']} files from {len(r['cases'])} cases"))


@cli.command()
@click.option("--person", required=True, help="The person's email address.")
@click.option("--reason", required=True, help="Why (kept in the erasure record).")
@click.option("--by", required=True, help="Who is erasing (kept in the erasure record).")
@click.option("--dry-run", is_flag=True, help="List what would be erased, change nothing.")
@click.option("--force", is_flag=True, help="Close their open cases as withdrawn, then erase.")
@json_option
@pass_context
def erase(ctx: Context, person: str, reason: str, by: str, dry_run: bool, force: bool, as_json: bool) -> None:
    """Erase every personal datum held about a person (UK GDPR Article 17)."""
    from mailcomplaints.service.privacy import erase as run
    emit(run(ctx.app, person, reason, by, ctx.now, dry_run, force), as_json, lambda r: click.echo(
        f"{'would erase' if r['dry_run'] else 'erased'}: {_removed_line(r['counts'])}"
        + (f"; open cases {', '.join(r['open_cases'])} need --force" if r["needs_force"] else "")
        + (f"; erasure record {r['record']}" if r["record"] else "")
        + (f"; the address is also quoted in {', '.join(r['mentioned_in'])}: check those by hand" if r["mentioned_in"] else "")
        + ("; the database was busy, so its free space keeps old bytes until the next erase or retention run"
           if r.get("database_compacted") is False else "")))


@cli.command()
@json_option
@pass_context
def erasures(ctx: Context, as_json: bool) -> None:
    """The permanent record of erasures and retention runs (no personal data)."""
    from mailcomplaints.service.privacy import erasure_records
    emit(erasure_records(ctx.app), as_json, lambda items: click.echo("\n".join(
        f"{r['id']}  {r['at']}  {r['kind']} by {r['actor']}: {_removed_line(r['counts'])} - {r['reason']}" for r in items)
        or "no erasures"))


@cli.command()
@click.option("--dir", "folder", default="mailcomplaints-demo", show_default=True, help="Where to build the demo.")
def demo(folder: str) -> None:
    """Replay a month of a complaints mailbox and show what the tool made of it."""
    from mailcomplaints.service.demo import run_demo
    run_demo(Path(folder), console)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as stop:
        sys.exit(stop.exit_code)
    except click.ClickException as err:
        click.echo(f"mailcomplaints: {err.format_message()}", err=True)
        sys.exit(2)
    except click.Abort:
        sys.exit(1)
    except BAD_INPUT as err:
        click.echo(f"mailcomplaints: {err}", err=True)
        sys.exit(2)
    except MailboxError as err:
        click.echo(f"mailcomplaints: {err}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as err:  # a bug: one line for the user, the traceback on request
        if os.environ.get("MAILCOMPLAINTS_DEBUG"):
            raise
        click.echo(f"mailcomplaints: internal error: {type(err).__name__}: {err} (set MAILCOMPLAINTS_DEBUG=1 for details)", err=True)
        sys.exit(1)
    sys.exit(0)


if __name__ == "__main__":
    main()
