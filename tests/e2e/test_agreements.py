"""Agreements and their follow-up end to end (real PTB Application, Bot API stand-in, SQLite, a clock the test
moves): three parties (English, French, Arabic) submit their caucus; the mediator drafts an agreement with a French
translation and two commitments, invites a monitor, and sends it; one party asks for a change, the mediator sends
version 2, and every party confirms it. Then both commitments run past their deadlines: the owner of the first is
reminded, misses it, reports it partly done, and another party disputes that; the second is missed, then reported
done and confirmed by the others; the monitor raises an alarm. The mediators are warned of each.

The mediation runs once for the module; the tests below each check one thing a participant would notice.
"""

from __future__ import annotations

import asyncio
import base64
import html
import io
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from bot import cli, views
from bot.agreements import CHANGED_MEANWHILE
from bot.config import Settings
from bot.i18n import LANGUAGES, _, plain, translator
from bot.local import LocalBot
from bot.scenario import IssueAnswer, IssueSetup, PartyScript, create_case, label, play_party, received_text, tap
from bot.standin import BotApiStandIn, SimUser
from flows.model import InterestCategory
from storage.crypto import MasterKey
from storage.db import default_sqlite_url

MEDIATOR_ID = 1001
PARTIES = {"Upper village": (7101, "en"), "Lower village": (7102, "fr"), "Herders": (7103, "ar")}
ISSUES = [IssueSetup("Spring water"), IssueSetup("Grazing corridor")]
TEXT_1 = "AGREEMENT-ONE: the villages share the spring on alternate days."
FRENCH_1 = "ACCORD-UN : les villages partagent la source un jour sur deux."
TEXT_2 = "AGREEMENT-TWO: the upper village on even days, the lower village on odd days."
COMMENT = "COMMENT-LOWER: please say which days belong to whom."
LATE_COMMENT = "COMMENT-LATE: written while version 2 went out."
COMMITMENT = "COMMITMENT-GATE: rebuild the canal gate\n2026-12-20\nthe monitors visit the gate"
FENCE = "COMMITMENT-FENCE: mend the fence\n2026-12-10\nthe herders check it"
FENCE_COMMENT = "FENCE-COMMENT: half of the posts are up."
DISPUTE = "DISPUTE-HERDERS: there is no post at all."
ALARM = "ALARM-MONITOR: the new gate was taken away at night."
MONITOR_ID = 7109
START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _script(tag: str, language: str) -> PartyScript:
    answers = tuple(IssueAnswer(f"{tag}-position-{n}", (InterestCategory.LIVELIHOOD,), f"{tag}-why-{n}")
                    for n in (1, 2))
    return PartyScript(language, answers, ("Spring water", "Grazing corridor"))


@dataclass
class Run:
    """What the module's mediation left behind for the tests to read."""

    standin: BotApiStandIn
    database: Path
    clock: list[datetime] = field(default_factory=list)
    settings: Settings | None = None
    stale_press: int = 0  # the update of a press on version 1's button once version 2 was out
    case: str = ""
    seen: dict[str, int] = field(default_factory=dict)  # chat -> messages before a step, by step name
    reminders: list[int] = field(default_factory=list)  # what each deadline check sent to owners
    case_menu: str = ""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    folder = tmp_path_factory.mktemp("agreements")
    settings = Settings(token="1:unused", master_key=MasterKey.generate(), database_url=default_sqlite_url(folder),
                        mediator_ids=frozenset({MEDIATOR_ID}))
    with BotApiStandIn() as standin:
        result = Run(standin, folder / "caucus.sqlite3", settings=settings)
        asyncio.run(_mediation(LocalBot(standin, settings), result))
        yield result


async def _mediation(local: LocalBot, run: Run) -> None:
    clock = [START]
    local.bot.runtime.clock = lambda: clock[0]
    run.clock = clock
    await local.start()
    try:
        await _play(local, run)
    finally:
        await local.stop()


