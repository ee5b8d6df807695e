"""The whole mediation in every shipped language: mediator and parties set up, answer, submit, read the summary,
the report and the joint summary in their own language, confirm the agreement, and Telegram would accept every
call."""

from __future__ import annotations

import re

import pytest

from bot.demo import DEMO_TITLE, play_demo
from bot.i18n import DEFAULT_LANGUAGE, LANGUAGES, RTL_LANGUAGES, Text, _, plain, translator
from bot.local import LocalBot
from bot.scenario import label
from bot.standin import BotApiStandIn

MEDIATOR_ID = 1001


def _said(language: str, text: Text) -> str:
    """A message as the reader sees it: rendered in their language, without its formatting tags."""
    return plain(re.sub(r"<[^>]+>", "", translator(language).render(text)))


@pytest.mark.parametrize("language", list(LANGUAGES))
async def test_a_mediation_runs_entirely_in_each_language(standin: BotApiStandIn, local: LocalBot,
                                                          language: str) -> None:
    run = await play_demo(local, standin, language, mediator_language=language)
    short_id, users = run.short_id, run.users
    assert short_id
    assert [(call.method, call.description) for call in standin.calls() if not call.ok] == []
    mediator_texts = [plain(m.text) for m in standin.messages(MEDIATOR_ID)]
    heading = _said(language, _("<b>Summary of case {case}</b>: {title}", case=short_id, title=DEMO_TITLE))
    assert any(heading in text for text in mediator_texts), language
    (report,) = [m.document[1].decode() for m in standin.messages(MEDIATOR_ID) if m.document is not None]
    direction = "rtl" if language in RTL_LANGUAGES else "ltr"
    assert report.startswith(f'<!DOCTYPE html>\n<html lang="{language}" dir="{direction}">')
    joint = _said(language, _("<b>Joint summary of case {case}</b>: {title}", case=short_id, title=DEMO_TITLE))
    confirmed = _said(language, _("Agreement {number} (version {version}) is confirmed by every party.", number=1,
                                  version=1))
    for user in users.values():
        texts = [plain(m.text) for m in standin.messages(user.user_id)]
        assert any(joint in text for text in texts), (language, user.first_name)
        assert any(confirmed in text for text in texts), (language, user.first_name)
        buttons = {b.text for m in standin.messages(user.user_id) for row in m.buttons for b in row}
        assert label(_("I agree"), language) in buttons
        if language != DEFAULT_LANGUAGE:
            assert label(_("I agree"), DEFAULT_LANGUAGE) not in buttons
        if language in RTL_LANGUAGES:
            assert all(m.text.startswith("\u200f") for m in standin.messages(user.user_id) if m.text)
