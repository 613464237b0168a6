"""Text for seeded blogs, with word frequencies shaped like real prose.

Natural text follows Zipf's law: the n-th most frequent word occurs about 1/n as often as
the first. Drawing every word from that law makes "common" and "rare" mean what they mean
on a real site: the word at rank 20 (COMMON_WORD) is in ~40 % of blogs, a word near rank
10,000 (RARE_WORDS) in ~0.1 %, so a search benchmark can ask for both.

The first ranks are real English words; past them the vocabulary is made of pronounceable
invented words, generated from a fixed seed so that every run (and the benchmark) names
the same ones. Shares measured on seeded data are in docs/performance.md.
"""

from __future__ import annotations

import itertools
import random

# Real words, most frequent first: function words, then words a blog about daily life,
# travel, food and code would use.
REAL_WORDS = """
the of and a to in is it that was for on with as at by this from we coffee but not
you be are have had one all my there their about so what up out more when time
city day new like just some into people over after then also our first only other
year way could them even well back two good much through work very little long
where before morning street light river market train bread mountain trail old small
slow weekend notes week journey code bug fix server query index garden rain sun
winter summer friends family story lesson recipe walk bridge museum night window
book chapter song road map harbour island kitchen table letter window station village
forest coast beach valley lake field hill garden tower square church castle library
school office studio project release version python postgres database cache memory
thread socket request answer question problem reason idea plan list page picture
photo camera film music guitar piano concert dance theatre painting drawing colour
water tea wine cheese soup salad pasta rice bean tomato onion garlic lemon apple
cake cookie breakfast lunch dinner market bakery butcher farmer harvest season spring
autumn snow wind storm cloud sky star moon evening afternoon hour minute second
""".split()
# Each word once, at its first place.
REAL_WORDS = list(dict.fromkeys(REAL_WORDS))

VOCABULARY_SIZE = 20_000
ZIPF_EXPONENT = 1.0

_ONSETS = "b br c ch d dr f fl g gr h j k l m n p pr qu r s sh st t th tr v w z".split()
_VOWELS = "a e i o u ai ea ie ou".split()
_CODAS = ["", "", "n", "r", "l", "s", "th", "nd", "rk", "st"]


def _invented(rng: random.Random, taken: set[str]) -> str:
    while True:
        word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS)
                       for _ in range(rng.randint(2, 3))) + rng.choice(_CODAS)
        if word not in taken:
            taken.add(word)
            return word


def _vocabulary() -> list[str]:
    rng = random.Random(19)  # fixed: the same invented words on every run and machine
    taken = set(REAL_WORDS)
    return REAL_WORDS + [_invented(rng, taken)
                         for _ in range(VOCABULARY_SIZE - len(REAL_WORDS))]


VOCABULARY = _vocabulary()
_RANK = {word: rank for rank, word in enumerate(VOCABULARY)}
_CUMULATIVE = list(itertools.accumulate(1 / rank ** ZIPF_EXPONENT
                                        for rank in range(1, VOCABULARY_SIZE + 1)))

# What the benchmark searches for (docs/performance.md has their measured shares).
COMMON_WORD = VOCABULARY[19]  # rank 20, "coffee": in ~40 % of blogs
RARE_WORDS = tuple(VOCABULARY[9_990:10_000])  # ranks 9,991-10,000: ~0.1 % of blogs each


def words(rng: random.Random, count: int) -> list[str]:
    return rng.choices(VOCABULARY, cum_weights=_CUMULATIVE, k=count)


def sentence(rng: random.Random, low: int = 6, high: int = 16) -> str:
    return " ".join(words(rng, rng.randint(low, high))).capitalize() + "."


def title(rng: random.Random) -> str:
    # Titles skip the function words at the top of the list, as headlines mostly do.
    chosen = [w for w in words(rng, 12) if _RANK[w] >= 30 or w == COMMON_WORD]
    return " ".join(chosen[:rng.randint(3, 7)] or ["notes"]).capitalize()


def markdown_body(rng: random.Random) -> str:
    paragraphs = [" ".join(sentence(rng) for _ in range(rng.randint(2, 4)))
                  for _ in range(rng.randint(2, 4))]
    if rng.random() < 0.4:
        paragraphs.insert(1, "## " + sentence(rng, 2, 5).rstrip("."))
    if rng.random() < 0.3:
        paragraphs.append("\n".join(f"- {sentence(rng, 2, 6)}" for _ in range(3)))
    return "\n\n".join(paragraphs)
