"""The app's own style rules beyond Streamlit's: labels that wrap, tables stacked on a phone and pages
that print as a protectively marked document. Each is a ``<style>`` block for ``st.html``."""

from __future__ import annotations

__all__ = [
    "NARROW_SCREEN_PX",
    "SCREEN_CSS",
    "css_string",
    "print_css",
    "stacked_table_css",
    "wrapped_table_css",
]

# Sent with every page (hoth_geo/ui/main.py). Streamlit draws a checkbox's label on one line cut with an
# ellipsis: on a phone the sharing form's signs read "Pregnant or has contracted a sexually transmitted
# infec…". Labels wrap instead.
SCREEN_CSS = """<style>
[data-testid="stCheckbox"] [data-testid="stMarkdownContainer"],
[data-testid="stCheckbox"] [data-testid="stMarkdownContainer"] p {
  white-space: normal;
  overflow: visible;
  text-overflow: clip;
}
</style>"""

# Below this width (a phone held upright, CSS pixels) a table of several long text columns is cut at
# the screen's edge and read by scrolling sideways; its rows are stacked instead.
NARROW_SCREEN_PX = 640


def css_string(text: str) -> str:
    """``text`` as a CSS string literal: quotes and backslashes escaped, and '<' written as a CSS
    escape so no value can end the style element it sits in."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\a ").replace("<", "\\3c ")
    return f'"{escaped}"'


def stacked_table_css(key: str, columns: list[str]) -> str:
    """The style that shows the table in ``st.container(key=key)`` as it is on wider screens and, below
    NARROW_SCREEN_PX, as one block per row with each cell on its own line after its column's name."""
    scope = f".st-key-{key}"
    cells = "".join(
        f"{scope} td:nth-child({i})::before {{ content: {css_string(name + ': ')}; font-weight: 600; }}\n"
        for i, name in enumerate(columns, start=1)
    )
    return (
        f"<style>\n@media (max-width: {NARROW_SCREEN_PX}px) {{\n"
        f"{scope} table, {scope} tbody, {scope} tr, {scope} td {{ display: block; width: auto; }}\n"
        f"{scope} thead {{ display: none; }}\n"
        # Grey at half strength: a line between slots on a light or a dark theme alike.
        f"{scope} tr {{ padding: 0.4rem 0; border-bottom: 2px solid rgba(128, 128, 128, 0.5); }}\n"
        f"{scope} td {{ border: none; padding: 0.1rem 0.5rem; white-space: normal; }}\n"
        # A cell's text follows its column's name on the same line, numbers as well as words:
        # Streamlit sets each cell's alignment in its style attribute and draws its text in an
        # inline-block, which only !important overrides.
        f"{scope} td, {scope} td * {{ text-align: left !important; }}\n"
        f"{scope} td > div, {scope} td p {{ display: inline !important; }}\n"
        f"{cells}}}\n</style>"
    )


def wrapped_table_css(key: str) -> str:
    """The style that fits a Markdown table in ``st.container(key=key)`` to its column, every cell
    wrapping: Streamlit draws such a table at its text's width, and a long cell (an attribution
    statement) ran off the page's right edge."""
    scope = f".st-key-{key}"
    return (
        f"<style>\n{scope} table {{ table-layout: fixed; width: 100%; }}\n"
        f"{scope} th, {scope} td {{ white-space: normal; overflow-wrap: anywhere; vertical-align: top; }}\n"
        "</style>"
    )


# What a printed page leaves out: the menu and filters, the app's bar, buttons and the tool icons over
# tables and charts. What it shows (the heading, the filters' caption, the tables, the map) is the page.
_NOT_PRINTED = (
    '[data-testid="stSidebar"]',
    '[data-testid="stSidebarCollapsedControl"]',
    '[data-testid="stHeader"]',
    '[data-testid="stToolbar"]',
    '[data-testid="stDecoration"]',
    '[data-testid="stStatusWidget"]',
    '[data-testid="stElementToolbar"]',
    '[data-testid="stButton"]',
    '[data-testid="stDownloadButton"]',
    '[data-testid="stIconMaterial"]',  # an icon's name is all a PDF's text would keep of it
)
# Streamlit lays a page out in nested flex boxes, which Chromium does not break across sheets: a table
# taller than what is left of a sheet left that sheet blank, and the map was drawn over the table's
# end. On paper the page is laid out as blocks, one after another.
_PRINTED_AS_BLOCKS = (
    '[data-testid="stAppViewContainer"]',
    '[data-testid="stMain"]',
    '[data-testid="stMainBlockContainer"]',
    '[data-testid="stVerticalBlock"]',
)


def print_css(marking: str) -> str:
    """The style a printed page (the browser's Print, or Save as PDF) takes: the page's content at the
    paper's width, without the app's menu, bar and buttons, and ``marking`` (the protective marking of
    what the signed-in user sees) at the top and foot of every sheet, as on the app's exports."""
    marked = f"content: {css_string(marking)}; font: 600 9pt sans-serif; color: #b00020;"
    return (
        "<style>\n@media print {\n"
        f"{', '.join(_NOT_PRINTED)} {{ display: none !important; }}\n"
        f"{', '.join(_PRINTED_AS_BLOCKS)} {{ display: block !important; overflow: visible !important;"
        " position: static !important; height: auto !important; }\n"
        '[data-testid="stMainBlockContainer"] { max-width: none !important; padding: 0 !important; }\n'
        '[data-testid="stVerticalBlock"] > * { margin-bottom: 0.75rem; }\n'
        # A table sits in a scrolling box, which Chromium moves whole to the next sheet (leaving a blank
        # one) and cuts there: on paper it is not a scrolling box, and its rows run on over sheets.
        '[data-testid="stTable"], [data-testid="stTable"] > div { overflow: visible !important; }\n'
        '[data-testid="stTable"] table { display: table !important; }\n'
        # A map keeps the width it had on screen, wider than its column on paper, and was drawn over the
        # figures beside it: on paper it is cut at its column's edge.
        "iframe { max-width: 100% !important; }\n"
        "}\n"
        f"@page {{ margin: 16mm 12mm; @top-center {{ {marked} }} @bottom-center {{ {marked} }} }}\n"
        "</style>"
    )