async def _play(local: LocalBot, run: Run) -> None:
    standin = local.standin
    mediator = standin.user(MEDIATOR_ID, "Mediator", "en")
    run.case, tokens = await create_case(local, mediator, "Spring case", ISSUES, list(PARTIES))
    users = {name: standin.user(user_id, name, language) for name, (user_id, language) in PARTIES.items()}
    for name, user in users.items():
        await play_party(local, user, tokens[name], _script(name.split()[0].upper(), user.language_code or "en"))
    mediator.send_command("/cases", run.case)
    await local.settle()
    await tap(local, mediator, _("📜 Agreements and commitments"))
    await tap(local, mediator, _("➕ New agreement"))
    mediator.send_text(TEXT_1)
    await local.settle()
    await tap(local, mediator, _("🌐 Add a translation"))
    await tap(local, mediator, LANGUAGES["fr"])
    mediator.send_text(FRENCH_1)
    await local.settle()
    await tap(local, mediator, _("➕ Add a commitment"))
    await tap(local, mediator, "Upper village")
    mediator.send_text("rebuild the gate\nsoon\nby the monitors")  # not a date: refused, the question stands
    await local.settle()
    run.seen["refused commitment"] = len(standin.messages(MEDIATOR_ID))
    mediator.send_text(COMMITMENT)
    await local.settle()
    await tap(local, mediator, _("➕ Add a commitment"))
    await tap(local, mediator, "Lower village")
    mediator.send_text(FENCE)
    await local.settle()
    await tap(local, mediator, _("⬅️ Agreements"))
    await tap(local, mediator, _("👁 Invite a monitor"))
    mediator.send_text("Valley women's network")
    await local.settle()
    token = re.findall(r"start=([A-Za-z0-9_-]+)", received_text(standin, MEDIATOR_ID))[-1]
    monitor = standin.user(MONITOR_ID, "Network", "en")
    monitor.send_command("/start", token)
    await local.settle()
    await tap(local, mediator, _("📜 Agreement {number}", number=1))
    await tap(local, mediator, _("📨 Send to the parties"))
    run.seen["sent 1"] = len(standin.messages(MEDIATOR_ID))
    await tap(local, mediator, _("📨 Send"))
    upper, lower, herders = users.values()
    await tap(local, upper, label(_("✅ I confirm"), "en"), "en")
    await tap(local, lower, label(_("✏️ Ask for a change"), "fr"), "fr")
    lower.send_text(COMMENT)
    await local.settle()
    await tap(local, herders, label(_("✏️ Ask for a change"), "ar"), "ar")  # the comment comes too late, below
    run.seen["revise"] = len(standin.messages(MEDIATOR_ID))
    mediator.send_command("/cases", run.case)
    await local.settle()
    await tap(local, mediator, _("📜 Agreements and commitments"))
    await tap(local, mediator, _("📜 Agreement {number}", number=1))
    await tap(local, mediator, _("✏️ Change the text (new version)"))
    mediator.send_text(TEXT_2)
    await local.settle()
    await tap(local, mediator, _("📨 Send to the parties"))
    run.seen.update({f"v2 {name}": len(standin.messages(user.user_id)) for name, user in users.items()})
    await tap(local, mediator, _("📨 Send"))
    run.seen["late comment"] = len(standin.messages(herders.user_id))
    herders.send_text(LATE_COMMENT)  # version 1, which the comment was for, is replaced: nothing is recorded
    await local.settle()
    first = next(m for m in standin.messages(upper.user_id) if TEXT_1 in m.text and m.buttons)
    run.stale_press = upper.press(label(_("✅ I confirm"), "en"), message_id=first.message_id)
    await local.settle()
    for name, user in users.items():
        language = PARTIES[name][1]
        await tap(local, user, label(_("✅ I confirm"), language), language)
    await _follow_up(local, run, users, mediator, monitor)


