"""Text pieces the dedup and decontamination filters share: numbers as written, and text folded so that disguises do
not hide a match."""

import re
import unicodedata

NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
"""A number as written (``1,200``, ``3.5``): two texts whose number sequences differ are never duplicates."""

_LOOKALIKES = {
    # Cyrillic and Greek letters drawn like Latin ones
    **dict(zip("АВЕКМНОРСТУХаеорсухіјѕԁһԛԝ", "ABEKMHOPCTYXaeopcyxijsdhqw", strict=True)),
    **dict(zip("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧαικνορτυχ", "ABEZHIKMNOPTYXaiknoptux", strict=True)),
}
_INVISIBLE = (  # soft hyphen, combining grapheme joiner, zero-width spaces, joiners and marks, word joiner, BOM
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e\u200f"
    "\u2060\u2061\u2062\u2063\u2064\ufeff"
)
_FOLD = str.maketrans({**{c: None for c in _INVISIBLE}, **_LOOKALIKES})


def fold(text: str) -> str:
    """``text`` as a reader sees it: compatibility forms unified (NFKC), accents and invisible characters (soft
    hyphens, zero-width spaces and joiners) dropped, Cyrillic and Greek look-alike letters read as Latin. A test item
    disguised so is the test item again. Plain ASCII comes back as it is, at once."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return unicodedata.normalize("NFKC", "".join(c for c in decomposed if not unicodedata.combining(c)))
