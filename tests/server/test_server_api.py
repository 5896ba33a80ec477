"""The HTTP API in-process (httpx ASGI transport) over a real Runtime.

EchoBackend replaces the model only: routes, guard, error mapping, runtime and
store are the production code.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from podium._errors import (
    AgentExists,
    AgentNotFound,
    BackendError,
    CLINotFound,
    DaemonError,
    InvalidName,
    PodiumError,
    RequestFailed,
    RequestNotFound,
    UsageError,
    WaitTimeout,
)
from podium.runtime import Runtime
from podium.server._http_errors import status_for
from tests._asgi_api import BASE, PORT, TOKEN, api_client
from tests._echo_backend import EchoBackend
from tests._request_shape import REQUEST_KEYS


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "context"}
    error: dict[str, Any] = body["error"]
    return error


async def spawn(api: httpx.AsyncClient, name: str, **extra: Any) -> dict[str, Any]:
    response = await api.post("/v1/agents", json={"name": name, **extra})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def ask(api: httpx.AsyncClient, name: str, prompt: str, **extra: Any) -> httpx.Response:
    return await api.post(f"/v1/agents/{name}/ask", json={"prompt": prompt, **extra})


# --- guard: token, Host, Origin, size ------------------------------------------------------


async def test_health_needs_no_token(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/health", headers={"Authorization": ""})
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_pool_route_shows_the_warm_pool_behind_the_token(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    await spawn(api, "resting")
    response = await api.get("/v1/pool")
    assert response.status_code == 200, response.text
    pool = response.json()
    assert pool["max_warm"] == runtime.pool.limit
    assert pool["warm"] == 1  # the echo backend stands in for claude-code
    assert pool["waiting"] == 0
    assert pool["hibernated"] == 0
    assert {"busy", "hibernations", "min_free_mb", "mem_available_mb"} <= set(pool)
    refused = await api.get("/v1/pool", headers={"Authorization": ""})
    assert refused.status_code == 401


@pytest.mark.parametrize(
    "authorization", ["", "Bearer", "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x"]
)
async def test_missing_or_wrong_token_is_401(api: httpx.AsyncClient, authorization: str) -> None:
    response = await api.get("/v1/agents", headers={"Authorization": authorization})
    assert response.status_code == 401
    error = error_of(response)
    assert error["code"] == "daemon_error"
    assert error["context"] == {"reason": "unauthorized"}
    assert TOKEN not in response.text


@pytest.mark.parametrize("host", ["evil.example:8765", f"127.0.0.1:{PORT + 1}", "127.0.0.1", ""])
async def test_foreign_host_is_refused(api: httpx.AsyncClient, host: str) -> None:
    response = await api.get("/v1/agents", headers={"Host": host})
    assert response.status_code == 400
    assert error_of(response)["context"]["reason"] == "bad_host"


async def test_localhost_name_is_accepted(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/agents", headers={"Host": f"localhost:{PORT}"})
    assert response.status_code == 200


@pytest.mark.parametrize("origin", ["http://evil.example", "null", f"http://127.0.0.1:{PORT + 1}"])
async def test_foreign_origin_is_403_even_on_health(api: httpx.AsyncClient, origin: str) -> None:
    for path in ("/v1/health", "/v1/agents"):
        response = await api.get(path, headers={"Origin": origin})
        assert response.status_code == 403
        assert error_of(response)["context"]["reason"] == "bad_origin"


async def test_own_origin_is_accepted(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/agents", headers={"Origin": BASE})
    assert response.status_code == 200


async def test_oversized_body_is_413(api: httpx.AsyncClient) -> None:
    body = b'{"name": "' + b"a" * (16 * 1024 * 1024) + b'"}'
    response = await api.post(
        "/v1/agents", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert error_of(response)["context"]["reason"] == "body_too_large"


async def test_oversized_streamed_body_is_413(api: httpx.AsyncClient) -> None:
    async def chunks() -> Any:
        for _ in range(17):
            yield b"x" * (1024 * 1024)

    response = await api.post("/v1/agents", content=chunks())
    assert response.status_code == 413


async def test_unauthorised_request_is_refused_before_its_body_matters(
    api: httpx.AsyncClient,
) -> None:
    response = await api.post("/v1/agents", content=b"{", headers={"Authorization": ""})
    assert response.status_code == 401


# --- body validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"", b"[1, 2]", b'{"name": 5}', b'{"name": "a", "colour": "red"}', b"{}"],
)
async def test_malformed_or_invalid_body_is_422(api: httpx.AsyncClient, content: bytes) -> None:
    response = await api.post(
        "/v1/agents", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "usage_error"
    assert error["message"].startswith("invalid request")


async def test_validation_error_does_not_echo_the_input(api: httpx.AsyncClient) -> None:
    await spawn(api, "alpha")
    secret_looking = "z" * 5000
    response = await ask(api, "alpha", "hi", timeout=secret_looking)
    assert response.status_code == 422
    assert secret_looking not in response.text


@pytest.mark.parametrize("timeout", [0, -1])
async def test_non_positive_turn_timeout_is_422(api: httpx.AsyncClient, timeout: float) -> None:
    await spawn(api, "alpha")
    assert (await ask(api, "alpha", "hi", timeout=timeout)).status_code == 422


async def test_unknown_route_has_the_error_shape(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/nope")
    assert response.status_code == 404
    assert error_of(response)["code"] == "usage_error"


# --- agents --------------------------------------------------------------------------------


async def test_spawn_list_info_kill(api: httpx.AsyncClient, tmp_path: Any) -> None:
    agent = await spawn(api, "alpha", model="haiku", cwd=str(tmp_path), system_prompt="be brief")
    assert agent["name"] == "alpha"
    assert agent["requested_model"] == "haiku"
    assert agent["model"] == "echo-haiku"  # the resolved model once known
    assert agent["cwd"] == str(tmp_path)
    listed = (await api.get("/v1/agents")).json()
    assert [a["name"] for a in listed] == ["alpha"]
    info = (await api.get("/v1/agents/alpha")).json()
    assert info["system_prompt"] == "be brief"
    assert info["lineage"] == []
    killed = await api.delete("/v1/agents/alpha")
    assert killed.status_code == 200
    assert killed.json()["status"] == "killed"
    assert (await api.get("/v1/agents")).json() == []


async def test_duplicate_name_is_409(api: httpx.AsyncClient) -> None:
    await spawn(api, "alpha")
    response = await api.post("/v1/agents", json={"name": "alpha"})
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "agent_exists"
    assert error["context"]["agent"] == "alpha"


@pytest.mark.parametrize("name", ["../x", "a b", "", "a" * 200, "Alpha", "x/y", "-x"])
async def test_unsafe_names_are_400(api: httpx.AsyncClient, name: str) -> None:
    response = await api.post("/v1/agents", json={"name": name})
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_name"


@pytest.mark.parametrize("path", ["..%2Fx", "a%20b", "x/y", "A"])
async def test_unsafe_names_in_paths_are_400(api: httpx.AsyncClient, path: str) -> None:
    for method in ("GET", "DELETE"):
        response = await api.request(method, f"/v1/agents/{path}")
        assert response.status_code == 400, (method, path)
        assert error_of(response)["code"] == "invalid_name"
    response = await api.post(f"/v1/agents/{path}/ask", json={"prompt": "hi"})
    assert response.status_code == 400


async def test_unknown_model_alias_is_400(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/agents", json={"name": "alpha", "model": "gpt-4"})
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_model"


async def test_unknown_backend_and_missing_cwd_are_400(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/agents", json={"name": "alpha", "backend": "nope"})
    assert response.status_code == 400
    response = await api.post("/v1/agents", json={"name": "alpha", "cwd": "/no/such/dir"})
    assert response.status_code == 400
    assert "does not exist" in error_of(response)["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/agents/ghost"),
        ("DELETE", "/v1/agents/ghost"),
        ("POST", "/v1/agents/ghost/ask"),
        ("POST", "/v1/agents/ghost/fork"),
    ],
)
async def test_unknown_agent_is_404(api: httpx.AsyncClient, method: str, path: str) -> None:
    body = {"prompt": "hi"} if path.endswith("ask") else {"new": "other"}
    response = await api.request(method, path, json=body if method == "POST" else None)
    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == "agent_not_found"
    assert error["context"] == {"agent": "ghost"}


async def test_fork_and_lineage(api: httpx.AsyncClient) -> None:
    await spawn(api, "alpha")
    assert (await ask(api, "alpha", "remember 7", wait=True)).status_code == 200
    response = await api.post("/v1/agents/alpha/fork", json={"new": "beta", "model": "sonnet"})
    assert response.status_code == 201
    assert response.json()["forked_from"] == "alpha"
    assert response.json()["requested_model"] == "sonnet"
    response = await api.post("/v1/agents/beta/fork", json={"new": "gamma"})
    assert response.status_code == 201
    info = (await api.get("/v1/agents/gamma")).json()
    assert info["lineage"] == ["beta", "alpha"]
    assert (await api.get("/v1/agents/alpha")).json()["children"] == ["beta"]
    response = await api.post("/v1/agents/alpha/fork", json={"new": "beta"})
    assert response.status_code == 409


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"max_turns": "lots"}, "max_turns"),
        ({"launcher": ["sh", "-c", "id"]}, "launcher"),
        ({"no_such_option": 1}, "no_such_option"),
        ({"isolation": {"mode": "worktree", "memory_mb": 5}}, "isolation"),
        ({"settings": "relative/settings.json"}, "settings"),
        ({"settings": "/no/such/settings.json"}, "settings"),
        ({"settings": "[1]"}, "settings"),
        ({"settings": ["a"]}, "settings"),
    ],
)
async def test_bad_spawn_options_are_422_and_leave_no_agent(
    api: httpx.AsyncClient, tmp_path: Any, options: dict[str, Any], key: str
) -> None:
    response = await api.post(
        "/v1/agents", json={"name": "half", "cwd": str(tmp_path), "options": options}
    )
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["code"] == "invalid_options"
    assert error["context"]["option"] == key
    assert key in error["message"]
    assert (await api.get("/v1/agents")).json() == []
    assert (await api.get("/v1/agents/half")).status_code == 404
    kill_all = await api.post("/v1/agents/kill-all")
    assert kill_all.status_code == 200
    assert kill_all.json() == {"killed": []}
    # The name is free: a good spawn under it works at once.
    await spawn(api, "half", cwd=str(tmp_path), options={"max_turns": 2})


async def test_spawn_options_keep_their_json_shape(api: httpx.AsyncClient, tmp_path: Any) -> None:
    given = {
        "tools": ["Read", "Grep"],
        "allowed_tools": ["Read", "Bash(git diff:*)"],
        "permission_mode": "acceptEdits",
        "max_turns": 4,
        "max_budget_usd": 0.5,
        "env": {"LANG": "C.UTF-8"},
        "append_system_prompt": "Be brief.",
        "settings": '{"permissions": {"allow": ["Write"]}}',
    }
    created = await spawn(api, "shaped", cwd=str(tmp_path), options=given)
    assert created["options"] == given
    assert (await api.get("/v1/agents/shaped")).json()["options"] == given


async def test_settings_name_a_file_or_are_an_object(api: httpx.AsyncClient, tmp_path: Any) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{}")
    created = await spawn(api, "filed", cwd=str(tmp_path), options={"settings": str(path)})
    assert created["options"] == {"settings": str(path)}
    inline = {"settings": {"model": "haiku"}}
    created = await spawn(api, "inline", cwd=str(tmp_path), options=inline)
    assert created["options"] == {"settings": '{"model":"haiku"}'}


async def test_kill_all(api: httpx.AsyncClient) -> None:
    await spawn(api, "alpha")
    await spawn(api, "beta")
    response = await api.post("/v1/agents/kill-all")
    assert response.json() == {"killed": ["alpha", "beta"]}
    assert (await api.get("/v1/agents")).json() == []


# --- requests ------------------------------------------------------------------------------

AWKWARD_PROMPTS = [
    "say \"hi\" and 'bye'",
    "line one\nline two\r\nline three\ttabbed\n",
    "ünïcödé ✓ 日本語 🚀 \u200b zero-width",
    '{"json": [1, 2]} \\ backslash',
    "$(rm -rf /) `echo no` ; | & > <",
]


@pytest.mark.parametrize("prompt", AWKWARD_PROMPTS)
async def test_prompts_pass_through_intact(
    api: httpx.AsyncClient, echo: EchoBackend, prompt: str
) -> None:
    await spawn(api, "alpha")
    response = await ask(api, "alpha", prompt, wait=True)
    assert response.status_code == 200
    assert echo.prompts[-1] == prompt
    assert response.json()["result"] == prompt


async def test_two_megabyte_prompt_arrives_byte_for_byte(
    api: httpx.AsyncClient, echo: EchoBackend
) -> None:
    await spawn(api, "alpha")
    unit = '0123456789 ünï "q" \n🚀'
    prompt = (unit * (2 * 1024 * 1024 // len(unit.encode())))[: 2 * 1024 * 1024]
    response = await ask(api, "alpha", prompt, wait=True)
    assert response.status_code == 200
    assert echo.prompts[-1].encode() == prompt.encode()
    assert response.json()["result"] == prompt


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t"])
async def test_empty_prompt_is_400(api: httpx.AsyncClient, prompt: str) -> None:
    await spawn(api, "alpha")
    response = await ask(api, "alpha", prompt)
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_prompt"


async def test_ask_without_wait_returns_the_queued_request(api: httpx.AsyncClient) -> None:
    await spawn(api, "alpha")
    response = await ask(api, "alpha", "hello")
    assert response.status_code == 200
    queued = response.json()
    assert queued["status"] in ("queued", "running", "complete")
    assert queued["agent"] == "alpha"
    done = (await api.post(f"/v1/requests/{queued['id']}/wait")).json()
    assert done["status"] == "complete"
    assert done["result"] == "hello"
    polled = (await api.get(f"/v1/requests/{queued['id']}")).json()
    assert set(polled) >= REQUEST_KEYS
    assert polled == done


async def test_failed_request_is_reported_in_the_record(api: httpx.AsyncClient) -> None:
    await spawn(api, "alpha")
    response = await ask(api, "alpha", "fail:model exploded", wait=True)
    assert response.status_code == 200
    assert response.json()["status"] == "failed"
    assert response.json()["error"] == "model exploded"


async def test_wait_timeout_is_408_and_cancels_nothing(api: httpx.AsyncClient) -> None:
    await spawn(api, "alpha")
    response = await ask(api, "alpha", "sleep:1.5", wait=True, wait_timeout=0.1)
    assert response.status_code == 408
    error = error_of(response)
    assert error["code"] == "wait_timeout"
    request_id = error["context"]["request_id"]
    response = await api.post(f"/v1/requests/{request_id}/wait", params={"timeout": 0.1})
    assert response.status_code == 408
    done = await api.post(f"/v1/requests/{request_id}/wait", params={"timeout": 10})
    assert done.json()["status"] == "complete"


async def test_cancel_running_and_queued(api: httpx.AsyncClient) -> None:
    await spawn(api, "alpha")
    running = (await ask(api, "alpha", "sleep:30")).json()
    queued = (await ask(api, "alpha", "after")).json()
    response = await api.post(f"/v1/requests/{queued['id']}/cancel")
    assert response.json()["status"] == "cancelled"
    await asyncio.sleep(0.1)
    await api.post(f"/v1/requests/{running['id']}/cancel")
    done = (await api.post(f"/v1/requests/{running['id']}/wait", params={"timeout": 10})).json()
    assert done["status"] == "cancelled"


async def test_unknown_request_ids(api: httpx.AsyncClient) -> None:
    for method, suffix in (("GET", ""), ("POST", "/wait"), ("POST", "/cancel")):
        response = await api.request(method, f"/v1/requests/alpha-000001-deadbeef{suffix}")
        assert response.status_code == 404
        assert error_of(response)["code"] == "request_not_found"
        response = await api.request(method, f"/v1/requests/not-an-id{suffix}")
        assert response.status_code == 400
        assert error_of(response)["code"] == "invalid_name"


async def test_long_wait_does_not_block_other_requests(api: httpx.AsyncClient) -> None:
    await spawn(api, "alpha")
    waiting = asyncio.create_task(ask(api, "alpha", "sleep:2", wait=True))
    await asyncio.sleep(0.1)
    started = asyncio.get_running_loop().time()
    assert (await api.get("/v1/health")).status_code == 200
    assert (await api.get("/v1/agents")).status_code == 200
    assert asyncio.get_running_loop().time() - started < 1.0
    assert not waiting.done()
    assert (await waiting).json()["status"] == "complete"


async def test_relay(api: httpx.AsyncClient, echo: EchoBackend) -> None:
    await spawn(api, "alpha")
    await spawn(api, "beta")
    response = await api.post("/v1/relay", json={"from": "alpha", "to": "beta", "prompt": "go"})
    assert response.status_code == 400
    assert error_of(response)["code"] == "no_answer_yet"
    await ask(api, "alpha", "the answer is 42", wait=True)
    response = await api.post(
        "/v1/relay", json={"from": "alpha", "to": "beta", "prompt": "check", "wait": True}
    )
    assert response.status_code == 200
    assert response.json()["source"] == "relay"
    assert "the answer is 42" in echo.prompts[-1]
    assert echo.prompts[-1].startswith("check")
    response = await api.post("/v1/relay", json={"from": "ghost", "to": "beta", "prompt": "x"})
    assert response.status_code == 404


async def test_broadcast_and_request_listing(api: httpx.AsyncClient) -> None:
    for name in ("alpha", "beta", "gamma"):
        await spawn(api, name)
    response = await api.post("/v1/broadcast", json={"prompt": "hi all", "exclude": ["beta"]})
    assert sorted(r["agent"] for r in response.json()) == ["alpha", "gamma"]
    response = await api.post("/v1/broadcast", json={"prompt": "x", "exclude": ["ghost"]})
    assert response.status_code == 404
    listed = (await api.get("/v1/requests", params={"agent": "alpha"})).json()
    assert [r["agent"] for r in listed] == ["alpha"]
    assert len((await api.get("/v1/requests", params={"limit": 1})).json()) == 1
    assert (await api.get("/v1/requests", params={"limit": 0})).status_code == 422
    assert (await api.get("/v1/requests", params={"agent": "../x"})).status_code == 400


async def test_events_and_long_poll(api: httpx.AsyncClient) -> None:
    await spawn(api, "alpha")
    events = (await api.get("/v1/events")).json()
    assert events[0]["kind"] == "spawned"
    last = events[-1]["id"]
    assert (await api.get("/v1/events", params={"after": last})).json() == []
    poll = asyncio.create_task(api.get("/v1/events", params={"after": last, "wait": 10}))
    await asyncio.sleep(0.2)
    assert not poll.done()
    await ask(api, "alpha", "wake up")
    woke = (await asyncio.wait_for(poll, 5)).json()
    assert woke[0]["kind"] == "request_queued"
    only_alpha = (await api.get("/v1/events", params={"agent": "alpha", "limit": 2})).json()
    assert len(only_alpha) == 2
    assert all(e["agent"] == "alpha" for e in only_alpha)
    assert (await api.get("/v1/events", params={"wait": 10_000})).status_code == 422


async def test_shutdown_route_calls_back_after_answering(
    api: httpx.AsyncClient, shutdown_calls: list[int]
) -> None:
    response = await api.post("/v1/shutdown")
    assert response.status_code == 202
    assert shutdown_calls == [1]


# --- error mapping -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (AgentNotFound("x"), 404),
        (RequestNotFound("x"), 404),
        (AgentExists("x"), 409),
        (InvalidName("x"), 400),
        (UsageError("x"), 400),
        (WaitTimeout("x"), 408),
        (BackendError("x"), 502),
        (CLINotFound("x"), 502),
        (DaemonError("x"), 503),
        (RequestFailed("x"), 500),
        (PodiumError("x"), 500),
    ],
)
def test_status_mapping(error: PodiumError, status: int) -> None:
    assert status_for(error) == status


class _BrokenBackend(EchoBackend):
    def check(self) -> None:
        raise CLINotFound("Claude Code CLI not found at /nowhere")


async def test_backend_error_is_502_and_unexpected_error_500(runtime: Runtime) -> None:
    # A known backend whose binary is missing here.
    runtime.backends["anthropic-api"] = _BrokenBackend()
    async with api_client(runtime, raise_app_exceptions=False) as api:
        response = await api.post("/v1/agents", json={"name": "alpha", "backend": "anthropic-api"})
        assert response.status_code == 502
        assert error_of(response)["code"] == "cli_not_found"

        async def explode(**_: Any) -> Any:
            raise RuntimeError("store on fire")

        runtime.list_requests = explode  # type: ignore[method-assign]
        response = await api.get("/v1/requests")
        assert response.status_code == 500
        error = error_of(response)
        assert error["code"] == "podium_error"
        assert "store on fire" in error["message"]
        json.dumps(error)  # plain JSON all the way down


@pytest.mark.parametrize(("length", "status"), [("abc", 400), (str(10**9), 413)])
async def test_bad_or_huge_content_length_is_refused_unread(length: str, status: int) -> None:
    from podium.server._guard import Guard, GuardSettings

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the app must not be reached")

    async def receive() -> dict[str, Any]:
        raise AssertionError("the body must not be read")

    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    guard = Guard(
        app,
        GuardSettings(token=TOKEN, allowed_hosts=frozenset({"h:1"}), allowed_origins=frozenset()),
    )
    headers = [
        (b"host", b"h:1"),
        (b"authorization", f"Bearer {TOKEN}".encode()),
        (b"content-length", length.encode()),
    ]
    scope = {"type": "http", "method": "POST", "path": "/v1/agents", "headers": headers}
    await guard(scope, receive, send)
    assert sent[0]["status"] == status
