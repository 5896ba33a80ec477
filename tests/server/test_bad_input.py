"""Bad input at the HTTP edge: refused with a 4xx ``{"error": ...}``, nothing written.

Every case here once got past validation and ended in a 500 (or worse, a stored
record that made later listings fail). EchoBackend replaces the model only.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from podium._errors import InvalidModel, InvalidName
from podium._names import check_model, check_name, parse_request_id
from podium.orchestration._artifacts import check_run_id


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
