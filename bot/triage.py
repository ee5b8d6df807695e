"""The triage team's side of grievances: /grievances, one report, status changes, groups, agenda, export.

Triage officers are the Telegram ids in ``CAUCUS_TRIAGE_IDS``; anyone else gets the same
answer as for a command that does not exist for them.
"""

from __future__ import annotations

import asyncio

from bot import grievance_views, mediator
from bot.grievance_export import export_csv, export_html
from bot.i18n import _, plain, user_text
from bot.replies import Reply
from bot.turn import Courier, Scope, Turn
from flows.errors import InvalidInput, StepMismatch
from flows.grievance import (
    OPEN_STATUSES,
    STATUS_ACTIONS,
    Grievance,
    count_grievances,
    group_similar,
    next_status,
)
from flows.matching import CharNgramMatcher, TextMatcher, best_matcher
from flows.text import MAX_TITLE_CHARS, clean_text

__all__ = ["show_grievances", "triage_button", "triage_text"]

_LIST = Scope("tri", "list", 0)  # list buttons stay valid; what they open is checked when pressed
_MAX_MESSAGE_CHARS = 1000


def _group_scope(first_id: str) -> Scope:
    """Buttons about a group of similar reports, named by its first report; the group is found again when pressed."""
    return Scope("trg", first_id, 0)


async def _scope(turn: Turn, grievance_id: str) -> Scope:
    return Scope("tri", grievance_id, await turn.tx.grievance_version(grievance_id) or 0)


async def show_grievances(turn: Turn, args: list[str]) -> None:
    """/grievances [reference]: the counts and the list, or one report."""
    if not turn.runtime.is_triage(turn.user_id):
        await turn.reply(Reply.of(_("I do not know that command. /help lists what you can do.")))
        return
    if args:
        grievance_id = await turn.tx.grievance_id_for("".join(args))
        if grievance_id is None:
            await turn.reply(Reply.of(_("No report has this reference.")))
            return
        await _detail(turn, grievance_id)
        return
    await _list(turn, 0)


async def _list(turn: Turn, page: int, *, edit: int | None = None) -> None:
    grievances = await turn.tx.triage_grievances()
    await turn.reply(grievance_views.triage_list(grievances, count_grievances(grievances), page,
                                                 timezone=turn.timezone), scope=_LIST, edit=edit)


async def _detail(turn: Turn, grievance_id: str) -> None:
    grievance = await turn.tx.grievance(grievance_id)
    if grievance is None:
        raise InvalidInput("gone")
    contact = await turn.tx.grievance_contact(grievance_id)
    await turn.reply(grievance_views.grievance_detail(grievance, timezone=turn.timezone,
                                                      reachable=contact.chat_id is not None),
                     scope=await _scope(turn, grievance_id), key_id=contact.key_id)


async def triage_button(turn: Turn, owner: str, action: str, argument: str, message_id: int | None) -> None:
    """A button of a triage screen (``owner`` is "list", the grievance the screen shows, or a group's first report)."""
    pending = turn.user.pending or ""
    await turn.tx.set_pending(turn.user_id, None)
    if action == "page":
        await _list(turn, int(argument), edit=message_id)
    elif action == "open":
        await _detail(turn, argument or owner)
    elif action == "status":
        await _ask_status(turn, owner, argument)
    elif action == "confirm":
        await _change_status(turn, owner, argument, None)
    elif action == "groups":
        await _groups(turn)
    elif action == "agenda":
        await _choose_case(turn, argument)
    elif action == "agenda_case":
        await _ask_title(turn, argument, owner)
    elif action == "agenda_title":
        await _add_to_agenda(turn, pending.partition(":")[2] if pending.startswith("agenda:") else "", owner, None)
    elif action == "export":
        await _export(turn)
    else:
        raise ValueError(f"unknown triage action {action!r}")


async def triage_text(turn: Turn, text: str) -> None:
    """Text typed for a triage screen: a message going with a status change, or an agenda issue's title."""
    pending = turn.user.pending or ""
    kind, _sep, rest = pending.partition(":")
    await turn.tx.set_pending(turn.user_id, None)
    await turn.tx.set_active(turn.user_id, None, None)
    if kind == "gstatus" and turn.user.active_id:
        await _change_status(turn, turn.user.active_id, rest, clean_text(text, max_chars=_MAX_MESSAGE_CHARS))
    elif kind == "agenda" and turn.user.active_id:
        await _add_to_agenda(turn, rest, turn.user.active_id, text)
    else:
        await turn.reply(Reply.of(_("I was not expecting a message now. /grievances opens the reports.")))


# Status ----------------------------------------------------------------------------------------------
async def _ask_status(turn: Turn, grievance_id: str, action: str) -> None:
    grievance = await turn.tx.grievance(grievance_id)
    if grievance is None or action not in STATUS_ACTIONS:
        raise InvalidInput("gone")
    next_status(grievance.status, action)  # refuses an action the status does not allow
    contact = await turn.tx.grievance_contact(grievance_id)
    await turn.tx.set_active(turn.user_id, "triage", grievance_id)
    await turn.tx.set_pending(turn.user_id, f"gstatus:{action}")
    await turn.reply(grievance_views.status_prompt(grievance, action, reachable=contact.chat_id is not None),
                     scope=await _scope(turn, grievance_id))