async def _follow_up(local: LocalBot, run: Run, users: dict[str, SimUser], mediator: SimUser,
                     monitor: SimUser) -> None:
    """The commitments on the test's clock: reminders, missed deadlines, reports, a dispute, an alarm."""
    upper, lower, herders = users.values()
    run.clock[0] = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)  # the fence is due in two days; the gate in twelve
    run.reminders.append(await local.bot.check_deadlines())
    run.reminders.append(await local.bot.check_deadlines())  # the same day: no second reminder
    await local.settle()
    run.clock[0] = datetime(2026, 12, 11, 10, 0, tzinfo=UTC)  # the fence's deadline has passed, nothing reported
    run.seen["missed fence"] = len(run.standin.messages(MEDIATOR_ID))
    run.reminders.append(await local.bot.check_deadlines())
    await local.settle()
    await tap(local, lower, label(_("◐ Partly done"), "fr"), "fr")
    lower.send_text(FENCE_COMMENT)
    await local.settle()
    await tap(local, upper, label(_("✅ I confirm"), "en"), "en")
    await tap(local, herders, label(_("⚠️ I dispute it"), "ar"), "ar")
    run.seen["long dispute"] = len(run.standin.messages(7103))
    herders.send_text("x" * 1600)  # too long: refused, the question stands
    await local.settle()
    herders.send_text(DISPUTE)
    await local.settle()
    run.clock[0] = datetime(2026, 12, 21, 10, 0, tzinfo=UTC)  # the gate's deadline has passed too
    run.reminders.append(await local.bot.check_deadlines())
    await local.settle()
    await tap(local, upper, label(_("✅ Done"), "en"), "en")
    await tap(local, upper, label(_("📨 Send without a comment"), "en"), "en")
    await tap(local, lower, label(_("✅ I confirm"), "fr"), "fr")
    await tap(local, herders, label(_("✅ I confirm"), "ar"), "ar")
    monitor.send_command("/commitments")
    await local.settle()
    await tap(local, monitor, "👁 Upper village")
    await tap(local, monitor, _("🚨 Alarm"))
    monitor.send_text(ALARM)
    await local.settle()
    mediator.send_command("/cases", run.case)
    await local.settle()
    run.case_menu = run.standin.messages(MEDIATOR_ID)[-1].text


def _clean(text: str) -> str:
    return text.replace("\u2068", "").replace("\u2069", "")


def test_each_party_reads_the_agreement_in_its_language_or_the_original_marked(run: Run) -> None:
    """The French party gets the French translation; the Arabic party, with none given, gets the English original
    with its language named; the commitment reaches all three."""
    upper = _clean(received_text(run.standin, 7101))
    lower = _clean(received_text(run.standin, 7102))
    herders = _clean(received_text(run.standin, 7103))
    assert TEXT_1 in upper
    assert FRENCH_1 in lower
    assert TEXT_1 not in lower
    assert TEXT_1 in herders
    assert "الإنجليزية" in herders  # "English", named in Arabic, as the original's language
    for received in (upper, lower, herders):
        assert "COMMITMENT-GATE: rebuild the canal gate" in received


def test_a_change_request_reaches_the_mediators_only(run: Run) -> None:
    """The comment reaches the mediator with the party's label; no other party ever sees it."""
    mediator = _clean(received_text(run.standin, MEDIATOR_ID))
    assert "Lower village asks for a change to agreement 1, version 1" in mediator
    assert COMMENT in mediator
    for user_id in (7101, 7103):
        assert COMMENT not in received_text(run.standin, user_id)


def test_version_two_needs_and_gets_every_confirmation(run: Run) -> None:
    """Version 2 replaces version 1 for every party (earlier answers no longer count); once all three confirmed,
    every party and the mediator are told, and the case records the agreement."""
    for name, (user_id, _language) in PARTIES.items():
        received = _clean(received_text(run.standin, user_id, run.seen[f"v2 {name}"]))
        assert TEXT_2 in received
    assert "replaces version 1" in _clean(received_text(run.standin, 7101, run.seen["v2 Upper village"]))
    assert "Agreement 1 (version 2) is confirmed by every party." in received_text(run.standin, MEDIATOR_ID)
    assert "Agreement 1 (version 2) is confirmed by every party." in received_text(run.standin, 7101)
    with sqlite3.connect(run.database) as db:
        stage = db.execute("SELECT stage FROM cases").fetchone()[0]
        answers = db.execute(
            "SELECT v.number, r.status FROM agreement_responses r JOIN agreement_versions v ON v.id = r.version_id "
            "ORDER BY v.number, r.status").fetchall()
    assert stage == "monitoring"  # the agreement holds commitments: they are followed from now on
    assert answers == [(1, "change_requested"), (1, "confirmed"), (1, "pending"),
                       (2, "confirmed"), (2, "confirmed"), (2, "confirmed")]


