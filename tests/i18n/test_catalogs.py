"""The message catalogs: current with the code, complete, and faithful to their English sources."""

from __future__ import annotations

import re
import shlex
import string
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po

from bot.i18n import DEFAULT_LANGUAGE, LANGUAGES, Translator, _, ngettext

ROOT = Path(__file__).resolve().parents[2]
LOCALES = ROOT / "locales"
TEMPLATE = LOCALES / "caucus.pot"
SCRIPT = ROOT / "scripts" / "catalogs"
CATALOGS = sorted(LOCALES.glob("*/LC_MESSAGES/caucus.po"))
FIX = "Run scripts/catalogs to re-extract the messages and update the catalogs."

# (language, msgid) -> why a translation may be identical to its English source. Anything else that
# is left in English counts as untranslated. Keep this short: a proper name or a word that really is
# the same in that language, with the reason next to it. The French catalog needs no entry today.
SAME_AS_ENGLISH: dict[tuple[str, str], str] = {}

_TAG = re.compile(r"</?\s*([A-Za-z][A-Za-z0-9]*)[^>]*>")
_FRENCH_SPACE_BEFORE = re.compile(r" [:;?!»]|« ")

MessageKey = tuple[str | None, str | tuple[str, ...]]


@cache
def _read(path: Path) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle)


def _messages(catalog: Catalog) -> Iterator[Message]:
    return (message for message in catalog if message.id)


def _key(message: Message) -> MessageKey:
    msgid = tuple(message.id) if isinstance(message.id, (list, tuple)) else message.id
    return message.context, msgid


def _ids(catalog: Catalog) -> set[MessageKey]:
    return {_key(message) for message in _messages(catalog)}


def _language(path: Path) -> str:
    return path.parent.parent.name


def _difference(expected: set[MessageKey], actual: set[MessageKey], *,
                expected_name: str, actual_name: str) -> str:
    lines = [f"  only in {expected_name}: {key[1]!r}" for key in sorted(expected - actual, key=repr)]
    lines += [f"  only in {actual_name}: {key[1]!r}" for key in sorted(actual - expected, key=repr)]
    return "\n".join(lines)


def _extract_options() -> list[str]:
    """The options scripts/catalogs gives `pybabel extract`, without its output file."""
    script = SCRIPT.read_text(encoding="utf-8").replace("\\\n", " ")
    for line in script.splitlines():
        words = shlex.split(line, comments=True)
        if words[:2] == ["pybabel", "extract"]:
            options: list[str] = []
            arguments = iter(words[2:])
            for word in arguments:
                if word in {"-o", "--output", "--output-file"}:
                    next(arguments)
                elif not word.startswith(("--output=", "--output-file=")):
                    options.append(word)
            return options
    raise AssertionError(f"{SCRIPT} has no `pybabel extract` command")


def _fields(text: str) -> Counter[str]:
    """The str.format fields of a message (ValueError when it is not a valid format string)."""
    parsed = string.Formatter().parse(text)
    names = (field for _literal, field, _spec, _conversion in parsed if field is not None)
    return Counter(re.split(r"[.\[]", name, maxsplit=1)[0] for name in names)


def _tags(text: str) -> Counter[str]:
    return Counter(("/" if match.group(0).startswith("</") else "") + match.group(1).lower()
                   for match in _TAG.finditer(text))


def _sources(message: Message) -> list[str]:
    """The English source each translated form corresponds to (the plural for every form but the first)."""
    if isinstance(message.string, (list, tuple)):
        singular, plural = message.id[0], message.id[1]
        return [singular] + [plural] * (len(message.string) - 1)
    return [message.id]


def _forms(message: Message) -> list[str]:
    return list(message.string) if isinstance(message.string, (list, tuple)) else [message.string]


def test_there_is_a_catalog_for_every_offered_language() -> None:
    """Every language the bot offers, except English (the source), has a catalog, and vice versa."""
    offered = set(LANGUAGES) - {DEFAULT_LANGUAGE}
    assert offered, "no language besides English is offered"
    assert {_language(path) for path in CATALOGS} == offered


def test_template_matches_the_code(tmp_path: Path) -> None:
    """Extracting the messages from the code now gives exactly the messages of locales/caucus.pot."""
    output = tmp_path / "caucus.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", *_extract_options(), "-o", str(output)],
        cwd=ROOT, check=True, capture_output=True, timeout=60,
    )
    extracted, template = _ids(_read(output)), _ids(_read(TEMPLATE))
    assert extracted, "no message was extracted from the code"
    assert extracted == template, (
        f"locales/caucus.pot is out of date with the code:\n"
        f"{_difference(extracted, template, expected_name='the code', actual_name='caucus.pot')}\n{FIX}"
    )


@pytest.mark.parametrize("path", CATALOGS, ids=_language)
def test_catalog_holds_exactly_the_template_messages(path: Path) -> None:
    """A catalog holds every message of the template and no other."""
    template, catalog = _ids(_read(TEMPLATE)), _ids(_read(path))
    assert catalog == template, (
        f"{path.relative_to(ROOT)} differs from the template:\n"
        f"{_difference(template, catalog, expected_name='caucus.pot', actual_name='the catalog')}\n{FIX}"
    )


