"""One descriptor per backend: every other module asks it, so it must match the backends."""

from __future__ import annotations

import pytest

from podium._backend_info import BACKEND_NAMES, BACKENDS, BackendName, backend_info
from podium._errors import InvalidModel, InvalidOptions, UsageError
from podium._names import check_model
from podium._options import AgentOptions, AgentSpec
from podium.backends import default_backends


def test_every_backend_has_one_descriptor_and_every_descriptor_a_backend() -> None:
    assert set(BACKENDS) == set(BackendName)
    assert set(default_backends()) == set(BACKEND_NAMES)
    for name, backend in default_backends().items():
        assert backend.name == name == backend_info(name).name.value


def test_an_unknown_backend_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(UsageError, match="claude-code, anthropic-api, openai"):
        backend_info("claude")


def test_model_names_follow_the_backends_rule() -> None:
    assert check_model("llama3.2:1b", backend="openai") == "llama3.2:1b"
    for closed in ("claude-code", "anthropic-api"):
        with pytest.raises(InvalidModel):
            check_model("llama3.2:1b", backend=closed)


def test_batch_base_url_and_chains_go_only_where_the_descriptor_allows() -> None:
    for info in BACKENDS.values():
        batch = AgentOptions(batch=True)
        url = AgentOptions(base_url="http://127.0.0.1:11434/v1")
        chain = AgentOptions.from_dict({"fallback": ["haiku", "sonnet"]}, backend="anthropic-api")
        for options, allowed in ((batch, info.batch), (url, info.api)):
            if allowed:
                assert options.checked(info.name) == options
            else:
                with pytest.raises(InvalidOptions):
                    options.checked(info.name)
        if not info.open_model_names:
            if info.fallback_chain:
                assert len(chain.checked(info.name).fallback) == 2
            else:
                with pytest.raises(InvalidOptions, match="one fallback model"):
                    chain.checked(info.name)


def test_a_spec_names_its_backend_by_the_descriptor() -> None:
    spec = AgentSpec.build(backend="openai", model="llama3.2")
    assert spec.backend is BackendName.OPENAI
    assert spec.options == AgentOptions()
