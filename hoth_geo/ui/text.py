"""Untrusted text inside Streamlit Markdown.

Streamlit renders Markdown in ``st.markdown``, ``st.caption``, ``st.info`` / ``warning`` / ``error`` /
``success``, headers and widget labels, including links, images (fetched by the browser from any
host), colour and icon directives (``:red[...]``, ``:material/...:``) and LaTeX (``$...$``). Agency
names, place names, display names, file names and error messages that quote them come from partner
spreadsheets and users, so every such value is passed through ``md_escape`` before it is put into a
Markdown string. The app's own wording is left as it is. Counts a partner may see are written one way
on every page (``shown_count``).
"""

from __future__ import annotations

import re

import numpy as np

__all__ = ["md_escape", "md_filters", "shown_count"]

# Every ASCII punctuation character CommonMark lets a backslash escape that starts any Markdown,
# GitHub-flavoured or Streamlit syntax: emphasis, code, links and images, headings, lists, tables,
# HTML, strikethrough, LaTeX, directives and emoji shortcodes, entity references.
_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:=^&\"'])")
# Line breaks would let a value start a block of its own (a heading, a list, a code block).
_BREAKS = re.compile(r"[\r\n\u2028\u2029]+")
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
# GitHub-flavoured Markdown turns bare URLs and e-mail addresses into links even when their punctuation
# is escaped ('http\\://e\\.invalid' is still linked). An invisible word joiner (U+2060) between a
# scheme and '://', after 'www' and after '@' stops that without changing what the reader sees.
WORD_JOINER = "\u2060"
_LINK_LITERALS = re.compile(r"(?i)(?<=[a-z])(?=://)|(?<=\bwww)(?=\.)|(?<=@)")


def md_escape(value) -> str:
    """``value`` as text that Markdown shows literally: no link, image, emphasis, directive or LaTeX.

    None becomes ''. Line breaks become spaces; control and bidirectional-override characters are
    removed; a word joiner keeps URLs and e-mail addresses from being linked (see WORD_JOINER).
    """
    if value is None:
        return ""
    text = _CONTROLS.sub("", _BREAKS.sub(" ", str(value)))
    text = _LINK_LITERALS.sub(WORD_JOINER, text)
    return _SPECIAL.sub(r"\\\1", text)


def md_filters(filters) -> str:
    """``filters.describe()`` (which names agencies, from imported files) escaped for Markdown."""
    return md_escape(filters.describe() if filters is not None else "all reports")


def shown_count(value) -> str:
    """A count as the pages write counts ("5,020"); a disclosure-controlled one such as '<5' as it is."""
    return f"{value:,}" if isinstance(value, int | np.integer) else str(value)
