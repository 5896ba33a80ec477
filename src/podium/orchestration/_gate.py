"""The quality gate a worker's answer passes before its task counts as done.

Three checks, in order, each only if the previous ones passed:

1. the answer is not empty;
2. with an output schema, the answer is JSON (bare, in a fenced block, or the
   first balanced ``{...}`` in prose) valid against the schema (Draft 2020-12);
3. with a check command, the command (an argv list, never a shell) exits 0.

Every failure reason names what was wrong, so it can be sent back to the
worker as is for a corrected answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from .._errors import UsageError

__all__ = [
    "CHECK_OUTPUT_CHARS",
    "MAX_SUMMARY_CHARS",
    "GateVerdict",
    "QualityGate",
    "check_output_schema",
    "run_check",
]

MAX_SUMMARY_CHARS = 300
CHECK_OUTPUT_CHARS = 2000
# Schema errors go back to the model: keep them readable even for huge answers.
_MAX_SCHEMA_ERRORS = 50
_MAX_REASON_CHARS = 500
# Bytes of check output kept while reading (a character is up to 4 bytes in UTF-8),
# so a chatty check cannot exhaust memory.
_TAIL_BYTES = 4 * CHECK_OUTPUT_CHARS
# After the check exits, how long its output pipe may stay open (held by a
# process it left behind) before that process group is killed.
_PIPE_GRACE = 2.0
_FENCE = re.compile(r"```[ \t]*(?:json)?[ \t]*\r?\n(.*?)```", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class GateVerdict:
    ok: bool
    reasons: tuple[str, ...]
    """Why the answer failed, each naming what was wrong; empty when ``ok``."""
    output: Any
    """The parsed JSON when the answer is JSON, else the answer text."""
    findings: tuple[Any, ...] = ()
    artifacts: tuple[str, ...] = ()
    status: str | None = None
    summary: str = ""
    """At most 300 characters, for run tables and the synthesis prompt."""


class QualityGate:
    """Checks answers against an optional output schema and an optional check command."""

    def __init__(
        self,
        *,
        output_schema: Mapping[str, Any] | None,
        check: Sequence[str] | None = None,
        check_timeout: float = 300.0,
    ) -> None:
        if output_schema is not None:
            errors = check_output_schema(output_schema)
            if errors:
                raise UsageError(
                    "output schema is invalid:\n" + "\n".join(f"- {e}" for e in errors),
                    errors=errors,
                )
        if check is not None and (
            isinstance(check, str)
            or not check
            or not all(isinstance(arg, str) and arg for arg in check)
        ):
            # A string would be split into characters; a shell string is never run.
            raise UsageError(
                "check command must be a non-empty list of non-empty strings (an argv list)",
                check=check,
            )
        if not check_timeout > 0:
            raise UsageError(f"check timeout must be > 0, not {check_timeout!r}")
        self.output_schema = output_schema
        self.check_argv: tuple[str, ...] | None = tuple(check) if check is not None else None
        self.check_timeout = float(check_timeout)
        self._validator = (
            Draft202012Validator(
                dict(output_schema), format_checker=Draft202012Validator.FORMAT_CHECKER
            )
            if output_schema is not None
            else None
        )

    async def check(
        self,
        answer: str | None,
        *,
        cwd: Path,
        env: Mapping[str, str] | None = None,
        result_file: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> GateVerdict:
        """``environ``: the environment the check command starts from (default: this
        process's); ``env``: variables added to it."""
        text = answer or ""
        if not text.strip():
            return GateVerdict(ok=False, reasons=("the answer is empty",), output=text)
        reasons: list[str] = []
        if self._validator is not None:
            output, error = _extract_json(text)
            if error is not None:
                output = text
                reasons.append(f"the answer is not JSON: {error}")
            else:
                reasons.extend(_schema_errors(self._validator, output))
        else:
            output = _bare_json(text)
        if not reasons and self.check_argv is not None:
            full_env = {**(os.environ if environ is None else environ), **(env or {})}
            if result_file is not None:
                full_env["PODIUM_RESULT_FILE"] = str(result_file)
            failure = await run_check(
                self.check_argv, cwd=cwd, env=full_env, timeout=self.check_timeout
            )
            if failure is not None:
                reasons.append(failure)
        return _verdict(not reasons, tuple(reasons), output)


async def run_check(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None, timeout: float
) -> str | None:
    """Run a check command (an argv list) in ``cwd`` with exactly ``env`` (None: this
    process's); None when it exits 0, else why it failed with the end of its output."""
    shown = f"check `{shlex.join(argv)}`"
    if not Path(cwd).is_dir():
        return f"{shown} cannot run: working directory {cwd} does not exist"
    full_env = dict(os.environ if env is None else env)
    loop = asyncio.get_running_loop()
    try:
        transport, protocol = await loop.subprocess_exec(
            _CheckProtocol,
            *argv,
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Its own process group, so a timeout kills everything it started.
            start_new_session=True,
        )
    except FileNotFoundError:
        return f"{shown} cannot run: executable {argv[0]!r} not found"
    except PermissionError:
        return f"{shown} cannot run: {argv[0]!r} is not executable"
    except OSError as exc:
        return f"{shown} cannot run: {exc.strerror or exc}"
    pid = transport.get_pid()
    timed_out = False
    try:
        try:
            async with asyncio.timeout(timeout):
                await protocol.exited.wait()
        except TimeoutError:
            timed_out = True
            _kill_group(pid)
            await protocol.exited.wait()
        # A process the check left behind may hold the output pipe open.
        try:
            async with asyncio.timeout(_PIPE_GRACE):
                await protocol.closed.wait()
        except TimeoutError:
            _kill_group(pid)
    finally:
        if transport.get_returncode() is None:  # cancelled while running
            _kill_group(pid)
            # Reap it (SIGKILL makes this quick) so no zombie outlives the gate.
            with contextlib.suppress(asyncio.CancelledError):
                await protocol.exited.wait()
        transport.close()
    output = protocol.tail_text()
    if timed_out:
        ran = f"{shown} timed out after {timeout:g} s"
        return f"{ran}: {output}" if output else ran
    code = transport.get_returncode()
    if code == 0:
        return None
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"{shown} was killed by {name}" + _with_output(output)
    return f"{shown} exited {code}" + _with_output(output)


def check_output_schema(schema: Mapping[str, Any]) -> list[str]:
    """Every reason ``schema`` is not a usable JSON schema (Draft 2020-12); empty if it is."""
    if not isinstance(schema, Mapping):
        return [f"schema: must be a JSON object, not {type(schema).__name__}"]
    meta = Draft202012Validator(Draft202012Validator.META_SCHEMA)
    errors = sorted(meta.iter_errors(dict(schema)), key=_error_key)
    return [_describe(error, "schema") for error in errors]


# --- answers --------------------------------------------------------------------------------


def _extract_json(text: str) -> tuple[Any, str | None]:
    """The JSON of an answer: bare, else the first fenced block, else the first ``{...}``."""
    stripped = text.strip()
    try:
        return json.loads(stripped), None
    except json.JSONDecodeError as exc:
        first_error = _json_error(exc)
    fence = _FENCE.search(text)
    if fence is not None:
        try:
            return json.loads(fence.group(1)), None
        except json.JSONDecodeError as exc:
            # The model meant this block as its answer: its error is the useful one.
            return None, _json_error(exc) + " (in the fenced block)"
    for candidate in _balanced_objects(text):
        try:
            return json.loads(candidate), None
        except json.JSONDecodeError:
            continue
    return None, first_error


def _bare_json(text: str) -> Any:
    # Without a schema only an answer that is wholly a JSON object or array counts as
    # JSON: a prose answer quoting a snippet stays text.
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        with contextlib.suppress(json.JSONDecodeError):
            data = json.loads(stripped)
            if isinstance(data, dict | list):
                return data
    return text


def _balanced_objects(text: str) -> Iterable[str]:
    """Each balanced ``{...}`` span, in order of its opening brace (strings respected)."""
    start = text.find("{")
    while start != -1:
        end = _matching_brace(text, start)
        if end is not None:
            yield text[start : end + 1]
        start = text.find("{", start + 1)


def _matching_brace(text: str, start: int) -> int | None:
    depth = 0
    in_string = False
    escaped = False
    for index in range(start, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
    return None


def _json_error(exc: json.JSONDecodeError) -> str:
    return f"{exc.msg} at line {exc.lineno} column {exc.colno}"


def _schema_errors(validator: Draft202012Validator, output: Any) -> list[str]:
    errors = sorted(validator.iter_errors(output), key=_error_key)
    reasons = [_describe(error, "output") for error in errors[:_MAX_SCHEMA_ERRORS]]
    if len(errors) > _MAX_SCHEMA_ERRORS:
        reasons.append(f"... and {len(errors) - _MAX_SCHEMA_ERRORS} more schema errors")
    return reasons


def _error_key(error: ValidationError) -> tuple[tuple[tuple[int, int, str], ...], str]:
    # Paths mix list indexes and keys; compare indexes numerically, keys as text.
    parts = tuple(
        (0, part, "") if isinstance(part, int) else (1, 0, str(part))
        for part in error.absolute_path
    )
    return parts, error.message


def _describe(error: ValidationError, root: str) -> str:
    where = root
    for part in error.absolute_path:
        where += f"[{part}]" if isinstance(part, int) else f".{part}"
    return _clip(f"{where}: {error.message}", _MAX_REASON_CHARS)


def _verdict(ok: bool, reasons: tuple[str, ...], output: Any) -> GateVerdict:
    findings: tuple[Any, ...] = ()
    artifacts: tuple[str, ...] = ()
    status: str | None = None
    if isinstance(output, dict):
        if isinstance(output.get("findings"), list):
            findings = tuple(output["findings"])
        raw = output.get("artifacts")
        if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
            artifacts = tuple(raw)
        if isinstance(output.get("status"), str):
            status = output["status"]
    return GateVerdict(
        ok=ok,
        reasons=reasons,
        output=output,
        findings=findings,
        artifacts=artifacts,
        status=status,
        summary=_summary(output),
    )


def _summary(output: Any) -> str:
    if isinstance(output, dict):
        summary = output.get("summary")
        if isinstance(summary, str) and summary.strip():
            return _clip(_first_line(summary), MAX_SUMMARY_CHARS)
        findings = output.get("findings")
        if isinstance(findings, list):
            return _clip(_count_findings(findings), MAX_SUMMARY_CHARS)
    if isinstance(output, str):
        return _clip(_first_line(output), MAX_SUMMARY_CHARS)
    # JSON without a summary: its compact form says more than its first line ("{").
    return _clip(json.dumps(output, ensure_ascii=False), MAX_SUMMARY_CHARS)


def _count_findings(findings: list[Any]) -> str:
    if not findings:
        return "no findings"
    noun = "finding" if len(findings) == 1 else "findings"
    severities: Counter[str] = Counter()
    for finding in findings:
        severity = finding.get("severity") if isinstance(finding, dict) else None
        severities[str(severity) if severity is not None else "unrated"] += 1
    if set(severities) == {"unrated"}:
        return f"{len(findings)} {noun}"
    counts = ", ".join(f"{count} {severity}" for severity, count in severities.items())
    # The gist of each finding, so a dependent task knows what was found
    # without reading the artifact (clipped by the caller).
    gists = [_gist(f) for f in findings if isinstance(f, dict)]
    tail = ("; " + "; ".join(g for g in gists if g)) if any(gists) else ""
    return f"{len(findings)} {noun} ({counts}){tail}"


def _gist(finding: dict[str, Any]) -> str:
    summary = finding.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        return ""
    location = finding.get("location")
    where = f" {location}" if isinstance(location, str) and location else ""
    severity = finding.get("severity")
    label = f"{severity}{where}" if isinstance(severity, str) else where.strip()
    return f"{label}: {_first_line(summary)}" if label else _first_line(summary)


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- check processes ------------------------------------------------------------------------


class _CheckProtocol(asyncio.SubprocessProtocol):
    """Keeps the tail of the output; tells exit and end of output apart.

    ``Process.wait()`` would also wait for the output pipe to close, which a
    process left behind by the check can delay for as long as it lives.
    """

    def __init__(self) -> None:
        self.tail = bytearray()
        self.exited = asyncio.Event()
        self.closed = asyncio.Event()

    def pipe_data_received(self, fd: int, data: bytes | bytearray) -> None:
        self.tail.extend(data)
        if len(self.tail) > _TAIL_BYTES:
            del self.tail[: len(self.tail) - _TAIL_BYTES]

    def process_exited(self) -> None:
        self.exited.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()

    def tail_text(self) -> str:
        text = bytes(self.tail).decode("utf-8", errors="replace").strip()
        return text[-CHECK_OUTPUT_CHARS:]


def _with_output(output: str) -> str:
    return f": {output}" if output else " with no output"


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
