"""Twilio's profanityFilter for recognizers that return raw text: `f***` for a profane word. PURE.

Twilio (and Google, whose filter it forwards) keeps a profane word's first letter and replaces the
rest with asterisks. Vendors that filter on their side (Google's profanity_filter, Amazon's
vocabulary filter, Azure's profanity option, Deepgram's profanity_filter) are asked to; the
others (pocketsphinx, Vosk, and any vendor answer that arrives unfiltered) pass their text
through `mask`. The list is short on purpose: the common English swear words and their simple
inflections, matched as whole words, case-insensitively.
"""

from __future__ import annotations

import re

_WORDS = frozenset(
    """
    fuck fucks fucked fucker fuckers fucking motherfucker motherfuckers motherfucking
    shit shits shitty shitting bullshit
    bitch bitches bitching
    bastard bastards
    asshole assholes
    dick dicks dickhead
    cunt cunts
    piss pissed pissing
    damn damned goddamn goddamned
    crap crappy
    slut sluts whore whores
    wanker wankers twat twats bollocks
    """.split()
)

_WORD = re.compile(r"[A-Za-z']+")


def is_profane(word: str) -> bool:
    return word.lower().strip("'") in _WORDS


def mask(text: str) -> str:
    """'what the fuck' -> 'what the f***': each profane word keeps its first letter."""

    def _mask(m: re.Match[str]) -> str:
        word = m.group(0)
        return word[0] + "*" * (len(word) - 1) if is_profane(word) else word

    return _WORD.sub(_mask, text)
