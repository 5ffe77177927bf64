"""Running app pages in Streamlit's AppTest as a signed-in user of a given role."""

from __future__ import annotations

import html
import re

from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from hoth_geo import settings, store
from hoth_geo.access import auth, sessions

TEST_PASSWORD = "synthetic-test-passphrase"  # test accounts only, in throwaway databases


def ensure_user(db_url: str, role: str, username: str | None = None) -> auth.User:
    """An account with ``role`` in the database at ``db_url`` (and an admin, so first run is over)."""
    engine = store.connect(db_url)
    if auth.first_run_needed(engine):
        auth.add_user(engine, "admin.test", TEST_PASSWORD, "admin")
    name = username or f"{role.replace(',', '.')}.test"
    if auth.get_user(engine, name) is None:
        auth.add_user(engine, name, TEST_PASSWORD, role)
    return auth.get_user(engine, name)


def _page_script(start_page: str) -> None:
    from hoth_geo.ui.main import main

    main(start_page=start_page)


def app_as(user: auth.User | None, page: str = "map", timeout: int = 180) -> AppTest:
    """An AppTest of ``page`` for ``user`` (None: nobody signed in), not yet run.

    A signed-in user gets a real server-side session in the database named by $HOTH_GEO_DB, as a
    sign-in would make; its token is what the app checks on every rerun.
    """
    at = AppTest.from_function(_page_script, args=(page,), default_timeout=timeout)
    if user is not None:
        token = sessions.start(store.connect(settings.database_url()), user)
        at.session_state["user"] = user
        at.session_state["_session_token"] = token
    return at


_MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def rendered_markdown(markdown: str) -> str:
    """Markdown as HTML (CommonMark with tables and strikethrough, as Streamlit renders it)."""
    return _MARKDOWN.render(markdown)


def markup_tags(rendered: str) -> set[str]:
    """The HTML tags of rendered Markdown besides paragraphs: a link, an image or emphasis made from a
    value would show up here."""
    return set(re.findall(r"<(\w+)", rendered)) - {"p"}


def as_read(markdown: str) -> tuple[str, set[str]]:
    """What a reader sees of an element's Markdown: its text (word joiners aside) and ``markup_tags``."""
    rendered = rendered_markdown(markdown)
    return html.unescape(re.sub(r"<[^>]+>", "", rendered)).strip().replace("\u2060", ""), markup_tags(
        rendered
    )
