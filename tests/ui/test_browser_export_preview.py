"""The Export page in the running app (headless Chromium): the partner map preview is the delivered PNG
itself (the file's 16:9 image, its classes and legend), not an interactive look-alike with other
classes. Saves a screenshot among the test artefacts. Reuses the server and helpers of tests/ui/test_browser.py."""

from __future__ import annotations

import pytest
import test_browser
from app_server import save_screenshot
from test_browser import MAP_IFRAME, PARTNER, new_page, sign_in

pytestmark = pytest.mark.browser

app = test_browser.app


def test_partner_map_preview_is_the_png_file(chromium, app):
    context, page, watch = new_page(chromium, app)
    sign_in(page, app, PARTNER)
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text="Export").click()
    page.get_by_role("heading", name="Preview: what the partner audience receives").wait_for()
    image = page.locator('[data-testid="stImage"] img').first
    image.wait_for()
    page.wait_for_function(
        "() => { const i = document.querySelector('[data-testid=stImage] img'); "
        "return i && i.complete && i.naturalWidth > 0; }"
    )
    # The image the file holds (render_map's 16:9 PNG, which Streamlit may scale to the column), not
    # the interactive map.
    width, height = image.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    assert width >= 1000 and abs(width / height - 16 / 9) < 0.01, (width, height)
    assert page.locator(MAP_IFRAME).count() == 0
    assert page.get_by_text("The map exactly as the file draws it").count() == 1
    save_screenshot(page, "export-partner-preview")
    assert watch.dialogs == []
    context.close()
