"""GET /v1/events as Server-Sent Events.

Streams are read over a real daemon (uvicorn in a thread: httpx's ASGI transport
cannot stream), and, for overflow, keep-alive and shutdown, straight from the
stream's generator over a real Runtime. EchoBackend replaces the model only.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from podium._records import EventKind
from podium.orchestration import RunEngine
from podium.runtime import Runtime
from podium.server import AppState, GuardSettings, create_app
from podium.server import _sse as sse
from tests._asgi_api import BASE, PORT, TOKEN
from tests._run_team import PLAN, write_team
from tests._threaded_daemon import ThreadedDaemon

SSE = {"Accept": "text/event-stream"}


@dataclass
class Frame:
    event: str | None
    id: int | None
    data: Any
    comment: str | None = None


def parse_frame(lines: list[str]) -> Frame:
    fields: dict[str, str] = {}
    comment = None
    for line in lines:
        if line.startswith(":"):
            comment = line[1:].strip()
            continue
        name, _, value = line.partition(":")
        fields[name] = value[1:] if value.startswith(" ") else value
    return Frame(
        event=fields.get("event"),
        id=int(fields["id"]) if "id" in fields else None,
        data=json.loads(fields["data"]) if "data" in fields else None,
        comment=comment,
    )


async def frames_of(lines: AsyncIterator[str]) -> AsyncIterator[Frame]:
    """SSE frames (events, comments, the retry hint) as they arrive."""
    pending: list[str] = []
    async for line in lines:
        if line:
            pending.append(line)
        elif pending:
            yield parse_frame(pending)
            pending = []


async def byte_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    buffer = ""
    async for chunk in chunks:
        buffer += chunk.decode()
        while "\n" in buffer:
            line, buffer = buffer.split("\n", 1)
            yield line


def events_only(frames: list[Frame]) -> list[Frame]:
    return [f for f in frames if f.id is not None]


class Stream:
    """An open SSE connection to a real daemon, read in the background."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.frames: asyncio.Queue[Frame] = asyncio.Queue()
        self.ended = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for frame in frames_of(self.response.aiter_lines()):
                await self.frames.put(frame)
        except httpx.HTTPError:
            pass
        finally:
            self.ended.set()

    async def until(self, done: Any, timeout: float = 10) -> list[Frame]:
        """Frames up to and including the first for which ``done(frame)`` is true."""
        seen: list[Frame] = []
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.frames.get()
                seen.append(frame)
                if done(frame):
                    return seen

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


@pytest.fixture
async def http(daemon: ThreadedDaemon) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {daemon.token}"}
    async with httpx.AsyncClient(base_url=daemon.url, headers=headers, timeout=30) as client:
        yield client


async def open_stream(
    http: httpx.AsyncClient, headers: dict[str, str] | None = None, **params: Any
) -> tuple[Stream, Any]:
    request = http.build_request(
        "GET", "/v1/events", params=params, headers={**SSE, **(headers or {})}
    )
    response = await http.send(request, stream=True)
    return Stream(response), response