def test_a_commitment_that_cannot_be_read_is_refused_and_nothing_changes(run: Run) -> None:
    """'soon' is not a date: the mediator is told how to write one, and only the next, valid, message added the
    commitment (one commitment in the database)."""
    refusal = run.standin.messages(MEDIATOR_ID)[run.seen["refused commitment"] - 1].text
    assert re.search(r"Please send a date, for example \S*\d{4}-\d{2}-\d{2}", _clean(refusal))
    with sqlite3.connect(run.database) as db:
        assert db.execute("SELECT count(*) FROM commitments").fetchone()[0] == 2


def test_the_agreement_text_is_not_stored_in_clear(run: Run) -> None:
    """The database file holds neither version's text, the translation, the comment nor the commitment."""
    raw = run.database.read_bytes()
    wal = run.database.with_name(run.database.name + "-wal")
    if wal.exists():
        raw += wal.read_bytes()
    for marker in (b"AGREEMENT-ONE", b"AGREEMENT-TWO", b"ACCORD-UN", b"COMMENT-LOWER", b"COMMITMENT-GATE"):
        assert marker not in raw


def test_owners_are_reminded_before_and_asked_at_the_deadline(run: Run) -> None:
    """Two days before the fence's deadline its owner is reminded once that day; when it passes unreported, the
    owner is asked where it stands; so is the gate's owner at its own deadline."""
    assert run.reminders == [1, 0, 1, 1]
    lower = _clean(received_text(run.standin, 7102))
    assert "COMMITMENT-FENCE: mend the fence" in lower


def test_the_mediators_are_warned_of_missed_deadlines_a_dispute_and_an_alarm(run: Run) -> None:
    """Four early warnings, each naming the commitment; the dispute and the alarm carry their comment."""
    mediator = _clean(received_text(run.standin, MEDIATOR_ID, run.seen["missed fence"]))
    assert mediator.count("Early warning") == 4
    assert "A deadline passed with no report: Lower village: COMMITMENT-FENCE: mend the fence" in mediator
    assert "A deadline passed with no report: Upper village: COMMITMENT-GATE: rebuild the canal gate" in mediator
    assert "Herders disputes the report on: Lower village: COMMITMENT-FENCE" in mediator
    assert DISPUTE in mediator
    assert "The monitor Valley women's network raises an alarm about: Upper village: COMMITMENT-GATE" in mediator
    assert ALARM in mediator
    assert FENCE_COMMENT in mediator


def test_comments_and_observations_reach_the_mediators_only(run: Run) -> None:
    """No party reads another's comment, a dispute or the monitor's alarm; the monitor never sees the caucus."""
    for user_id in (7101, 7102, 7103):
        received = received_text(run.standin, user_id)
        assert ALARM not in received
        assert DISPUTE not in received
        if user_id != 7102:
            assert FENCE_COMMENT not in received
    monitor = received_text(run.standin, MONITOR_ID)
    assert "-position-" not in monitor
    assert "-why-" not in monitor
    assert "COMMITMENT-GATE" in monitor
    # The other parties' verdicts are for the mediators: the monitor sees the owners' reports, not a dispute.
    assert "report disputed" not in monitor
    assert "confirmed by the other parties" not in monitor
    assert "reported partly done" in monitor


def test_the_case_menu_shows_each_commitment_at_a_glance(run: Run) -> None:
    """The gate, reported done and confirmed by both other parties, is verified; the fence is disputed."""
    menu = _clean(run.case_menu)
    assert re.search(r"✅ Upper village: COMMITMENT-GATE: rebuild the canal gate · .+ · done, confirmed by the "
                     r"other parties", menu)
    assert re.search(r"⚠️ Lower village: COMMITMENT-FENCE: mend the fence · .+ · report disputed", menu)


