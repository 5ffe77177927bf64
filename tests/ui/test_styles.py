"""The app's own style rules: a static table's rows stacked on a phone, each cell named by its column,
and a printed page marked on every sheet; no column name or marking can break out of the style element
it is written into."""

from __future__ import annotations

import re

from hoth_geo.ui.pages.patrol import PLAN_HEADERS
from hoth_geo.ui.styles import NARROW_SCREEN_PX, print_css, stacked_table_css


def _labels(css: str) -> dict[int, str]:
    return {
        int(n): text
        for n, text in re.findall(r'td:nth-child\((\d+)\)::before \{ content: "((?:[^"\\]|\\.)*)"', css)
    }


def test_each_column_is_named_before_its_cells_on_narrow_screens_only():
    css = stacked_table_css("patrol_plan", ["Slot", *PLAN_HEADERS.values()])
    assert f"@media (max-width: {NARROW_SCREEN_PX}px)" in css
    assert _labels(css) == {i: f"{name}: " for i, name in enumerate(["Slot", *PLAN_HEADERS.values()], 1)}
    # Scoped to the keyed container: no other table on the page changes.
    rules = [line for line in css.splitlines() if "{" in line and not line.startswith("@media")]
    assert rules and all(line.startswith(".st-key-patrol_plan ") for line in rules)


def test_a_column_name_cannot_end_the_style_element_or_its_string():
    hostile = 'Why "quoted" \\ </style><script>window.__pwned=1</script>'
    css = stacked_table_css("t", [hostile])
    assert css.count("</style>") == 1 and css.endswith("</style>")
    assert "<script>" not in css
    assert _labels(css) == {
        1: 'Why \\"quoted\\" \\\\ \\3c /style>\\3c script>window.__pwned=1\\3c /script>: '
    }


def test_a_printed_page_is_marked_at_its_top_and_foot_and_leaves_out_the_menu():
    css = print_css("OFFICIAL-SENSITIVE")
    assert css.count('content: "OFFICIAL-SENSITIVE"') == 2
    assert "@top-center" in css and "@bottom-center" in css
    assert '[data-testid="stSidebar"]' in css.split("@media print")[1]


def test_a_marking_cannot_end_the_style_element_or_add_rules():
    css = print_css('X"; } body { display: none } </style><script>1</script>')
    assert css.count("</style>") == 1 and "<script>" not in css
    assert css.count('content: "X\\"; } body { display: none } \\3c /style>\\3c script>1\\3c /script>"') == 2