async def json_events(http: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await http.get("/v1/events", params={"limit": 10_000, **params})
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()
    return events


async def spawn_and_ask(http: httpx.AsyncClient, name: str, cwd: Path, prompt: str) -> str:
    response = await http.post("/v1/agents", json={"name": name, "cwd": str(cwd)})
    assert response.status_code == 201, response.text
    response = await http.post(f"/v1/agents/{name}/ask", json={"prompt": prompt, "wait": True})
    assert response.status_code == 200, response.text
    request_id: str = response.json()["id"]
    return request_id


def finished(request_id: str) -> Any:
    return lambda f: f.event == "request_finished" and f.data["request_id"] == request_id


# --- over a real daemon ------------------------------------------------------------------------


async def test_events_arrive_in_order_with_ids_and_the_json_routes_shape(
    http: httpx.AsyncClient, tmp_path: Path
) -> None:
    stream, response = await open_stream(http)
    try:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        request_id = await spawn_and_ask(http, "alpha", tmp_path, "hello")
        frames = await stream.until(finished(request_id))
    finally:
        await stream.close()
        await response.aclose()
    assert frames[0].event is None  # the retry hint comes first
    assert frames[0].id is None
    events = events_only(frames)
    ids = [f.id for f in events]
    assert ids == sorted(set(ids))
    for frame in events:
        assert frame.event == frame.data["kind"]
        assert frame.id == frame.data["id"]
    # Exactly what the JSON route holds, in the same shape, with nothing skipped.
    stored = await json_events(http)
    assert [f.data for f in events] == [e for e in stored if e["id"] <= ids[-1]]
    kinds = [f.event for f in events]
    for kind in ("spawned", "request_queued", "request_started", "request_finished"):
        assert kind in kinds


async def test_resume_from_last_event_id_gets_exactly_the_missed_events(
    http: httpx.AsyncClient, tmp_path: Path
) -> None:
    await spawn_and_ask(http, "alpha", tmp_path, "one")
    seen = await json_events(http)
    cursor = seen[-1]["id"]
    # Missed while disconnected:
    last_request = await spawn_and_ask(http, "beta", tmp_path, "two")
    missed = [e for e in await json_events(http) if e["id"] > cursor]
    assert missed
    # The browser's EventSource resends its URL (here with after=0) plus the header,
    # so the header wins.
    stream, response = await open_stream(http, {"Last-Event-ID": str(cursor)}, after=0)
    try:
        frames = events_only(await stream.until(finished(last_request)))
    finally:
        await stream.close()
        await response.aclose()
    assert [f.data for f in frames] == missed


async def test_after_query_is_the_start_without_the_header(
    http: httpx.AsyncClient, tmp_path: Path
) -> None:
    request_id = await spawn_and_ask(http, "alpha", tmp_path, "one")
    stored = await json_events(http)
    middle = stored[len(stored) // 2]["id"]
    stream, response = await open_stream(http, after=middle)
    try:
        frames = events_only(await stream.until(finished(request_id)))
    finally:
        await stream.close()
        await response.aclose()
    assert [f.data for f in frames] == [e for e in stored if e["id"] > middle]


async def test_filter_by_agent(http: httpx.AsyncClient, tmp_path: Path) -> None:
    stream, response = await open_stream(http, agent="beta")
    try:
        await spawn_and_ask(http, "alpha", tmp_path, "for alpha")
        beta_request = await spawn_and_ask(http, "beta", tmp_path, "for beta")
        await spawn_and_ask(http, "gamma", tmp_path, "for gamma")
        frames = events_only(await stream.until(finished(beta_request)))
    finally:
        await stream.close()
        await response.aclose()
    assert frames
    assert {f.data["agent"] for f in frames} == {"beta"}
    assert [f.data for f in frames] == await json_events(http, agent="beta")


async def test_live_events_are_pushed_at_once(http: httpx.AsyncClient, tmp_path: Path) -> None:
    await spawn_and_ask(http, "alpha", tmp_path, "warm up")
    stream, response = await open_stream(http, after=(await json_events(http))[-1]["id"])
    try:
        await stream.until(lambda f: f.comment is None and f.id is None)  # the retry hint
        loop = asyncio.get_running_loop()
        started = loop.time()
        answer = await http.post("/v1/agents/alpha/ask", json={"prompt": "ping", "wait": True})
        frames = await stream.until(finished(answer.json()["id"]), timeout=5)
        # Pushed, not polled: well under any polling period.
        assert loop.time() - started < 2.0
    finally:
        await stream.close()
        await response.aclose()
    assert [f.event for f in events_only(frames)][-1] == "request_finished"


async def test_stream_needs_the_token(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/events", headers={**SSE, "Authorization": "Bearer wrong"})
    assert response.status_code == 401
    assert response.json()["error"]["context"] == {"reason": "unauthorized"}
    assert not response.headers["content-type"].startswith("text/event-stream")


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "9" * 40])
async def test_bad_last_event_id_is_400(http: httpx.AsyncClient, value: str) -> None:
    response = await http.get("/v1/events", headers={**SSE, "Last-Event-ID": value})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_name"


async def test_bad_filters_are_400_before_streaming(http: httpx.AsyncClient) -> None:
    for params in ({"agent": "../x"}, {"run_id": "nope"}):
        response = await http.get("/v1/events", params=params, headers=SSE)
        assert response.status_code == 400, params
        assert set(response.json()["error"]) == {"code", "message", "context"}


async def test_shutdown_ends_open_streams(daemon: ThreadedDaemon, http: httpx.AsyncClient) -> None:
    stream, response = await open_stream(http)
    try:
        await stream.until(lambda f: f.event == "daemon_started")
        # POST /v1/shutdown, then the daemon's thread ends. The open stream must not
        # hold it up until uvicorn's graceful-shutdown timeout (3 s) cuts it.
        started = time.monotonic()
        stopping = asyncio.create_task(asyncio.to_thread(daemon.stop))
        frames = await stream.until(lambda f: f.event == "shutdown", timeout=5)
        async with asyncio.timeout(5):
            await stream.ended.wait()
            await stopping
        assert time.monotonic() - started < 2.5
    finally:
        await stream.close()
        await response.aclose()
    assert frames[-1].id is None
    assert frames[-1].data["last_event_id"] >= 1


async def test_json_long_poll_still_answers_other_accepts(http: httpx.AsyncClient) -> None:
    for accept in ("application/json", "*/*"):
        response = await http.get("/v1/events", headers={"Accept": accept})
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json()[0]["kind"] == "daemon_started"


# --- the stream itself, over a real Runtime --------------------------------------------------


async def read_frames(body: AsyncIterator[bytes], count: int, timeout: float = 5) -> list[Frame]:
    out: list[Frame] = []
    async with asyncio.timeout(timeout):
        async for frame in frames_of(byte_lines(body)):
            out.append(frame)
            if len(out) == count:
                break
    return out


async def read_to_end(body: AsyncIterator[bytes], timeout: float = 5) -> list[Frame]:
    async with asyncio.timeout(timeout):
        return [frame async for frame in frames_of(byte_lines(body))]


def stream_body(runtime: Runtime, streams: sse.EventStreams, **kwargs: Any) -> Any:
    wanted = sse.EventFilter(
        runtime, agent=kwargs.pop("agent", None), run_id=kwargs.pop("run_id", None)
    )
    return streams.response(runtime, wanted, after=kwargs.pop("after", 0)).body_iterator


async def test_slow_client_gets_overflow_then_resumes_exactly(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sse, "QUEUE_SIZE", 5)
    first = (await runtime.emit(EventKind.ERROR, data={"n": 0})).id
    streams = sse.EventStreams()
    body = stream_body(runtime, streams, after=first - 1)
    frames = await read_frames(body, 2)  # the retry hint, the replayed event
    assert frames[1].id == first
    second = (await runtime.emit(EventKind.ERROR, data={"n": 1})).id
    assert (await read_frames(body, 1))[0].id == second  # live now
    # The client stops reading while eight events happen: more than its queue holds.
    missed = [(await runtime.emit(EventKind.ERROR, data={"n": i})).id for i in range(2, 10)]
    rest = await read_to_end(body)  # the stream ends by itself
    assert [f.event for f in rest] == ["overflow"]
    assert rest[0].id is None  # so the client's Last-Event-ID stays the last event it got
    assert rest[0].data["last_event_id"] == second
    assert len(streams) == 0
    assert runtime.listener_count == 0
    # Reconnecting from there: every missed event, in order, once.
    again = stream_body(runtime, streams, after=rest[0].data["last_event_id"])
    resumed = await read_frames(again, 1 + len(missed))
    assert [f.id for f in resumed[1:]] == missed
    await again.aclose()


async def test_overflow_during_replay_is_caught_up_from_the_store(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sse, "QUEUE_SIZE", 3)
    monkeypatch.setattr(sse, "_PAGE", 2)
    before = [(await runtime.emit(EventKind.ERROR, data={"n": i})).id for i in range(4)]
    streams = sse.EventStreams()
    body = stream_body(runtime, streams, after=0)
    got = await read_frames(body, 2)  # retry hint, first replayed event (mid-replay now)
    during = [(await runtime.emit(EventKind.ERROR, data={"n": i})).id for i in range(10)]
    got += await read_frames(body, len(before) + len(during) - 1)
    ids = [f.id for f in got if f.id is not None]
    assert ids[: len(before)] == before
    assert ids[len(before) :] == during
    await body.aclose()
    assert runtime.listener_count == 0


async def test_quiet_stream_gets_keep_alive_comments(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sse, "KEEPALIVE_S", 0.05)
    after = (await runtime.emit(EventKind.ERROR)).id
    body = stream_body(runtime, sse.EventStreams(), after=after)
    frames = await read_frames(body, 3, timeout=2)
    assert [f.comment for f in frames[1:]] == ["keep-alive", "keep-alive"]
    await body.aclose()


async def test_closing_a_stream_removes_its_listener(runtime: Runtime) -> None:
    streams = sse.EventStreams()
    body = stream_body(runtime, streams)
    await read_frames(body, 1)
    assert runtime.listener_count == 1
    assert len(streams) == 1
    await body.aclose()
    assert runtime.listener_count == 0
    assert len(streams) == 0


async def test_close_all_ends_streams_and_refuses_new_ones(runtime: Runtime) -> None:
    streams = sse.EventStreams()
    body = stream_body(runtime, streams)
    await read_frames(body, 1)
    streams.close_all()
    rest = await read_to_end(body)
    assert [f.event for f in rest] == ["shutdown"]
    with pytest.raises(Exception, match="shutting down"):
        stream_body(runtime, streams)


async def test_close_all_sends_what_was_queued_first(runtime: Runtime) -> None:
    streams = sse.EventStreams()
    after = (await runtime.emit(EventKind.ERROR)).id
    body = stream_body(runtime, streams, after=after)
    await runtime.emit(EventKind.ERROR, data={"n": "first"})
    await read_frames(body, 2)  # the retry hint, the first event: the replay caught up
    last = [(await runtime.emit(EventKind.ERROR, data={"n": i})).id for i in range(3)]
    streams.close_all()
    rest = await read_to_end(body)
    # The daemon's last events reach the stream before its end.
    assert [f.id for f in rest[:-1]] == last
    assert (rest[-1].event, rest[-1].data["last_event_id"]) == ("shutdown", last[-1])


async def test_close_all_during_replay_leaves_no_gap_to_resume_over(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sse, "_PAGE", 2)
    before = [(await runtime.emit(EventKind.ERROR, data={"n": i})).id for i in range(4)]
    streams = sse.EventStreams()
    body = stream_body(runtime, streams, after=0)
    got = await read_frames(body, 2)  # retry hint, first replayed event (mid-replay now)
    live = (await runtime.emit(EventKind.ERROR, data={"n": "live"})).id  # queued
    streams.close_all()
    got += await read_to_end(body)
    sent = [f.id for f in got if f.id is not None]
    notice = got[-1]
    assert notice.event == "shutdown"
    # The replay stopped short: the notice names the last event sent, not the queued
    # one past the gap, so resuming from it misses nothing.
    assert notice.data["last_event_id"] == sent[-1]
    assert live not in sent
    resumed = [e.id for e in await runtime.events(after=notice.data["last_event_id"])]
    assert sorted({*sent, *resumed}) == [*before, live]


async def test_too_many_streams_is_503(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sse, "MAX_STREAMS", 1)
    streams = sse.EventStreams()
    body = stream_body(runtime, streams)
    await read_frames(body, 1)
    with pytest.raises(Exception, match="too many event streams") as caught:
        stream_body(runtime, streams)
    assert type(caught.value).__name__ == "DaemonError"
    await body.aclose()


# --- filter by run ----------------------------------------------------------------------------


@pytest.fixture
async def engine(runtime: Runtime) -> AsyncIterator[RunEngine]:
    engine = RunEngine(runtime)
    await engine.start()
    try:
        yield engine
    finally:
        await engine.close()


async def test_filter_by_run_id(engine: RunEngine, tmp_path: Path) -> None:
    runtime = engine.runtime
    guard = GuardSettings(
        token=TOKEN,
        allowed_hosts=frozenset({f"127.0.0.1:{PORT}"}),
        allowed_origins=frozenset({BASE}),
    )
    app = create_app(AppState(runtime=runtime, runs=engine), guard)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=BASE,
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as api:
        await api.post("/v1/agents", json={"name": "outsider", "cwd": str(tmp_path)})
        body = {"request": "Review.", "team": str(write_team(tmp_path / "team")), "plan": PLAN}
        run = (await api.post("/v1/orchestrate", json=body)).json()
        done = (await api.get(f"/v1/runs/{run['id']}/wait", params={"timeout": 30})).json()
        assert done["state"] == "complete", done
        await api.post("/v1/agents/outsider/ask", json={"prompt": "not in the run", "wait": True})
        everything = (await api.get("/v1/events", params={"limit": 10_000})).json()
        of_run = (await api.get("/v1/events", params={"run_id": run["id"]})).json()
    kinds = {e["kind"] for e in of_run}
    assert {"run_started", "task_started", "task_finished", "run_finished"} <= kinds
    assert {"request_queued", "request_finished"} <= kinds  # the run's own requests
    assert all(e["agent"] != "outsider" for e in of_run)
    assert len(of_run) < len(everything)
    # The stream gives the same events.
    body_iter = stream_body(runtime, sse.EventStreams(), run_id=run["id"])
    frames = await read_frames(body_iter, 1 + len(of_run))
    assert [f.data for f in frames[1:]] == of_run
    await body_iter.aclose()