def test_every_step_of_the_follow_up_is_in_the_audit_trail(run: Run) -> None:
    """Missed deadlines, reports, reviews and the observation are audit events (their details hold no text)."""
    with sqlite3.connect(run.database) as db:
        kinds = [row[0] for row in db.execute("SELECT kind FROM audit_events ORDER BY seq")]
        details = " ".join(row[0] or "" for row in db.execute("SELECT detail FROM audit_events"))
    assert kinds.count("commitment_missed") == 2
    assert kinds.count("commitment_reported") == 2
    assert kinds.count("commitment_reviewed") == 4
    assert kinds.count("observation_filed") == 1
    assert kinds.count("agreement_answered") + kinds.count("agreement_confirmed") == 5
    assert "COMMITMENT" not in details


def test_the_report_command_adds_the_implementation_section_with_a_timeline(
        run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``caucusbot report`` writes, after the joint-session analysis, every agreement with who answered which
    version when, the commitments with their reports, verdicts and observations, and the timeline as a PNG."""
    assert run.settings is not None
    monkeypatch.setenv("CAUCUS_DATABASE_URL", run.settings.database_url)
    monkeypatch.setenv("CAUCUS_MASTER_KEY", run.settings.master_key.to_base64())
    monkeypatch.delenv("CAUCUS_MASTER_KEY_FILE", raising=False)
    output = tmp_path / "report.html"
    assert cli.main(["report", run.case, "--output", str(output)]) == 0
    report = html.unescape(output.read_text(encoding="utf-8"))
    section = report[report.index("Implementation: agreements and commitments"):]
    assert TEXT_2 in section
    assert "Version 1" in section
    assert "Version 2" in section
    assert "asked for a change" in section
    assert COMMENT in section
    assert "COMMITMENT-FENCE: mend the fence" in section
    assert "report disputed" in section
    assert DISPUTE in section
    assert ALARM in section
    timeline = re.search(r'Timeline: [^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', section)
    assert timeline is not None
    picture = Image.open(io.BytesIO(base64.b64decode(timeline.group(1))))
    assert picture.format == "PNG"
    assert picture.width == 1200


def test_a_button_of_a_replaced_version_changes_nothing(run: Run) -> None:
    """Pressing 'I confirm' on version 1 after version 2 went out is answered as stale; version 2 was confirmed by
    the later press only (one confirmation per party in the database)."""
    toast = run.standin.callback_answer(run.stale_press)
    assert toast is not None
    assert "no longer valid" in toast


def test_a_comment_too_long_is_refused_and_the_dispute_recorded_once(run: Run) -> None:
    """A 1,600-character comment gets a translated refusal (in Arabic for the Arabic party) and changes nothing; the
    next message is recorded as the dispute, once."""
    replies = [_clean(m.text.replace("\u200f", "")) for m in run.standin.messages(7103)[run.seen["long dispute"]:]]
    refusal = plain(translator("ar").render(views.invalid_input("too_long", {"limit": 1500})))
    assert replies[0] == _clean(refusal)
    with sqlite3.connect(run.database) as db:
        disputes = db.execute("SELECT count(*) FROM commitment_reviews WHERE verdict = 'dispute'").fetchone()[0]
    assert disputes == 1


def test_a_comment_on_a_version_replaced_meanwhile_is_not_recorded(run: Run) -> None:
    """The Arabic party began a change request on version 1; version 2 went out before it wrote: it is told, in
    Arabic, that nothing was recorded, and the mediator never gets the comment."""
    replies = [_clean(m.text.replace("\u200f", "")) for m in run.standin.messages(7103)[run.seen["late comment"]:]]
    told = _clean(plain(translator("ar").render(CHANGED_MEANWHILE)))
    assert told in replies
    assert LATE_COMMENT not in received_text(run.standin, MEDIATOR_ID)
