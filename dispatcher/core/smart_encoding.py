"""Smart encoding: typographic characters sent as their GSM-7 equivalents.

One curly apostrophe makes a whole body UCS-2 (70 characters a segment instead of 160), so the
same text can cost two or three times as much. :func:`smart_encode` replaces the characters of
:data:`SMART_REPLACEMENTS` when that makes the body GSM-7 in no more segments; otherwise the body
goes exactly as written.

The table holds typographic marks only: quotation marks and apostrophes (curly, low-9,
guillemets, ornaments, primes, the spacing acute and grave used as apostrophes), dashes,
hyphens and bullets, the ellipsis and a few other General Punctuation marks, every Unicode space
separator and the tab, the line and paragraph separators, and invisible characters
(zero-width space, joiners, word joiner, byte order mark, soft hyphen). It is the typographic
part of GOV.UK Notify's SMS replacements (notifications-utils, ``SanitiseSMS``) and of Twilio's
Smart Encoding list (twilio.com/docs/messaging/services/smart-encoding-char-list), with the
figure dash, the prime marks, two bullets, the Ogham space and the soft hyphen added as members
of the same classes. Where the two differ: a low-9 single quote and a single guillemet are an
apostrophe, a space or a tab one space, the line and paragraph separators a line feed.

Left out on purpose: letters (accented, of other alphabets, fullwidth, small capitals, modifier
letters of some orthography such as the Hawaiian okina), combining marks, control characters,
mathematical signs but the minus, fractions, dingbats, and the fullwidth, small and vertical
forms of CJK typesetting (they come with text that stays UCS-2 anyway).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from dispatcher.core.encoding import encoding_of, measure

__all__ = ["SMART_REPLACEMENTS", "smart_encode"]

_DOUBLE_QUOTES = (
    "\u00ab"  # LEFT-POINTING DOUBLE ANGLE QUOTATION MARK
    "\u00bb"  # RIGHT-POINTING DOUBLE ANGLE QUOTATION MARK
    "\u201c"  # LEFT DOUBLE QUOTATION MARK
    "\u201d"  # RIGHT DOUBLE QUOTATION MARK
    "\u201e"  # DOUBLE LOW-9 QUOTATION MARK
    "\u201f"  # DOUBLE HIGH-REVERSED-9 QUOTATION MARK
    "\u2033"  # DOUBLE PRIME
    "\u2036"  # REVERSED DOUBLE PRIME
    "\u02ba"  # MODIFIER LETTER DOUBLE PRIME
    "\u02ee"  # MODIFIER LETTER DOUBLE APOSTROPHE
    "\u275d"  # HEAVY DOUBLE TURNED COMMA QUOTATION MARK ORNAMENT
    "\u275e"  # HEAVY DOUBLE COMMA QUOTATION MARK ORNAMENT
)
_SINGLE_QUOTES = (
    "\u2018"  # LEFT SINGLE QUOTATION MARK
    "\u2019"  # RIGHT SINGLE QUOTATION MARK
    "\u201a"  # SINGLE LOW-9 QUOTATION MARK
    "\u201b"  # SINGLE HIGH-REVERSED-9 QUOTATION MARK
    "\u2039"  # SINGLE LEFT-POINTING ANGLE QUOTATION MARK
    "\u203a"  # SINGLE RIGHT-POINTING ANGLE QUOTATION MARK
    "\u2032"  # PRIME
    "\u2035"  # REVERSED PRIME
    "\u02b9"  # MODIFIER LETTER PRIME
    "\u02bc"  # MODIFIER LETTER APOSTROPHE
    "\u275b"  # HEAVY SINGLE TURNED COMMA QUOTATION MARK ORNAMENT
    "\u275c"  # HEAVY SINGLE COMMA QUOTATION MARK ORNAMENT
    "\u00b4"  # ACUTE ACCENT (spacing)
    "\u0060"  # GRAVE ACCENT (spacing)
)
_DASHES = (
    "\u2010"  # HYPHEN
    "\u2011"  # NON-BREAKING HYPHEN
    "\u2012"  # FIGURE DASH
    "\u2013"  # EN DASH
    "\u2014"  # EM DASH
    "\u2015"  # HORIZONTAL BAR
    "\u2212"  # MINUS SIGN
    "\u2043"  # HYPHEN BULLET
)
_BULLETS = (
    "\u2022"  # BULLET
    "\u2023"  # TRIANGULAR BULLET
    "\u25e6"  # WHITE BULLET
)
_SPACES = (
    "\t"  # CHARACTER TABULATION (no GSM-7 character)
    "\u00a0"  # NO-BREAK SPACE
    "\u1680"  # OGHAM SPACE MARK
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006"  # EN QUAD .. SIX-PER-EM SPACE
    "\u2007\u2008\u2009\u200a"  # FIGURE, PUNCTUATION, THIN, HAIR SPACE
    "\u202f"  # NARROW NO-BREAK SPACE
    "\u205f"  # MEDIUM MATHEMATICAL SPACE
    "\u3000"  # IDEOGRAPHIC SPACE
)
_INVISIBLE = (
    "\u200b"  # ZERO WIDTH SPACE
    "\u200c"  # ZERO WIDTH NON-JOINER
    "\u200d"  # ZERO WIDTH JOINER
    "\u2060"  # WORD JOINER
    "\ufeff"  # ZERO WIDTH NO-BREAK SPACE (byte order mark)
    "\u180e"  # MONGOLIAN VOWEL SEPARATOR
    "\u00ad"  # SOFT HYPHEN
)
_OTHERS = {
    "\u2026": "...",  # HORIZONTAL ELLIPSIS
    "\u203c": "!!",  # DOUBLE EXCLAMATION MARK
    "\u2017": "_",  # DOUBLE LOW LINE
    "\u2044": "/",  # FRACTION SLASH
    "\u204e": "*",  # LOW ASTERISK
    "\u204f": ";",  # REVERSED SEMICOLON
    "\u2028": "\n",  # LINE SEPARATOR
    "\u2029": "\n",  # PARAGRAPH SEPARATOR
}

SMART_REPLACEMENTS: Mapping[str, str] = MappingProxyType(
    {
        **dict.fromkeys(_DOUBLE_QUOTES, '"'),
        **dict.fromkeys(_SINGLE_QUOTES, "'"),
        **dict.fromkeys(_DASHES, "-"),
        **dict.fromkeys(_BULLETS, "-"),
        **dict.fromkeys(_SPACES, " "),
        **dict.fromkeys(_INVISIBLE, ""),
        **_OTHERS,
    }
)
"""Each typographic character and the GSM-7 text it is sent as."""

_TRANSLATION = str.maketrans(dict(SMART_REPLACEMENTS))


def smart_encode(body: str) -> str | None:
    """The body to send in place of ``body``, or None when it goes as written.

    A replacement is given only when the body is UCS-2 as written, GSM-7 once the characters of
    :data:`SMART_REPLACEMENTS` are replaced, not blank, and in no more segments (an ellipsis
    becomes three septets, so a body full of them can need more).
    """
    if encoding_of(body) == "GSM-7":
        return None
    replaced = body.translate(_TRANSLATION)
    if encoding_of(replaced) != "GSM-7" or not replaced.strip():
        return None
    if measure(replaced).segments > measure(body).segments:
        return None
    return replaced
