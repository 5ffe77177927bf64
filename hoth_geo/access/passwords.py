"""The password rules: long enough, not common, not the username, not a run or a repeated pattern.

``check(username, password)`` raises ValueError with a sentence a user can act on; the message never
contains the password. Used by every place a password is set: the first-run form, the Users page and
``hoth-geo users add`` / ``set-password`` (all through ``hoth_geo.access.auth``).

The common-password list (hoth_geo/data/common_passwords.txt, made by scripts/make_common_passwords.py)
holds the words and patterns people choose most. A candidate is looked up as typed (lower-case), with
common letter-for-symbol swaps undone ("p@ssw0rd"), and with the digits and punctuation people tack on
to meet a length rule removed from both ends ("Password2024!" -> "password").
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from hoth_geo.errors import InvalidInput

__all__ = [
    "MIN_LENGTH",
    "MAX_LENGTH",
    "MIN_DISTINCT",
    "COMMON_FILE",
    "common_passwords",
    "check",
]

MIN_LENGTH = 12
MAX_LENGTH = 1024  # argon2 accepts more, but megabyte "passwords" only cost server time
MIN_DISTINCT = 5  # "aaaaaaaaaaab" or "abababababab" are too few different characters

COMMON_FILE = Path(__file__).resolve().parents[1] / "data" / "common_passwords.txt"

_LEET = str.maketrans(
    {"@": "a", "4": "a", "0": "o", "1": "i", "!": "i", "3": "e", "$": "s", "5": "s", "7": "t"}
)
_EDGES = re.compile(r"^[\W\d_]+|[\W\d_]+$")


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lower-cased, refused as new passwords."""
    lines = COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def _forms(password: str) -> set[str]:
    """The password as people vary it: lower-case, symbols swapped back, digits/punctuation trimmed."""
    lowered = password.strip().lower()
    forms = {lowered, _EDGES.sub("", lowered)}
    for form in list(forms):
        swapped = form.translate(_LEET)
        forms |= {swapped, _EDGES.sub("", swapped)}
    # Spaces inside a common word ("pass word 123") do not make it less common.
    forms |= {f.replace(" ", "") for f in forms}
    return {f for f in forms if f}


def _is_sequence(text: str) -> bool:
    # "abcdefghijkl", "123456789012", "987654321098": every step the same +1 or -1 (digits wrap 9 -> 0).
    if len(text) < 3:
        return False
    steps = {(ord(b) - ord(a)) for a, b in zip(text, text[1:], strict=False)}
    wrapped = {s if abs(s) == 1 else (1 if s == -9 else -1 if s == 9 else s) for s in steps}
    return len(wrapped) == 1 and wrapped <= {1, -1}


def _repeats_short_unit(text: str) -> bool:
    # "abcabcabcabc", "passwordpassword": the whole password is one short unit repeated.
    n = len(text)
    return any(n % k == 0 and text == text[:k] * (n // k) for k in range(1, n // 2 + 1))


def check(username: str, password: str) -> None:
    """Raise ValueError saying, in plain words, which rule ``password`` breaks (never quoting it)."""
    if not isinstance(password, str):
        raise InvalidInput("password must be a string")
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"password must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"password must be at most {MAX_LENGTH} characters long")
    if not password.strip():
        raise InvalidInput("password must not be only spaces: use words or other characters")
    name = (username or "").strip().lower()
    local = name.split("@", 1)[0]
    forms = _forms(password)
    names = {n for n in (name, local, re.sub(r"[\W_]+", "", local)) if len(n) >= 3}
    if forms & names:
        raise InvalidInput(
            "password must not be the same as the username, or the username with digits or punctuation added"
        )
    compact = password.strip().lower()
    if len(set(compact)) < MIN_DISTINCT:
        raise InvalidInput(
            f"password uses too few different characters (at least {MIN_DISTINCT} needed): "
            "a run of one character or a short repeated pattern is guessed at once"
        )
    if _is_sequence(compact) or _repeats_short_unit(compact):
        raise InvalidInput("password is a simple sequence or repeated pattern (like abcdef… or 123123…)")
    if forms & common_passwords():
        raise InvalidInput(
            "password is one of the most commonly used passwords (or one with digits or symbols "
            "added): choose a phrase of three or four unrelated words instead"
        )
