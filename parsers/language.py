"""A guess at the language a mail is written in: an ISO 639-1 code, or None when unsure.

What we chose: the writing system first, then function words. Japanese is the only
language written with kana, Chinese uses Han characters without kana, Korean uses
Hangul, and Cyrillic text is told apart by the letters only one language has (ы/э
Russian, і/ї/є Ukrainian). Latin-script languages are told apart by counting the
short words every sentence needs ("the", "und", "les", "que", "het", "się"...),
each weighted down by how many of our languages share it, plus the letters only one
of them writes (ß, ñ, ã, ł).

Why not a library: none is installed beyond the stdlib and mail-parser, and the
statistical ones (langdetect, fastText, CLD) bring megabytes of models, randomness or
native code to answer a question whose answer routes a reply template. A help-desk
mail is short and plain; a few dozen words a language decide it, at a cost of
microseconds: only a bounded prefix of the text is read, so a 1 MB mail costs what a
short one does. When the evidence is thin or split, we say None rather than guess:
the caller falls back to the queue's language.
"""

# ruff: noqa: RUF002 -- the Cyrillic letters in the docstring are the point, not typos.

from __future__ import annotations

import re
from collections.abc import Mapping

PREFIX_CHARS = 1000  # what is read: ~150 words decide it, and the cost is bounded
MIN_SCORE = 1.5  # weighted function words needed to name a Latin-script language
MIN_MARGIN = 2.0  # the best language must score this many times the runner-up
MAX_LETTER_HINTS = 3  # letters only one language writes count at most this much
MIN_WORDS_FOR_HINTS = 1.0  # ... and only once its words have shown up
MIN_SCRIPT_SHARE = 0.2  # share of letters a non-Latin script needs to decide


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Function words and greetings, lowercase. A word in several lists counts less.
STOPWORDS: Mapping[str, frozenset[str]] = {
    "en": _words(
        "the and is are was were to of in it that this for you with not have has be on at "
        "i we my your our please thanks thank can could would will but from there what "
        "when which hi hello regards do does if or an as by all any just get been"
    ),
    "de": _words(
        "der die das und ist nicht ich sie es wir ein eine einen mit auf für von zu den dem "
        "des im sich auch bitte danke hallo grüße gruß mein meine kann können wird haben "
        "habe hat sind war aber oder wenn noch nur schon wie was bei nach dass uns ihr "
        "ihnen vielen dank freundlichen herr frau guten tag"
    ),
    "fr": _words(
        "le la les et est un une des du de je vous nous il elle pas ne que qui pour avec "
        "sur dans ce cette mon ma mes votre vos merci bonjour cordialement ai avons avez "
        "sont être fait mais ou au aux très bien peux pouvez plus madame monsieur à"
    ),
    "es": _words(
        "el la los las y a es un una de que en no por para con su sus mi mis se lo le al del "
        "está están hola gracias saludos usted ustedes pero como muy tengo tiene puede "
        "puedo favor buenos días estimado estimada también ya hay sí esta este ha"
    ),
    "it": _words(
        "il lo la gli le e a è di che non un una per con su del della dei delle nel nella "
        "mi ti si sono ho ha abbiamo grazie ciao buongiorno saluti cordiali anche ma come "
        "più questo questa può posso essere stato al alla ai funziona"
    ),
    "nl": _words(
        "de het een en is van ik je jij u wij we niet dat die op te met voor zijn er aan "
        "ook maar om dan als bij nog naar kan kunt wordt heb heeft hebben graag bedankt "
        "dank groeten hallo goedemorgen mijn uw onze geen wel deze dit weer werkt"
    ),
    "pt": _words(
        "o a os as e é um uma de do da dos das que não em no na nos para com por se eu "
        "você vocês meu minha seu sua obrigado obrigada olá bom dia atenciosamente mas "
        "como está estão foi tem tenho pode posso muito também já ao à são"
    ),
    "pl": _words(
        "i w z na się nie jest to że do o co jak ale czy jestem mam ma mi mnie dla po od "
        "przez dzień dobry dziękuję dzięki pozdrawiam proszę bardzo już tak jego jej nas "
        "są był była może można tylko oraz także który która które znowu"
    ),
}
# Letters only one of the Latin-script languages above writes.
LETTER_HINTS: Mapping[str, str] = {
    "de": "ßäöü",
    "es": "ñ¿¡",
    "pt": "ãõ",
    "pl": "ąćęłńśźż",
    "fr": "œ",
}


def _weights() -> dict[str, tuple[tuple[str, ...], float]]:
    """Each function word: the languages that use it, and what it counts for each."""
    users: dict[str, list[str]] = {}
    for code, words in STOPWORDS.items():
        for word in words:
            users.setdefault(word, []).append(code)
    return {word: (tuple(codes), 1 / len(codes)) for word, codes in users.items()}