@pytest.mark.parametrize("path", CATALOGS, ids=_language)
def test_every_message_is_translated(path: Path) -> None:
    """Every message has a non-fuzzy translation in all plural forms, and none is left in English."""
    catalog, language = _read(path), _language(path)
    problems = []
    for message in _messages(catalog):
        key = message.id if isinstance(message.id, str) else message.id[0]
        forms = _forms(message)
        if message.fuzzy:
            problems.append(f"fuzzy: {key!r}")
        elif isinstance(message.id, (list, tuple)) and len(forms) != catalog.num_plurals:
            problems.append(f"{len(forms)} plural forms instead of {catalog.num_plurals}: {key!r}")
        elif not all(form.strip() for form in forms):
            problems.append(f"untranslated: {key!r}")
        elif (language, key) not in SAME_AS_ENGLISH and any(
                form == source for form, source in zip(forms, _sources(message), strict=True)):
            problems.append(f"left in English: {key!r}")
    assert not problems, f"{path.relative_to(ROOT)}:\n  " + "\n  ".join(problems)


def test_allowed_english_entries_exist() -> None:
    """Every entry of the same-as-English allow-list names a real catalog and message, with a reason."""
    templates = {key[1] if isinstance(key[1], str) else key[1][0] for key in _ids(_read(TEMPLATE))}
    for (language, msgid), reason in SAME_AS_ENGLISH.items():
        assert language in {_language(path) for path in CATALOGS}, language
        assert msgid in templates, msgid
        assert reason.strip(), msgid


@pytest.mark.parametrize("path", CATALOGS, ids=_language)
def test_translations_keep_placeholders_and_tags(path: Path) -> None:
    """Each translation keeps its source's {placeholders} and HTML tags (a plural form may omit {count})."""
    problems = []
    for message in _messages(_read(path)):
        plural = isinstance(message.id, (list, tuple))
        for form, source in zip(_forms(message), _sources(message), strict=True):
            if not form:
                continue
            wanted = _fields(message.id[1] if plural else source)
            try:
                found = _fields(form)
            except ValueError as error:
                problems.append(f"{form!r}: not a valid format string ({error})")
                continue
            allowed = [wanted, wanted - Counter({"count": wanted["count"]})] if plural else [wanted]
            if found not in allowed:
                problems.append(f"{form!r}: placeholders {sorted(found.elements())}, "
                                f"expected {sorted(wanted.elements())}")
            if _tags(form) != _tags(source):
                problems.append(f"{form!r}: HTML tags {sorted(_tags(form).elements())}, "
                                f"expected {sorted(_tags(source).elements())}")
    assert not problems, f"{path.relative_to(ROOT)}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("path", CATALOGS, ids=_language)
def test_plural_forms_header_follows_the_language_rule(path: Path) -> None:
    """The Plural-Forms header of a catalog is Babel's (CLDR's) plural rule for its language."""
    rule = get_plural(_language(path))
    catalog = _read(path)
    header = dict(catalog.mime_headers).get("Plural-Forms")  # read by Babel: a long rule may wrap in the file
    assert header is not None, f"{path.relative_to(ROOT)} has no Plural-Forms header"
    assert (catalog.num_plurals, catalog.plural_expr) == (rule.num_plurals, rule.plural_expr), (
        f"{path.relative_to(ROOT)}: Plural-Forms is {header!r}, expected {rule.plural_forms!r}"
    )


def test_french_punctuation_uses_non_breaking_spaces() -> None:
    """French translations put a non-breaking space, never a plain one, before : ; ? ! » and after «."""
    path = LOCALES / "fr" / "LC_MESSAGES" / "caucus.po"
    problems = [form for message in _messages(_read(path)) for form in _forms(message)
                if _FRENCH_SPACE_BEFORE.search(form)]
    assert not problems, "plain space next to French punctuation:\n  " + "\n  ".join(map(repr, problems))


def test_french_rendering_substitutes_parameters() -> None:
    """Real messages render in French: French plural rule, parameters escaped and filled in."""
    french = Translator("fr")
    catalog = _read(LOCALES / "fr" / "LC_MESSAGES" / "caucus.po")
    so_far = ("{count} issue so far.", "{count} issues so far.")
    singular, plural = catalog[so_far[0]].string
    assert french.render(ngettext(*so_far, 2)) == plural.format(count=2)
    assert "2" in french.render(ngettext(*so_far, 2))
    # French uses the singular for 0 and 1 (English uses the plural for 0).
    assert french.render(ngettext(*so_far, 0)) == singular.format(count=0)
    assert french.render(ngettext(*so_far, 1)) == singular.format(count=1)
    added = french.render(_("Party added: {party}", party="<A & B>"))
    assert added == catalog["Party added: {party}"].string.format(party="&lt;A &amp; B&gt;")
    assert added != Translator("en").render(_("Party added: {party}", party="<A & B>"))
    assert "français" in french.render(_("From now on I will write to you in English."))


def test_unknown_language_falls_back_to_english() -> None:
    """A language without a catalog renders the English source, with parameters substituted."""
    unknown = Translator("xx")
    assert unknown.language == DEFAULT_LANGUAGE
    so_far = ngettext("{count} issue so far.", "{count} issues so far.", 2)
    assert unknown.render(so_far) == "2 issues so far."
    assert unknown.render(_("Party added: {party}", party="B&C")) == "Party added: B&amp;C"
