"""Bad input at the HTTP edge: refused with a 4xx ``{"error": ...}``, nothing written.

Every case here once got past validation and ended in a 500 (or worse, a stored
record that made later listings fail). EchoBackend replaces the model only.
"""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

from podium._errors import InvalidModel, InvalidName, InvalidPrompt, UsageError
from podium._names import check_model, check_name, parse_request_id
from podium.orchestration._artifacts import check_run_id
from podium.runtime import Runtime


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "context"}
    error: dict[str, Any] = body["error"]
    return error


# --- names with a trailing newline ---------------------------------------------------------


@pytest.mark.parametrize("name", ["alpha\n", "alpha\n\n", "\nalpha"])
def test_a_name_with_a_newline_is_invalid(name: str) -> None:
    with pytest.raises(InvalidName):
        check_name(name)


def test_ids_and_models_with_a_trailing_newline_are_invalid() -> None:
    assert parse_request_id("alpha-000001-0123abcd\n") is None
    with pytest.raises(InvalidName):
        check_run_id("run-20240101-000000-abcd\n")
    with pytest.raises(InvalidModel):
        check_model("sonnet\n")
    with pytest.raises(InvalidModel):
        check_model("claude-sonnet-4-5\n")
    with pytest.raises(InvalidModel):
        check_model("gpt-4o\n", backend="openai")


async def test_spawn_refuses_a_name_with_a_trailing_newline(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/agents", json={"name": "alpha\n"})
    assert response.status_code == 400, response.text
    assert error_of(response)["code"] == "invalid_name"
    assert (await api.get("/v1/agents")).json() == []


async def test_paths_and_queries_refuse_a_name_with_a_trailing_newline(
    api: httpx.AsyncClient,
) -> None:
    assert (await api.post("/v1/agents", json={"name": "alpha"})).status_code == 201
    for path in ("/v1/requests?agent=alpha%0A", "/v1/events?agent=alpha%0A"):
        response = await api.get(path)
        assert response.status_code == 400, (path, response.text)
        assert error_of(response)["code"] == "invalid_name"
    # Routing would read "alpha\n" as "alpha": a path with a control character is refused.
    for method, path in [
        ("GET", "/v1/agents/alpha%0A"),
        ("DELETE", "/v1/agents/alpha%0A"),
        ("GET", "/v1/requests/alpha-000001-0123abcd%0A"),
        ("GET", "/v1/runs/run-20240101-000000-abcd%0A"),
    ]:
        response = await api.request(method, path)
        assert response.status_code == 400, (path, response.text)
        assert error_of(response)["context"] == {"reason": "bad_path"}
    assert [a["name"] for a in (await api.get("/v1/agents")).json()] == ["alpha"]


# --- lone surrogates and non-finite numbers ------------------------------------------------


async def _listings_still_answer(api: httpx.AsyncClient) -> None:
    for path in ("/v1/agents", "/v1/requests", "/v1/requests?agent=alpha", "/v1/agents/alpha"):
        response = await api.get(path)
        assert response.status_code == 200, (path, response.text)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/agents/alpha/ask", b'{"prompt": "hi \\ud800"}'),
        ("/v1/agents/alpha/ask", b'{"prompt": "hi", "timeout": Infinity}'),
        ("/v1/agents/alpha/ask", b'{"prompt": "hi", "timeout": NaN}'),
        ("/v1/agents/alpha/ask", b'{"prompt": "hi", "wait": true, "wait_timeout": Infinity}'),
        ("/v1/relay", b'{"from": "alpha", "to": "alpha", "prompt": "\\udc80"}'),
        ("/v1/broadcast", b'{"prompt": "hi", "timeout": -Infinity}'),
        ("/v1/broadcast", b'{"prompt": "hi", "exclude": ["\\ud800"]}'),
        ("/v1/agents", b'{"name": "beta", "system_prompt": "\\ud800"}'),
        ("/v1/agents", b'{"name": "beta", "cwd": "\\ud800"}'),
        ("/v1/agents", b'{"name": "beta", "model": "\\ud800"}'),
        ("/v1/agents", b'{"name": "beta", "options": {"effort": NaN}}'),
        ("/v1/agents", b'{"name": "beta", "options": {"\\ud800": 1}}'),
        ("/v1/agents", b'{"name": "beta", "cwd": "/tmp/\\u0000x"}'),
        ("/v1/agents/alpha/fork", b'{"new": "beta", "model": "\\ud800"}'),
    ],
)
async def test_unstorable_text_or_numbers_are_refused_and_nothing_is_written(
    api: httpx.AsyncClient, path: str, body: bytes
) -> None:
    assert (await api.post("/v1/agents", json={"name": "alpha"})).status_code == 201
    response = await api.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["code"] == "usage_error"
    assert any(
        word in error["message"] for word in ("lone surrogate", "not a finite number", "NUL")
    ), error["message"]
    assert (await api.get("/v1/requests")).json() == []
    assert [a["name"] for a in (await api.get("/v1/agents")).json()] == ["alpha"]
    await _listings_still_answer(api)


@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
async def test_non_finite_wait_timeout_in_a_query_is_refused(
    api: httpx.AsyncClient, value: str
) -> None:
    response = await api.post(f"/v1/requests/alpha-000001-0123abcd/wait?timeout={value}")
    assert response.status_code == 422, response.text
    assert "finite" in error_of(response)["message"]


async def test_an_event_cursor_beyond_any_id_is_refused(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/events", params={"after": str(10**30)})
    assert response.status_code == 422, response.text
    assert error_of(response)["message"].startswith("invalid request: query.after")


async def test_the_runtime_refuses_unstorable_prompts_and_timeouts(runtime: Runtime) -> None:
    # The Python API and MCP fronts reach the runtime without the HTTP models.
    await runtime.spawn("alpha")
    with pytest.raises(InvalidPrompt, match="lone surrogate"):
        await runtime.ask("alpha", "caf\udce9")
    for bad in (math.inf, math.nan, -1.0):
        with pytest.raises(UsageError):
            await runtime.ask("alpha", "hi", timeout=bad)
        with pytest.raises(UsageError):
            await runtime.broadcast("hi", timeout=bad)
    with pytest.raises(UsageError, match="finite"):
        await runtime.wait("alpha-000001-0123abcd", math.nan)
    assert await runtime.list_requests() == []


@pytest.mark.parametrize("value", [True, "5", [5]])
async def test_a_timeout_must_be_a_number(api: httpx.AsyncClient, value: object) -> None:
    assert (await api.post("/v1/agents", json={"name": "alpha"})).status_code == 201
    response = await api.post("/v1/agents/alpha/ask", json={"prompt": "hi", "timeout": value})
    assert response.status_code == 422, response.text
    assert error_of(response)["message"].startswith("invalid request: body.timeout")
    assert (await api.get("/v1/requests")).json() == []
