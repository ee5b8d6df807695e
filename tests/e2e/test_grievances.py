"""Grievance intake end to end: people file reports through the Bot API stand-in, the triage team reads them.

50 reports from 20 accounts in 4 languages, anonymous and named; then what the submitters, the
triage team and the database each hold.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot import grievance_views
from bot.config import Settings
from bot.grievance_export import CSV_COLUMNS, read_csv_cell
from bot.grievance_views import GRIEVANCE_CATEGORY_NAMES, STATUS_NAMES, triage_list
from bot.i18n import Text, _, ngettext, plain, translator
from bot.local import LocalBot
from bot.scenario import GrievanceScript, create_case, file_grievance, grievance_actions, label, tap, type_text
from bot.standin import BotApiStandIn, SimUser
from bot.status import export_grievances
from flows.grievance import REFERENCE_PATTERN, Grievance, GrievanceContent, Urgency, count_grievances
from flows.machines import GrievanceStatus
from storage.crypto import KeyRing, MasterKey
from storage.db import default_sqlite_url
from tests.security.scanner import database_bytes, find_leaks, id_forms, text_forms

TRIAGE_ID = 9_000_000_001
MEDIATOR_ID = 1001
FIRST_USER = 7_100_000_000  # above 2**32: its bytes cannot turn up in a ciphertext by chance
REGIONS = ("North", "South", "Coast")
REFERRAL = "Call the district hotline 1122 now."
LANGS = ("en", "fr", "ar", "ru")
_NOW = datetime(2026, 1, 1, tzinfo=UTC)

# Descriptions long enough for their language to be detected, one set per language.
DESCRIPTIONS = {
    "en": ["The company fenced our grazing land and the herders can no longer reach the river",
           "Soldiers stopped the market traders at the checkpoint and took their goods without any receipt",
           "The only water pump of the village has been broken for three months and nobody repairs it"],
    "fr": ["La compagnie a clôturé nos pâturages et les éleveurs ne peuvent plus atteindre la rivière",
           "Des soldats ont arrêté les commerçantes au poste de contrôle et ont pris leurs marchandises",
           "La seule pompe à eau du village est cassée depuis trois mois et personne ne la répare"],
    "ar": ["قامت الشركة بتسييج أراضي الرعي ولم يعد الرعاة قادرين على الوصول إلى النهر",
           "أوقف الجنود التجار عند نقطة التفتيش وأخذوا بضائعهم دون أي إيصال",
           "مضخة المياه الوحيدة في القرية معطلة منذ ثلاثة أشهر ولا أحد يصلحها"],
    "ru": ["Компания огородила наши пастбища, и пастухи больше не могут дойти до реки",
           "Солдаты остановили торговцев на блокпосту и забрали их товары без всякой расписки",
           "Единственный водяной насос в деревне сломан уже три месяца, и никто его не чинит"],
}
CATEGORIES = ("land", "security", "water")


@dataclass(frozen=True, kw_only=True)
class Report(GrievanceScript):
    """One scripted report and the account that files it."""

    user: int
    tag: str  # "<account>-<report number>", in every text the report has


def _reports() -> list[Report]:
    """Accounts 0-9 file three reports each, 10-19 two: 50 in all, in 4 languages."""
    reports = []
    for index in range(20):
        language = LANGS[index % 4]
        for number in range(3 if index < 10 else 2):
            kind = (index + number) % 3
            reports.append(Report(
                user=FIRST_USER + index, tag=f"{index}-{number}", language=language,
                name=None if (index + number) % 2 == 0 else f"Organisation {index}-{number}",
                category=CATEGORIES[kind], region=REGIONS[index % 3] if number != 1 else f"Hill village {index}",
                typed_region=number == 1,
                description=(DESCRIPTIONS[language][kind], f"#{index}-{number}") if number == 2
                else (f"{DESCRIPTIONS[language][kind]} ({index}-{number})",),
                groups=f"Families {index}-{number}" if number != 1 else None,
                urgency=Urgency.DANGER if (index, number) in {(3, 0), (12, 1)}
                else (Urgency.URGENT if number == 1 else Urgency.ROUTINE),
                remedy=f"Repair and compensation {index}-{number}" if index % 2 else None,
                deep_link=number == 0 and index % 5 == 0,
            ))
    return reports


Action = Callable[[], object]


async def _play(local: LocalBot, queues: dict[int, list[Action]]) -> None:
    """Every account acts at once, one action each per round, as people on their phones would."""
    while any(queues.values()):
        for queue in queues.values():
            if queue:
                queue.pop(0)()
        await local.settle(within=60)


def _text(standin: BotApiStandIn, chat: int, since: int = 0) -> list[str]:
    return [plain(message.text) for message in standin.messages(chat)[since:]]


def _say(text: Text | str, language: str) -> str:
    """What the reader sees of a message: rendered in their language, without its HTML tags."""
    reader = translator(language)
    return plain(re.sub(r"<[^>]+>", "", reader.paragraphs(reader.render(text))))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        token="1:unused", master_key=MasterKey.generate(), database_url=default_sqlite_url(tmp_path),
        mediator_ids=frozenset({MEDIATOR_ID}), triage_ids=frozenset({TRIAGE_ID}), grievance_regions=REGIONS,
        safety_referral={"": REFERRAL},
    )


async def test_fifty_reports_from_twenty_accounts(standin: BotApiStandIn, settings: Settings, tmp_path: Path) -> None:
    local = LocalBot(standin, settings)
    await local.start()
    try:
        officer = standin.user(TRIAGE_ID, "Officer", "en")
        officer.send_command("/start")
        await local.settle()
        reports = _reports()
        users = {report.user: standin.user(report.user, "Person", report.language) for report in reports}
        queues: dict[int, list[Action]] = {uid: [] for uid in users}
        for report in reports:
            queues[report.user] += grievance_actions(users[report.user], report)
        await _play(local, queues)

        # Receipts: one reference per report, all different, all in the unambiguous alphabet.
        references: dict[str, Report] = {}
        for uid in users:
            mine = [report for report in reports if report.user == uid]
            keep = _say(_("If it is safer for you, you can delete this chat: your report stays with the team, and "
                          "/track still works from this account."), mine[0].language)
            found = [REFERENCE_PATTERN.search(text) for text in _text(standin, uid) if keep in text]
            assert len(found) == len(mine), uid
            for match, report in zip(found, mine, strict=True):
                assert match is not None
                references[match.group(0)] = report
        assert len(references) == 50

        # The danger step showed the deployment's referral at once, and the officer was alerted for each.
        for report in reports:
            if report.urgency is Urgency.DANGER:
                assert any(REFERRAL in text for text in _text(standin, report.user))
        alerts = [text for text in _text(standin, TRIAGE_ID) if "🚨" in text and REFERENCE_PATTERN.search(text)]
        assert len(alerts) == 2

        # The daily limit: a fourth report on the same day is refused politely, and nothing is created.
        first = users[FIRST_USER]
        before = len(standin.messages(first.user_id))
        first.send_command("/grievance")
        await local.settle()
        refusal = _say(_("Thank you for reporting. To keep this service open for everyone, one account can start at "
                         "most {limit} reports a day. Please try again tomorrow; if someone is in danger now, contact "
                         "local emergency services.", limit=3), "en")
        assert _text(standin, first.user_id, before) == [refusal]

        # /track: the submitter sees the status; anyone else gets exactly the answer for an unknown reference.
        own = next(ref for ref, report in references.items() if report.user == FIRST_USER)
        first.send_command("/track", own.lower().replace("-", " "))
        await local.settle()
        assert _say(_("Status: {status}", status=STATUS_NAMES[GrievanceStatus.RECEIVED]), "en") in \
            _text(standin, first.user_id)[-1]
        other = users[FIRST_USER + 4]  # English, like the owner
        other.send_command("/track", own)
        await local.settle()
        other.send_command("/track", "ABCD-EFGH-JKMN")
        await local.settle()
        foreign, unknown = _text(standin, other.user_id)[-2:]
        assert foreign == unknown
        assert own not in foreign

        # Triage: the counts are exact.
        seen = len(standin.messages(TRIAGE_ID))
        officer.send_command("/grievances")
        await local.settle()
        overview = _text(standin, TRIAGE_ID, seen)[0]
        expected = [Grievance(str(n), ref, GrievanceStatus.RECEIVED, r.language, GrievanceContent(
            anonymous=r.anonymous, category=r.category, region=r.region, description=r.text, urgency=r.urgency,
            languages={"description": r.language}), created_at=_NOW, submitted_at=_NOW, updated_at=_NOW)
            for n, (ref, r) in enumerate(references.items())]
        counts = count_grievances(expected)
        assert counts.by_category == Counter({"land": 16, "security": 17, "water": 17})
        assert counts.by_language == Counter({"en": 13, "fr": 13, "ar": 12, "ru": 12})
        lines = triage_list([], counts, 0, timezone="UTC").lines
        assert overview.split("\n")[:6] == [_say(line, "en") for line in lines[:6]]

        # The export: a CSV with a byte-order mark that reads back to exactly what was reported.
        await tap(local, officer, label(_("📤 Export"), "en"))
        documents = [m.document for m in standin.messages(TRIAGE_ID) if m.document is not None]
        (csv_name, csv_bytes), (html_name, html_bytes) = documents[-2:]
        assert csv_name.endswith(".csv")
        assert html_name.endswith(".html")
        assert csv_bytes.startswith(b"\xef\xbb\xbf")
        rows = list(csv.DictReader(io.StringIO(csv_bytes.decode("utf-8-sig"))))
        assert tuple(rows[0]) == CSV_COLUMNS
        assert len(rows) == 50
        for row in rows:
            report = references[row["reference"]]
            assert {key: read_csv_cell(value) for key, value in row.items()} | {
                "received_on": "", "last_update_on": ""} == {
                "reference": row["reference"], "received_on": "", "status": "received",
                "urgency": report.urgency.value, "category": report.category, "place": report.region,
                "language": report.language, "anonymous": "yes" if report.anonymous else "no",
                "name": report.name or "", "description": report.text, "affected_groups": report.groups or "",
                "wished_outcome": report.remedy or "", "last_update_on": "", "agenda_cases": ""}
        html_text = html_bytes.decode("utf-8")
        assert '<html lang="en" dir="ltr">' in html_text
        assert 'lang="ar" dir="rtl"' in html_text  # each Arabic report reads right to left
        for report in reports:
            if report.anonymous:
                assert f"Organisation {report.tag}" not in html_text
    finally:
        await local.stop()

    # At rest: no Telegram id of an anonymous submitter, and none of what anyone typed, in clear.
    stored = database_bytes(tmp_path / "caucus.sqlite3")
    assert not find_leaks(stored, {"a status never set": text_forms("under_review")})
    # Statuses and categories are kept in clear: the scan reads the real data.
    assert find_leaks(stored, {"a status": text_forms("received")})
    needles = {}
    for report in reports:
        if report.anonymous:
            needles[f"Telegram id of anonymous report {report.tag}"] = id_forms(report.user)
        typed = (*report.description, report.name, report.groups, report.remedy,
                 report.region if report.typed_region else None)
        needles.update({f"text of report {report.tag}: {text}": text_forms(text) for text in typed if text})
    assert [str(leak) for leak in find_leaks(stored, needles)] == []



async def _file(local: LocalBot, user: SimUser, report: Report) -> str:
    """One person files one report alone; returns its reference."""
    await file_grievance(local, user, report)
    match = REFERENCE_PATTERN.search(_text(local.standin, user.user_id)[-1])
    assert match is not None
    return match.group(0)


def _report(user: int, language: str, description: str, *, region: str = "North", category: str = "land") -> Report:
    return Report(user=user, tag="x", language=language, category=category, region=region,
                  description=(description,), urgency=Urgency.ROUTINE)


async def test_triage_answers_refers_and_closes(standin: BotApiStandIn, settings: Settings) -> None:
    """Each status change reaches the person in their own language; closing an anonymous report ends the contact."""
    local = LocalBot(standin, replace(settings, triage_ids=frozenset({TRIAGE_ID, TRIAGE_ID + 1})))
    await local.start()
    try:
        officer, colleague = standin.user(TRIAGE_ID, "Officer", "en"), standin.user(TRIAGE_ID + 1, "Colleague", "en")
        person = standin.user(FIRST_USER, "Person", "ar")
        reference = await _file(local, person, _report(FIRST_USER, "ar", DESCRIPTIONS["ar"][2], category="water"))

        # Someone who is not on the triage team learns nothing, not even that the command exists for others.
        person.send_command("/grievances")
        await local.settle()
        assert _text(standin, person.user_id)[-1] == _say(_("I do not know that command. /help lists what you can "
                                                            "do."), "ar")

        officer.send_command("/grievances", reference)
        await local.settle()
        assert DESCRIPTIONS["ar"][2] in _text(standin, TRIAGE_ID)[-1]
        colleague.send_command("/grievances", reference)
        await local.settle()
        await tap(local, officer, label(_("↗️ Refer it"), "en"))
        await type_text(local, officer, "Passed to the district water office, who will visit on Monday.")
        notice = _text(standin, person.user_id)[-1]
        assert notice == _say(grievance_views.status_notice(
            reference, GrievanceStatus.REFERRED, "Passed to the district water office, who will visit on Monday."
        ).lines[0], "ar") + "\n" + "\n".join(
            _say(line, "ar") for line in grievance_views.status_notice(
                reference, GrievanceStatus.REFERRED, "Passed to the district water office, who will visit on Monday."
            ).lines[1:])

        # The colleague's screen still offers the old status's buttons: stale now, and nothing changes.
        before = len(standin.messages(person.user_id))
        await tap(local, colleague, label(_("✅ Addressed"), "en"))
        assert len(standin.messages(person.user_id)) == before
        assert standin.calls("answerCallbackQuery")[-1].params.get("text") == _say(_(
            "This button is no longer valid. Please use the buttons of the latest message."), "en")

        # Closing an anonymous report: the last message reaches the person, then the chat is forgotten.
        await tap(local, officer, label(_("🔒 Close it"), "en"))
        assert "erases the way to reach the person" in _text(standin, TRIAGE_ID)[-1]
        await tap(local, officer, label(_("Without a message"), "en"))
        assert _text(standin, person.user_id)[-1] == _say(grievance_views.status_notice(
            reference, GrievanceStatus.CLOSED, None).lines[0], "ar")
        assert _say(_("The person can no longer be written to here; they can still see the status with /track."),
                    "en") in _text(standin, TRIAGE_ID)[-1]
        person.send_command("/track", reference)
        await local.settle()
        history = _text(standin, person.user_id)[-1]
        assert _say(_("Status: {status}", status=STATUS_NAMES[GrievanceStatus.CLOSED]), "ar") in history
        assert "Passed to the district water office" in history
    finally:
        await local.stop()


async def test_similar_reports_become_an_agenda_issue(
        standin: BotApiStandIn, settings: Settings, tmp_path: Path) -> None:
    """Reports of one category that say similar things form a group; the group becomes an issue of a case."""
    local = LocalBot(standin, replace(settings, triage_ids=frozenset({TRIAGE_ID, MEDIATOR_ID})))
    await local.start()
    try:
        mediator = standin.user(MEDIATOR_ID, "Mediator", "en")
        short_id, _tokens = await create_case(local, mediator, "Valley water", ["Water sharing", "Grazing"],
                                              ["Farmers", "Herders"])
        similar = "The water pump of the village is broken and nobody repairs the water pump"
        for number, (text, region) in enumerate([(similar, "North"), (similar + " since March", "South"),
                                                 (similar + " again", "North"),
                                                 ("Soldiers took goods at the checkpoint", "Coast")]):
            user = standin.user(FIRST_USER + number, "Person", "en")
            await _file(local, user, _report(FIRST_USER + number, "en", text, region=region,
                                             category="water" if number < 3 else "security"))
        mediator.send_command("/grievances")
        await local.settle()
        await tap(local, mediator, label(_("🧩 Similar reports"), "en"))
        groups = _text(standin, MEDIATOR_ID)[-1]
        assert _say(ngettext("<b>Group {number}</b>: {count} report · {category}",
                             "<b>Group {number}</b>: {count} reports · {category}", 3, number=1,
                             category=GRIEVANCE_CATEGORY_NAMES["water"]), "en") in groups
        assert "Group 2" not in groups  # the security report stands alone
        await tap(local, mediator, label(_("➕ Group {number} to a case's agenda", number=1), "en"))
        await tap(local, mediator, next(b for b in mediator.buttons() if b.startswith(short_id)))
        await tap(local, mediator, "«Water: North, South»")
        assert _say(_("Issue added to case {case}: {issue}. {count} reports are linked to it.", case=short_id,
                      issue="Water: North, South", count=3), "en") == _text(standin, MEDIATOR_ID)[-1]
        mediator.send_command("/cases", short_id)
        await local.settle()
        await tap(local, mediator, label(_("🧩 Issues and options"), "en"))
        assert "Water: North, South" in _text(standin, MEDIATOR_ID)[-1]
    finally:
        await local.stop()

    # The operator's export: the three reports name the case that took them up; only the owner can read the files.
    output = tmp_path / "export"
    code = await asyncio.to_thread(export_grievances, settings.database_url, KeyRing(settings.master_key), output, "fr")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO((output / "grievances.csv").read_bytes().decode("utf-8-sig"))))
    assert sorted(row["agenda_cases"] for row in rows) == ["", short_id, short_id, short_id]
    assert {(output / name).stat().st_mode & 0o777 for name in ("grievances.csv", "grievances.html")} == {0o600}
    assert '<html lang="fr" dir="ltr">' in (output / "grievances.html").read_text(encoding="utf-8")
