"""A browser session as the app server sees it: Streamlit's WebSocket protocol, without a renderer.

``load_app.py --client wire`` drives its sessions with this instead of Chromium. The server receives
the messages a browser tab sends (a script run with the page's widget values: a form submitted, a
filter changed) and does all its work, but no browser draws the answers on the same cores, so the
server-side figures of a many-session run measure the server, as they would with users on their own
machines. Nothing here is Streamlit's public API: the protocol belongs to the installed Streamlit
(``streamlit.proto``), and a change there shows up as a session that finds no widget or no map.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState, WidgetStates
from websockets.asyncio.client import connect

# Element types whose proto carries the widget's id and label.
WIDGET_TYPES = ("text_input", "button", "multiselect", "selectbox", "checkbox", "toggle", "radio")
FOLIUM = "streamlit_folium.st_folium"


@dataclass
class Widget:
    kind: str
    id: str
    label: str
    options: list[str] = field(default_factory=list)


@dataclass
class Run:
    """What one script run sent: its widgets by label, the map component's arguments, how it ended."""

    seconds: float
    widgets: dict[str, Widget]
    map_args: str | None
    exceptions: list[str]
    alerts: list[str]  # st.error/warning/info texts
    status: int


class WireSession:
    """One browser tab's session with one app server."""

    def __init__(self, url: str, page: str = "") -> None:
        self.ws_url = url.replace("http://", "ws://").rstrip("/") + "/_stcore/stream"
        self.page = page
        self.states: dict[str, WidgetState] = {}  # widget values this tab has set, sent on every run
        self.page_script_hash = ""
        # By label, as last drawn: a later run does not necessarily send every element again.
        self.widgets: dict[str, Widget] = {}
        self.ws = None

    async def open(self) -> None:
        self.ws = await connect(
            self.ws_url, subprotocols=["streamlit"], max_size=64 * 2**20, open_timeout=120
        )

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def run(self, changes: Sequence[WidgetState] = (), *, timeout: float = 300) -> Run:
        """Send one script run with this tab's widget values (``changes`` applied) and wait for its end.

        A run the app ends itself with ``st.rerun`` is followed to the run that completes."""
        for state in changes:
            self.states[state.id] = state
        msg = BackMsg(
            rerun_script=ClientState(
                query_string="",
                page_script_hash=self.page_script_hash,
                page_name=self.page if not self.page_script_hash else "",
                widget_states=WidgetStates(widgets=list(self.states.values())),
            )
        )
        start = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        # Trigger values (a form's submit button) last one run, as in the browser.
        for state in changes:
            if state.WhichOneof("value") == "trigger_value":
                del self.states[state.id]
        map_args = None
        exceptions: list[str] = []
        alerts: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no end of the script run within {timeout:.0f}s")
            fwd = ForwardMsg()
            fwd.ParseFromString(await _recv(self.ws, remaining))
            kind = fwd.WhichOneof("type")
            if kind == "new_session":
                self.page_script_hash = fwd.new_session.page_script_hash or self.page_script_hash
            elif kind == "navigation" and fwd.navigation.page_script_hash:
                self.page_script_hash = fwd.navigation.page_script_hash
            elif kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                element = fwd.delta.new_element
                etype = element.WhichOneof("type")
                if etype in WIDGET_TYPES:
                    proto = getattr(element, etype)
                    options = list(getattr(proto, "options", []))
                    self.widgets[proto.label] = Widget(etype, proto.id, proto.label, options)
                elif etype == "component_instance" and element.component_instance.component_name == FOLIUM:
                    map_args = element.component_instance.json_args
                elif etype == "alert":
                    alerts.append(element.alert.body)
                elif etype == "exception":
                    exceptions.append(f"{element.exception.type}: {element.exception.message}")
            elif kind == "script_finished":
                if fwd.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    continue  # the app asked for another run (st.rerun): that one answers
                return Run(
                    time.perf_counter() - start,
                    dict(self.widgets),
                    map_args,
                    exceptions,
                    alerts,
                    fwd.script_finished,
                )


async def _recv(ws, timeout: float) -> bytes:
    data = await asyncio.wait_for(ws.recv(), timeout)
    return data if isinstance(data, bytes) else data.encode()


def text(widget: Widget, value: str) -> WidgetState:
    return WidgetState(id=widget.id, string_value=value)


def press(widget: Widget) -> WidgetState:
    return WidgetState(id=widget.id, trigger_value=True)


def choose(widget: Widget, labels: list[str]) -> WidgetState:
    state = WidgetState(id=widget.id)
    state.string_array_value.data.extend(labels)
    return state
