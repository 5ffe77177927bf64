"""The guidance shown beside the Share information form (shipped as text: nothing is fetched).

Summarised from the Durham Safeguarding Children Partnership's pages on Harm Outside the Home and
on sharing HOTH information with the police. A deployment elsewhere should check it against its own
partnership's procedures; the points below are the ones those pages make.
"""

from __future__ import annotations

from hoth_geo.schema import INDICATORS

__all__ = [
    "SOURCE",
    "WHY_SHARE",
    "CONSENT",
    "WHAT_TO_SHARE",
    "CHILD_REFERENCE",
    "SIGNS_INTRO",
    "possible_signs",
    "as_markdown",
]

SOURCE = "Durham Safeguarding Children Partnership: Harm Outside the Home (HOTH) practitioner guidance"

WHY_SHARE = (
    "Share what you see with the police **at any time and at any level of need or risk**. Each piece "
    "helps the police build a picture of the people who are a concern, and of the places and spaces in "
    "the community or online where children are at greater risk, such as hotels, fast food outlets and "
    "parks. Police can then disrupt the people causing harm, for example by being seen more in an area."
)

CONSENT = (
    "**You do not need consent** to share information when the purpose is to keep a child or young "
    "person safe and well. **Tell the family** that you are sharing, wherever possible, because it builds "
    "trust, **unless telling them would put the child at immediate risk of harm**. Sharing matters most "
    "when a child or their family does not agree to other support."
)

WHAT_TO_SHARE = (
    "- **Places**: where it happened or where the child is taken or seen (a hotel, takeaway, park, "
    "taxi rank, shop, school, station, a street).\n"
    "- **People of concern**: unknown adults or other young people you are worried about — what they "
    "look like, names or nicknames if known.\n"
    "- **Vehicles**: make, colour, any part of the number plate, taxi firm.\n"
    "- **Online spaces**: the app, game or platform, and account names, if it happened online.\n"
    "- What you saw or were told, and when. Possible criminal offences, community tensions, drug "
    "supply or weapons are all worth sharing."
)

CHILD_REFERENCE = (
    "Use your own agency's reference for the child, never a name: the police can ask you for details."
)

SIGNS_INTRO = (
    "Possible signs a child is being exploited. A change that is out of character is often the most "
    "important sign."
)


def possible_signs() -> list[str]:
    """The indicator labels, in the order the guidance lists them."""
    return list(INDICATORS.values())


def as_markdown() -> str:
    """The whole guidance as Markdown (the text is fixed here, never taken from a report)."""
    signs = "\n".join(f"- {label}" for label in possible_signs())
    return (
        f"#### Why share\n{WHY_SHARE}\n\n"
        f"#### Consent and the family\n{CONSENT}\n\n"
        f"#### What to share\n{WHAT_TO_SHARE}\n\n"
        f"#### Possible signs\n{SIGNS_INTRO}\n\n{signs}\n\n"
        f"#### The child\n{CHILD_REFERENCE}\n\n"
        f"*Source: {SOURCE}.*"
    )