async def _change_status(turn: Turn, grievance_id: str, action: str, message: str | None) -> None:
    """Move the grievance on, tell the person (in their language) if they can still be reached, show it again."""
    grievance = await turn.tx.grievance(grievance_id)
    if grievance is None:
        raise InvalidInput("gone")
    try:
        status = next_status(grievance.status, action)
    except StepMismatch:  # another officer moved it meanwhile
        raise InvalidInput("status_changed") from None
    contact = await turn.tx.grievance_contact(grievance_id)  # read before closing destroys the chat
    await turn.tx.record_grievance_update(grievance_id, turn.user_id, status=status, message=message)
    if contact.chat_id is not None:
        await turn.send(contact.chat_id, contact.language, contact.user_hash,
                        grievance_views.status_notice(grievance.reference, status, message), key_id=contact.key_id)
        await turn.reply(Reply.of(_("Status changed to: {status}. The person was told.",
                                    status=grievance_views.STATUS_NAMES[status])))
    else:
        await turn.reply(Reply.of(_("Status changed to: {status}. The person can no longer be written to here; "
                                    "they see it with /track.", status=grievance_views.STATUS_NAMES[status])))
    await _detail(turn, grievance_id)


# Groups and the agenda ------------------------------------------------------------------------------
async def _similar(turn: Turn) -> tuple[list[list[Grievance]], TextMatcher]:
    grievances = [g for g in await turn.tx.triage_grievances() if g.status in OPEN_STATUSES]
    matcher = best_matcher()
    groups = await asyncio.to_thread(group_similar, grievances, matcher)
    return groups, matcher


async def _groups(turn: Turn) -> None:
    groups, matcher = await _similar(turn)
    await turn.reply(grievance_views.groups_view(groups, across_languages=not isinstance(matcher, CharNgramMatcher)),
                     scope=_LIST)


async def _group(turn: Turn, first_id: str) -> list[Grievance]:
    """The group whose first report is ``first_id``, as it is now (groups change as reports come and go)."""
    for group in (await _similar(turn))[0]:
        if group[0].id == first_id:
            return group
    raise InvalidInput("gone")


async def _choose_case(turn: Turn, group_number: str) -> None:
    groups = (await _similar(turn))[0]
    index = int(group_number) - 1
    if not 0 <= index < len(groups):
        raise InvalidInput("gone")
    cases = [(info.id, info.short_id, info.title) for info in await turn.tx.cases_of(turn.user_id)]
    reply = grievance_views.agenda_cases(cases, index + 1)
    await turn.reply(reply, scope=_group_scope(groups[index][0].id))


def _suggested_title(turn: Turn, group: list[Grievance]) -> str:
    category = plain(turn.translator.render(grievance_views.category_name(group[0].content.category)))
    places = sorted({g.content.region for g in group if g.content.region})
    title = f"{category}: {', '.join(places)}" if places else category
    return title if len(title) <= MAX_TITLE_CHARS else title[: MAX_TITLE_CHARS - 1] + "…"


async def _ask_title(turn: Turn, case_id: str, first_id: str) -> None:
    if not await turn.tx.is_case_mediator(case_id, turn.user_id):
        raise StepMismatch("not a mediator of this case")
    group = await _group(turn, first_id)
    await turn.tx.set_active(turn.user_id, "triage", first_id)
    await turn.tx.set_pending(turn.user_id, f"agenda:{case_id}")
    info = await turn.tx.case_info(case_id)
    await turn.reply(grievance_views.agenda_title_prompt(info.short_id, _suggested_title(turn, group)),
                     scope=_group_scope(first_id))


async def _add_to_agenda(turn: Turn, case_id: str, first_id: str, typed: str | None) -> None:
    """The group becomes an issue of the case; each report of it records which case took it up."""
    if not await turn.tx.is_case_mediator(case_id, turn.user_id):
        raise StepMismatch("not a mediator of this case")
    group = await _group(turn, first_id)
    title = typed if typed is not None else _suggested_title(turn, group)
    info = await turn.tx.case_info(case_id)
    issue = await mediator.add_issue_from_triage(turn, case_id, title)
    for grievance in group:
        await turn.tx.record_grievance_update(grievance.id, turn.user_id, status=grievance.status,
                                              message=info.short_id, kind="agenda")
    await turn.tx.set_pending(turn.user_id, None)
    await turn.tx.set_active(turn.user_id, None, None)
    await turn.reply(Reply.of(_("Issue added to case {case}: {issue}. {count} reports are linked to it.",
                                case=info.short_id, issue=user_text(issue.title), count=len(group))))


async def _export(turn: Turn) -> None:
    grievances = await turn.tx.triage_grievances()
    now = turn.runtime.clock()
    stamp = now.strftime("%Y%m%d-%H%M")
    courier = Courier(turn.tx)
    await courier.send_file(turn.chat_id, turn.language, _("Grievances: spreadsheet (CSV, UTF-8)."),
                            export_csv(grievances), f"grievances-{stamp}.csv")
    await courier.send_file(turn.chat_id, turn.language, _("Grievances: printable report."),
                            export_html(grievances, turn.translator, generated=now, timezone=turn.timezone).encode(),
                            f"grievances-{stamp}.html")
