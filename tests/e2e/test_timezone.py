"""Each person reads times in their own time zone: deadlines, reminders at reasonable local hours, /status."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from bot.formats import Moment
from bot.i18n import _, plain, translator
from bot.local import LocalBot
from bot.scenario import create_case, join, tap, type_text
from bot.standin import BotApiStandIn
from bot.views import INVALID_INPUT

MEDIATOR_ID = 1001
TOKYO = "Asia/Tokyo"


def _say(text: object, language: str = "en") -> str:
    return plain(translator(language).render(text))  # type: ignore[arg-type]


async def test_times_in_each_readers_time_zone(standin: BotApiStandIn, local: LocalBot) -> None:
    # Days ahead of the real clock, which stamps the parties' activity; outside summer time in Kyiv.
    today = datetime.now(UTC).date()
    day = next(today + timedelta(days=n) for n in range(2, 400) if (today + timedelta(days=n)).month in {1, 2, 12})
    start = datetime.combine(day, time(6, 0), UTC)
    clock = [start]
    local.bot.runtime.clock = lambda: clock[0]
    mediator = standin.user(MEDIATOR_ID, "Mediator", "en")
    short_id, tokens = await create_case(local, mediator, "Harbour", ["Berths", "Fees"], ["Fishers", "Port"])
    fishers, port = standin.user(2001, "F", "en"), standin.user(2002, "P", "en")
    await join(local, fishers, tokens["Fishers"], "en")
    await join(local, port, tokens["Port"], "en")

    # A party chooses its zone; a zone that does not exist is refused and changes nothing.
    fishers.send_command("/timezone", TOKYO)
    await local.settle()
    confirmation = _say(_("From now on I show times in {zone}. It is now {now}.", zone=TOKYO, now=Moment(start, TOKYO)))
    texts = [plain(m.text) for m in standin.messages(fishers.user_id)]
    assert confirmation in texts
    port.send_command("/timezone")
    await local.settle()
    await type_text(local, port, "Mars/Olympus")
    assert plain(standin.messages(port.user_id)[-1].text) == _say(INVALID_INPUT["unknown_timezone"])

    # The deadline is the end of 4 March in the case's zone (UTC).
    mediator.send_command("/cases", short_id)
    await local.settle()
    await tap(local, mediator, "⏰ Deadline")
    await type_text(local, mediator, (day + timedelta(days=2)).isoformat())
    deadline = datetime.combine(day + timedelta(days=2), time(23, 59), UTC)

    def reminded(user_id: int, since: int) -> list[str]:
        return [plain(m.text) for m in standin.messages(user_id)[since:] if "gentle reminder" in m.text]

    seen = {uid: len(standin.messages(uid)) for uid in (fishers.user_id, port.user_id)}
    # 01:00 UTC is 10:00 in Tokyo: only the party there is reminded, the deadline in its own time.
    clock[0] = datetime.combine(day + timedelta(days=1), time(1, 0), UTC)
    sent = await local.bot.check_deadlines()
    await local.settle()
    assert sent == 1
    assert reminded(fishers.user_id, seen[fishers.user_id]) == [_say(_(
        "A gentle reminder: the mediator would like your answers by {deadline}. /resume continues where you "
        "stopped; if you need more time, tell the mediator with /note.", deadline=Moment(deadline, TOKYO)))]
    assert "(Asia/Tokyo)" in reminded(fishers.user_id, seen[fishers.user_id])[0]
    assert reminded(port.user_id, seen[port.user_id]) == []
    # 12:00 UTC is 21:00 in Tokyo, too late there; the other party, on the case's zone, is reminded now.
    clock[0] = datetime.combine(day + timedelta(days=1), time(12, 0), UTC)
    sent = await local.bot.check_deadlines()
    await local.settle()
    assert sent == 1
    assert len(reminded(port.user_id, seen[port.user_id])) == 1
    assert "(UTC)" in reminded(port.user_id, seen[port.user_id])[0]

    # The mediator's /status follows the mediator's own zone.
    mediator.send_command("/timezone", "Europe/Kyiv")
    await local.settle()
    mediator.send_command("/status", short_id)
    await local.settle()
    status = plain(standin.messages(mediator.user_id)[-1].text)
    assert _say(_("Deadline: {when}", when=Moment(deadline, "Europe/Kyiv"))) in status
    assert "1:59" in status  # Kyiv is two hours ahead of UTC in winter