_WEIGHTS = _weights()
_WORD = re.compile(r"[^\W\d_]+")
# Runs, not single characters: counting letters then allocates a list per word, not
# per letter.
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]+")
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]+")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]+")
# Any letter of the scripts below: absent, the text is Latin-script (or not text).
_NON_LATIN = re.compile(
    "[\u0370-\u1fff\u3040-\u30ff\u31f0-\u31ff\u3130-\u318f\u3400-\u4dbf"
    "\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]"
)
# One script, one language: enough letters of it name the language outright.
_SCRIPTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ko", re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]+")),
    ("el", re.compile(r"[\u0370-\u03ff\u1f00-\u1fff]+")),
    ("he", re.compile(r"[\u0590-\u05ff]+")),
    ("ar", re.compile(r"[\u0600-\u06ff\u0750-\u077f]+")),
    ("th", re.compile(r"[\u0e00-\u0e7f]+")),
)
# Checked in order: Belarusian and Kazakh also write letters Russian or Ukrainian have.
CYRILLIC_LETTERS: tuple[tuple[str, str], ...] = (
    ("be", "ў"),
    ("kk", "әғқңұһ"),
    ("ru", "ыэё"),
    ("uk", "іїєґ"),
    ("sr", "ђћ"),
    ("mk", "ѓќѕ"),
    ("bg", "ъ"),
)


def guess_language(text: str) -> str | None:
    """The ISO 639-1 code of the language `text` is written in, or None when unsure."""
    prefix = _without_links(text[:PREFIX_CHARS])
    if prefix.isascii() or not _NON_LATIN.search(prefix):
        return _latin_language(prefix)  # the common case skips the script counts
    latin = _count(_LATIN, prefix)
    kana = _count(_KANA, prefix)
    han = _count(_HAN, prefix)
    cyrillic = _count(_CYRILLIC, prefix)
    others = [(code, _count(pattern, prefix)) for code, pattern in _SCRIPTS]
    letters = latin + kana + han + cyrillic + sum(count for _, count in others)
    if kana + han >= MIN_SCRIPT_SHARE * letters:
        return _japanese_or_chinese(kana, han)
    if cyrillic >= MIN_SCRIPT_SHARE * letters and cyrillic > latin / 3:
        return _cyrillic_language(prefix)
    for code, count in others:
        if count >= MIN_SCRIPT_SHARE * letters and count > latin / 3:
            return code
    return _latin_language(prefix)


def _without_links(text: str) -> str:
    """Links and addresses name no language ("example.com/de/la" is not French).
    Split on whitespace rather than a regex: `\\S*@` backtracks over text with no
    spaces, as Chinese and Japanese are written."""
    if "@" not in text and "://" not in text and "www." not in text:
        return text
    return " ".join(
        token
        for token in text.split()
        if "@" not in token and "://" not in token and not token.startswith("www.")
    )


def _count(pattern: re.Pattern[str], text: str) -> int:
    return sum(map(len, pattern.findall(text)))


def _japanese_or_chinese(kana: int, han: int) -> str:
    """Japanese always writes kana between its kanji; Chinese never does, bar a stray
    "の" in a brand name, hence a share and not a single character."""
    return "ja" if kana >= 0.05 * (kana + han) else "zh"


def _cyrillic_language(prefix: str) -> str | None:
    """Each Cyrillic language writes letters the others do not; Russian is the one
    left when none of them shows (it is also by far the most common in our mail)."""
    lowered = prefix.casefold()
    for code, letters in CYRILLIC_LETTERS:
        if any(letter in lowered for letter in letters):
            return code
    if any(letter in lowered for letter in "јљњџ"):
        return None  # Serbian or Macedonian: too close to call
    return "ru"


def _latin_language(prefix: str) -> str | None:
    lowered = prefix.casefold()
    scores = dict.fromkeys(STOPWORDS, 0.0)
    for word in _WORD.findall(lowered):
        weight = _WEIGHTS.get(word)
        if weight is not None:
            for code in weight[0]:
                scores[code] += weight[1]
    for code, letters in LETTER_HINTS.items():
        if scores[code] >= MIN_WORDS_FOR_HINTS:  # letters alone are mojibake as often as not
            scores[code] += min(MAX_LETTER_HINTS, sum(lowered.count(c) for c in letters))
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    (best, top), (_, runner_up) = ranked[0], ranked[1]
    if top >= MIN_SCORE and top >= MIN_MARGIN * runner_up:
        return best
    return None
