"""The guidance beside the Share information form (hoth_geo.intake.guidance): the signs it lists are
the form's indicators, and the text is fixed Markdown with every section the form refers to."""

from __future__ import annotations

from hoth_geo.intake import guidance
from hoth_geo.schema import INDICATORS


def test_the_possible_signs_are_the_indicators_the_form_offers_in_order():
    assert guidance.possible_signs() == list(INDICATORS.values())
    text = guidance.as_markdown()
    positions = [text.index(f"- {label}\n") for label in INDICATORS.values()]
    assert positions == sorted(positions)


def test_the_guidance_has_each_section_and_names_its_source():
    text = guidance.as_markdown()
    for heading in ("Why share", "Consent and the family", "What to share", "Possible signs", "The child"):
        assert f"#### {heading}\n" in text
    assert text.rstrip().endswith(f"*Source: {guidance.SOURCE}.*")
    assert "never a name" in text and "do not need consent" in text


def test_the_guidance_is_plain_markdown_without_html_or_links_out():
    text = guidance.as_markdown()
    assert "<" not in text and ">" not in text
    assert "http" not in text, "nothing is fetched or linked: the app runs without the internet"
