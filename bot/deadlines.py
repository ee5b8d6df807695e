"""Round deadlines: polite reminders to parties who have not submitted, and a late list for mediators."""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.formats import Moment
from bot.i18n import Markup, Text, _, user_text
from bot.replies import Reply
from bot.turn import Courier, Runtime
from flows.case import reminder_due

__all__ = ["check_deadlines"]

logger = logging.getLogger(__name__)


async def check_deadlines(runtime: Runtime, now: datetime) -> int:
    """Send the reminders due at ``now`` and report late parties once; returns the reminders sent."""
    sent = 0
    async with runtime.store.transaction() as tx:
        assert tx is not None  # noqa: S101 - no update id, so never a duplicate
        courier = Courier(tx)
        for info in await tx.cases_with_deadline():
            deadline = info.deadline
            assert deadline is not None  # noqa: S101 - only cases with a deadline are listed
            for party in await tx.reminder_candidates(info.id):
                zone = party.timezone or info.timezone  # reasonable hours where the party is, if it said where
                if not reminder_due(now, deadline, zone, last_reminded=party.last_reminded,
                                    last_activity=party.last_activity):
                    continue
                await courier.send(party.chat_id, party.language, party.user_hash, Reply.of(
                    _("A gentle reminder: the mediator would like your answers by {deadline}. "
                      "/resume continues where you stopped; if you need more time, tell the mediator with /note.",
                      deadline=Moment(deadline, zone))),
                    key_id=await tx.seat_key_id(party.seat_id))
                await tx.mark_reminded(party.seat_id, now.astimezone(ZoneInfo(zone)).date())
                sent += 1
            if now > deadline and not await tx.late_reported(info.id):
                late = await tx.late_seats(info.id)
                lines: list[Text | str] = [_("The deadline of case {case} has passed.", case=info.short_id)]
                lines += ([_("Not submitted yet: {parties}", parties=Markup(", ".join(map(user_text, late))))] if late
                          else [_("Every party has submitted.")])
                await courier.notify_mediators(runtime, info.id, Reply.of(*lines))
                await tx.mark_late_reported(info.id)
    if sent:
        logger.info("deadline reminders sent: %d", sent)
    return sent
