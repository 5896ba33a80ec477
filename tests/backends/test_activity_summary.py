"""Tool input summaries, secret masking, text throttling and the step tracker (pure functions)."""

from __future__ import annotations

from podium._activity_view import StepTracker, describe_event
from podium.backends._activity import TextThrottle, mask_secrets, summarize_input


def test_a_bash_call_is_summarised_by_its_command_with_credentials_masked() -> None:
    text = summarize_input(
        "Bash",
        {
            "command": "curl -H 'Authorization: Bearer abcdefghijkl123' https://x"
            " --token=s3cr3tvalue"
        },
    )
    assert text.startswith("curl -H")
    assert "abcdefghijkl123" not in text
    assert "s3cr3tvalue" not in text
    assert "***" in text


def test_key_shapes_and_named_values_are_masked() -> None:
    masked = mask_secrets("export ANTHROPIC_API_KEY=sk-ant-api03-abcdefghijklmnopqrstu; ls")
    assert "sk-ant" not in masked
    assert masked.endswith("; ls")
    assert mask_secrets("PASSWORD: hunter22") == "PASSWORD: ***"
    assert mask_secrets("read the file notes.txt") == "read the file notes.txt"


def test_file_tools_show_their_path_and_long_inputs_are_cut() -> None:
    assert summarize_input("Read", {"file_path": "/src/app.py"}) == "/src/app.py"
    long = summarize_input("Bash", {"command": "echo " + "x" * 500})
    assert len(long) == 160
    assert long.endswith("…")
    assert summarize_input("mcp__srv__tool", {"q": 1}) == '{"q":1}'


def test_the_text_throttle_lets_one_through_per_interval_and_keeps_the_latest() -> None:
    throttle = TextThrottle(interval=1.0)
    assert throttle.offer("a", now=10.0) == "a"
    assert throttle.offer("b", now=10.2) is None
    assert throttle.offer("c", now=10.5) is None
    assert throttle.due(now=10.9) is None
    assert throttle.due(now=11.0) == "c"
    assert throttle.due(now=13.0) is None


def _event(i: int, kind: str, **data: object) -> dict[str, object]:
    return {"id": i, "ts": 100.0 + i, "kind": kind, "agent": "a", "request_id": "r", "data": data}


def test_the_step_follows_tools_retries_and_ends_with_the_request() -> None:
    tracker = StepTracker()
    tracker.feed(_event(1, "request_started"))
    assert tracker.steps["a"].text == "waiting for the model"
    assert tracker.steps["a"].first_event_id == 1
    tracker.feed(_event(2, "tool_started", tool="Bash", tool_use_id="t1", input="make"))
    assert tracker.steps["a"].text == "Bash: make"
    tracker.feed(_event(3, "api_call", model="m", usage={}))
    assert tracker.steps["a"].text == "Bash: make"
    tracker.feed(_event(4, "tool_finished", tool="Bash", tool_use_id="t1", ok=True, seconds=2.0))
    assert tracker.steps["a"].text == "waiting for the model"
    tracker.feed(_event(5, "api_retry", attempt=1, max_retries=3, retry_delay_ms=1500,
                        error_status=529, error="overloaded"))  # fmt: skip
    step = tracker.steps["a"]
    assert step.retries == 1
    assert step.text == "API retry 1/3: 529 overloaded, retrying in 1.5s"
    tracker.feed(_event(6, "request_finished", state="complete"))
    assert "a" not in tracker.steps
    assert tracker.last_event_id == 6


def test_describe_event_reads_as_a_sentence() -> None:
    assert describe_event("tool_finished", {"tool": "Read", "ok": False, "seconds": 0.25}) == (
        "Read failed in 0.2s"
    )
    assert describe_event("spawned", {}) is None
