"""The per-address limits of docs/deployment.md's nginx example, run for real (the same deployment as
tests/ui/test_deployment_proxy.py: the example taken from the document, two app instances behind it).

The app's own limit on connections without a session (hoth_geo/ui/web.py) is raised here, so that what
is measured is the proxy's: requests per second, and websockets open at once, per client address.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from test_deployment_proxy import deployment  # noqa: F401 - the fixture

# The asyncio client: the threaded one reads each TLS connection in a thread of its own, and closing
# fifty of them while those threads are inside OpenSSL now and then aborted the test process.
websockets_client = pytest.importorskip("websockets.asyncio.client")
from websockets.exceptions import InvalidMessage, InvalidStatus  # noqa: E402

pytestmark = pytest.mark.browser

WEBSOCKETS_PER_ADDRESS = 50  # limit_conn hoth_ws 50;
REQUEST_BURST = 200  # limit_req zone=hoth_req burst=200 nodelay;


@pytest.fixture(scope="module", autouse=True)
def _app_limits_out_of_the_way():
    saved = {
        k: os.environ.get(k) for k in ("HOTH_GEO_ANON_CONNECTIONS", "HOTH_GEO_ANON_CONNECTIONS_PER_MINUTE")
    }
    os.environ.update({k: "10000" for k in saved})
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _status(url: str, context) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30, context=context) as r:
            return r.status
    except urllib.error.HTTPError as err:
        return err.code


def test_websockets_beyond_the_limit_are_refused(deployment):  # noqa: F811
    url = deployment["loopback_url"].replace("https://", "wss://") + "/_stcore/stream"

    def connect():
        return websockets_client.connect(url, ssl=deployment["ssl"], open_timeout=60)

    async def open_one(stack):
        # On a loaded test machine a handshake is now and then dropped before any answer; that is tried
        # again. An answer (a refusal) is never retried.
        for attempt in range(3):
            try:
                return await stack.enter_async_context(connect())
            except InvalidMessage:
                if attempt == 2:
                    raise

    async def scenario():
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(WEBSOCKETS_PER_ADDRESS):
                await open_one(stack)
            with pytest.raises(InvalidStatus) as refused:
                await stack.enter_async_context(connect())
            assert refused.value.response.status_code == 429
        async with connect():  # the connections closed: room again
            pass

    asyncio.run(scenario())


# Last: it uses up this address's request allowance for a few seconds.
def test_requests_beyond_the_burst_are_refused(deployment):  # noqa: F811
    url = deployment["loopback_url"] + "/_stcore/health"
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(lambda _: _status(url, deployment["ssl"]), range(REQUEST_BURST + 150)))
    # At 20 a second after the burst, most of what arrives within a few seconds beyond it is refused;
    # a page load's worth (about 100 files) still goes through.
    assert set(statuses) == {200, 429}
    assert statuses.count(200) >= 100 and statuses.count(429) >= 50
