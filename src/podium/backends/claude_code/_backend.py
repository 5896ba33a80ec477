"""The claude-code backend: one long-lived Claude Code CLI process per warm agent.

The control protocol (initialize, interrupt, tool-permission callbacks) is the
claude-agent-sdk's; the process itself is ours (see ``_transport``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import claude_agent_sdk
from claude_agent_sdk import (
    AssistantMessage,
    ClaudeAgentOptions,
    ClaudeSDKClient,
    ResultMessage,
    SystemMessage,
    TextBlock,
    UserMessage,
)

from ..._backend_info import BackendName
from ..._errors import BackendError, CLINotFound, NotLoggedIn, PodiumError, ProcessDied
from ..._options import AgentOptions
from ..._records import Usage
from ...isolation._sandbox import is_sandbox_launcher, sandbox_environment
from .._history import read_history, render_conversation, write_history
from .._protocol import (
    PROMPT_SENT,
    AuthStatus,
    ChatMessage,
    EventSink,
    SessionSpec,
    StartMode,
    TurnResult,
)
from ._config import (
    ConfigMode,
    auth_status,
    config_env,
    config_mode,
    config_root,
    not_logged_in_message,
)
from ._interactive import InteractiveLaunch, launch_for
from ._permissions import ask_callback, permission_flags
from ._recover import RecoveredTurn, read_turn
from ._stream import TurnActivity
from ._transport import CLIProcessTransport

__all__ = [
    "ClaudeCodeBackend",
    "ClaudeCodeSession",
    "bundled_cli_path",
    "transcript_has_message",
    "transcript_path",
]

# Variables the CLI sets for its own children; inherited, they make a nested CLI
# believe it is a sub-process of another session.
_INHERITED_MARKERS = ("CLAUDECODE", "CLAUDE_CODE_SESSION_ID", "CLAUDE_CODE_CHILD_SESSION")
_START_TIMEOUT = 60.0


def bundled_cli_path() -> Path:
    """The CLI binary shipped inside the claude-agent-sdk wheel."""
    return Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"


def _project_folder(cwd: Path) -> str:
    # The CLI files transcripts under the cwd with every non-alphanumeric as '-'.
    return re.sub(r"[^A-Za-z0-9]", "-", str(cwd))


def seed_dir(state_dir: Path) -> Path:
    """Where a conversation handed over from another backend waits for the first turn."""
    return state_dir / "inherited"


def transcript_path(config: Path, cwd: Path, session_id: str) -> Path:
    """Where the CLI keeps a session's transcript: under its configuration directory
    ``config`` (see :func:`config_root`), in the folder of the cwd it ran in."""
    return config / "projects" / _project_folder(cwd) / f"{session_id}.jsonl"


def transcript_has_message(transcript: Path) -> bool:
    """True if the CLI can resume from this transcript: it holds a conversation message.

    The CLI creates the file at the start of its first turn and writes the prompt
    only later; a process killed in between leaves a file that ``--resume``
    refuses with "No conversation found".
    """
    try:
        lines = transcript.open("rb")
    except OSError:
        return False
    with lines:
        for line in lines:
            if b'"message"' not in line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut short by a kill
            if (
                isinstance(record, dict)
                and record.get("type") in ("user", "assistant")
                and isinstance(record.get("message"), dict)
            ):
                return True
    return False


def restored_cost(transcript: Path, session_id: str) -> float:
    """The running cost total a resumed CLI process starts from.

    The CLI appends a ``cost-state`` record to the transcript when a process
    ends and, on resume, restores the last one of that session. Reading the same
    record gives the baseline to difference against; a process that was killed
    wrote none, and then both sides fall back to the one before.
    """
    if not transcript.exists():
        return 0.0
    total = 0.0
    with transcript.open("rb") as lines:
        for line in lines:
            if b'"cost-state"' not in line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("type") == "cost-state" and record.get("sessionId") == session_id:
                total = float(record.get("totalCostUSD") or 0.0)
    return total


def clean_environment(base: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in base.items()
        if not any(k.startswith(marker) for marker in _INHERITED_MARKERS)
    }
    env.update(extra)
    if not env.get("CLAUDE_CONFIG_DIR"):
        # Set but empty, the CLI takes its cwd as the configuration: unset is ~/.claude.
        env.pop("CLAUDE_CONFIG_DIR", None)
    return env


def build_argv(cli: str, spec: SessionSpec) -> list[str]:
    """The exact command line; an argv list, never a shell string."""
    argv = [
        cli,
        "--input-format",
        "stream-json",
        "--output-format",
        "stream-json",
        "--verbose",
        # Each user line is echoed when the CLI takes it into the conversation: how
        # a message written mid-turn (podium tell) is known to have been delivered.
        "--replay-user-messages",
    ]
    if spec.mode is StartMode.NEW:
        argv += ["--session-id", spec.session_id]
    elif spec.mode is StartMode.RESUME:
        argv += ["--resume", spec.session_id]
    else:
        if spec.parent_session_id is None:
            raise BackendError("fork needs the parent's session id", agent=spec.agent)
        argv += [
            "--resume",
            spec.parent_session_id,
            "--fork-session",
            "--session-id",
            spec.session_id,
        ]
    if spec.model:
        argv += ["--model", spec.model]
    if spec.system_prompt:
        argv += ["--system-prompt", spec.system_prompt]
    opts = spec.options
    if opts.append_system_prompt:
        argv += ["--append-system-prompt", opts.append_system_prompt]
    argv += permission_flags(opts.permission_mode)
    if opts.tools is not None:
        # --tools restricts what exists; --allowedTools only pre-approves. Least
        # privilege needs the former.
        argv += ["--tools", ",".join(opts.tools)]
    if opts.agents:
        argv += ["--agents", opts.agents]
    if opts.allowed_tools:
        argv += ["--allowedTools", ",".join(opts.allowed_tools)]
    if opts.disallowed_tools:
        argv += ["--disallowedTools", ",".join(opts.disallowed_tools)]
    if opts.max_turns:
        argv += ["--max-turns", str(opts.max_turns)]
    if opts.max_budget_usd is not None:
        # Checked by the CLI after every API call, so a runaway turn stops itself.
        argv += ["--max-budget-usd", f"{opts.max_budget_usd:.6f}"]
    fallback = opts.fallback_model or _first_own_fallback(opts)
    if fallback:
        argv += ["--fallback-model", fallback]
    if opts.setting_sources is not None:
        argv += ["--setting-sources", ",".join(opts.setting_sources)]
    if opts.mcp_config:
        argv += ["--mcp-config", opts.mcp_config]
    if opts.settings:
        argv += ["--settings", opts.settings]
    return argv


def _first_own_fallback(opts: AgentOptions) -> str | None:
    # The CLI takes one fallback model of its own; entries naming another backend
    # are for the API backends, which can switch endpoints mid-turn.
    for entry in opts.fallback:
        if entry.backend in (None, BackendName.CLAUDE_CODE):
            return entry.model
    return None


class ClaudeCodeSession:
    """One CLI process in stream-json mode, driven through the SDK's control protocol."""

    # Sends PROMPT_SENT once the prompt is written to the CLI (see the protocol).
    announces_prompt_sent = True

    def __init__(self, spec: SessionSpec, cli: str, env: dict[str, str]) -> None:
        self.spec = spec
        self._cli = cli
        self._env = env
        self._transport: CLIProcessTransport | None = None
        self._client: ClaudeSDKClient | None = None
        self._cost_baseline = 0.0
        self._model: str | None = None
        # Where the session's transcript is (fixed for the session: its config
        # directory, cwd and id do not change), found on the first look.
        self._transcript: Path | None = None
        self._transcript_size = -1
        self._transcript_grew_at = 0.0
        # Messages written into the running turn (steer) that the CLI has not yet
        # echoed as taken; None while no turn is being read.
        self._steering: list[str] | None = None
        self._prompt_echo: str | None = None
        # A conversation carried over from another backend is written before the
        # session starts; once a turn has found none (or used it), none is looked for.
        self._seed_pending = True

    @property
    def pid(self) -> int | None:
        return self._transport.pid if self._transport is not None else None

    @property
    def alive(self) -> bool:
        return self._transport is not None and self._transport.returncode is None

    @property
    def stderr_tail(self) -> str:
        return self._transport.stderr_tail if self._transport is not None else ""

    @property
    def resolved_model(self) -> str | None:
        return self._model

    def progress(self) -> tuple[float, str | None]:
        """The last sign of life (monotonic seconds): a line on the stream or growth of
        the transcript (a long tool call writes neither); and the last stream event."""
        transport = self._transport
        if transport is None:
            return time.monotonic(), None
        if self._transcript is None:
            spec = self.spec
            root = config_root(spec.options, spec.state_dir, {**self._env, **spec.env})
            self._transcript = transcript_path(root, spec.cwd, spec.session_id)
        try:
            size = self._transcript.stat().st_size
        except OSError:
            size = -1
        if size != self._transcript_size:
            self._transcript_size = size
            self._transcript_grew_at = time.monotonic()
        return max(transport.last_line_at, self._transcript_grew_at), transport.last_event

    async def start(self) -> None:
        self._set_aside_empty_transcript()
        spec = self.spec
        seen = {**self._env, **spec.env}
        home = config_root(spec.options, spec.state_dir, seen)
        home.mkdir(parents=True, exist_ok=True)
        own = {**spec.env, **config_env(spec.options, spec.state_dir, seen), "PWD": str(spec.cwd)}
        env = clean_environment(self._env, own)
        if is_sandbox_launcher(spec.launcher):
            # The daemon's environment may hold any secret of its user: a sandbox
            # gets an allow-list of it and the agent's own variables only.
            env = sandbox_environment(env, own)
        self._transport = CLIProcessTransport(
            [*spec.launcher, *build_argv(self._cli, spec)],
            cwd=str(spec.cwd),
            env=env,
            label=spec.agent,
        )
        self._client = ClaudeSDKClient(
            ClaudeAgentOptions(can_use_tool=ask_callback(spec)), transport=self._transport
        )
        self._cost_baseline = restored_cost(
            transcript_path(home, spec.cwd, spec.session_id), spec.session_id
        )
        try:
            await asyncio.wait_for(self._client.connect(), _START_TIMEOUT)
        except PodiumError:
            await self.close()
            raise
        except Exception as exc:
            tail = self._transport.stderr_tail if self._transport else ""
            await self.close()
            raise BackendError(
                f"Claude Code failed to start for {spec.agent!r}: {tail or exc}",
                agent=spec.agent,
            ) from exc

    def _set_aside_empty_transcript(self) -> None:
        """A process that died in its first turn before writing the prompt leaves a
        transcript without a message: the CLI neither resumes it ("No conversation
        found") nor starts a new session under its id ("already in use"). It holds
        nothing to keep, so the session starts anew under the same id."""
        spec = self.spec
        root = config_root(spec.options, spec.state_dir, {**self._env, **spec.env})
        transcript = transcript_path(root, spec.cwd, spec.session_id)
        if not transcript.exists() or transcript_has_message(transcript):
            return
        # Kept beside it (not as .jsonl, which the CLI would list as a session).
        transcript.replace(transcript.with_name(transcript.name + ".no-message"))
        if spec.mode is StartMode.RESUME:
            self.spec = dataclasses.replace(spec, mode=StartMode.NEW)

    async def run_turn(self, prompt: str, on_event: EventSink) -> TurnResult:
        client, transport = self._client, self._transport
        if client is None or transport is None or not self.alive:
            raise ProcessDied(f"no live process for {self.spec.agent!r}", agent=self.spec.agent)
        texts: list[str] = []
        # One turn with tool use is several API calls; the stream carries each
        # call's message id and usage (one message per content block).
        calls: dict[str, Usage] = {}
        # The CLI cannot be handed earlier messages, so a conversation carried over
        # from another backend opens the first prompt; the transcript keeps it after.
        seed = read_history(seed_dir(self.spec.state_dir)) if self._seed_pending else []
        self._seed_pending = bool(seed)
        if seed:
            prompt = f"{render_conversation(seed)}\n\n{prompt}"
        activity = TurnActivity(on_event)
        # Results of CLI turns that steering messages extended this one with.
        carried = Usage()
        self._steering = []
        self._prompt_echo = prompt
        try:
            await client.query(prompt)
            sent_at = time.monotonic()
            await on_event(PROMPT_SENT, {})
            async for message in client.receive_messages():
                if isinstance(message, AssistantMessage):
                    self._model = message.model or self._model
                    _count_call(calls, message)
                    texts.extend(b.text for b in message.content if isinstance(b, TextBlock))
                    await activity.on_assistant(message)
                elif isinstance(message, UserMessage):
                    self._taken(message)
                    await activity.on_user(message)
                elif isinstance(message, SystemMessage):
                    await self._on_system(message, on_event)
                elif isinstance(message, ResultMessage):
                    if self._steering:
                        # A message written after the turn's last API call: the CLI
                        # answers it in a turn of its own, which belongs to this one.
                        carried = carried + Usage.from_api(message.usage)
                        texts.clear()
                        continue
                    self._steering = None
                    result = self._turn_result(message, texts, calls)
                    # The turn as the process ran it, prompt written to result line read:
                    # what a request took beyond that is podium's (and the queue's).
                    read_at = transport.result_at or time.monotonic()
                    process_ms = round(max(0.0, read_at - sent_at) * 1000, 2)
                    result = dataclasses.replace(
                        result, meta={**result.meta, "process_ms": process_ms}
                    )
                    if carried != Usage():
                        result = dataclasses.replace(result, usage=result.usage + carried)
                    if seed and not result.is_error:
                        write_history(seed_dir(self.spec.state_dir), None)
                        self._seed_pending = False
                    return result
                await activity.flush_text()
        except PodiumError:
            raise
        except Exception as exc:
            if not self.alive or isinstance(exc.__cause__, ProcessDied):
                await transport.wait_exit()
                raise ProcessDied(
                    f"Claude Code process for {self.spec.agent!r} exited "
                    f"(code {transport.returncode}): {transport.stderr_tail or exc}",
                    agent=self.spec.agent,
                    exit_code=transport.returncode,
                ) from exc
            raise BackendError(f"{self.spec.agent}: {exc}", agent=self.spec.agent) from exc
        finally:
            self._steering = None
        # The stream ended without a result: the process is gone.
        await transport.wait_exit()
        raise ProcessDied(
            f"Claude Code process for {self.spec.agent!r} exited (code "
            f"{transport.returncode}) before answering: {transport.stderr_tail or 'no stderr'}",
            agent=self.spec.agent,
            exit_code=transport.returncode,
        )

    async def steer(self, text: str) -> bool:
        """Write ``text`` into the running turn as a user message: the CLI hands it to
        the model in the turn's next API call. False when no turn is running (the
        caller then asks as usual); the turn reports one result either way."""
        client = self._client
        if self._steering is None or client is None or not self.alive:
            return False
        self._steering.append(text)
        try:
            await client.query(text)
        except Exception as exc:
            with contextlib.suppress(ValueError):
                self._steering.remove(text)
            raise ProcessDied(
                f"could not write to the Claude Code process of {self.spec.agent!r}: {exc}",
                agent=self.spec.agent,
            ) from exc
        return True

    def _taken(self, message: UserMessage) -> None:
        # The CLI's echo of a user line (--replay-user-messages) once it is in the
        # conversation: that steering message is delivered.
        content = message.content
        if isinstance(content, str):
            text = content
        else:
            text = "".join(b.text for b in content if isinstance(b, TextBlock))
        if text == self._prompt_echo:
            # The echo of the turn's own prompt (a steering message may read the same).
            self._prompt_echo = None
            return
        if not self._steering:
            return
        with contextlib.suppress(ValueError):
            self._steering.remove(text)

    async def _on_system(self, message: SystemMessage, on_event: EventSink) -> None:
        data = message.data
        if message.subtype == "init":
            model = data.get("model")
            if isinstance(model, str):
                self._model = model
        elif message.subtype == "api_retry":
            await on_event(
                "api_retry",
                {k: v for k, v in data.items() if k not in ("type", "subtype", "uuid")},
            )
        elif message.subtype == "model_fallback":
            await on_event("model_fallback", dict(data))

    def _turn_result(
        self, message: ResultMessage, texts: list[str], calls: dict[str, Usage]
    ) -> TurnResult:
        # total_cost_usd is cumulative for the process: a turn costs the difference.
        total = float(message.total_cost_usd or 0.0)
        cost = max(0.0, total - self._cost_baseline)
        self._cost_baseline = max(self._cost_baseline, total)
        interrupted = message.subtype == "error_during_execution" or (
            message.terminal_reason or ""
        ).startswith("aborted")
        text = message.result if message.result is not None else "\n".join(texts)
        error: str | None = None
        if message.is_error or message.subtype != "success":
            # "success" with is_error is how the CLI reports most failures: noise.
            parts = [] if message.subtype == "success" else [f"subtype={message.subtype}"]
            if message.api_error_status is not None:
                parts.append(f"api_error_status={message.api_error_status}")
            if message.errors:
                parts.append("; ".join(str(e) for e in message.errors))
            if text:
                parts.append(text[:2000])
            error = "Claude Code reported an error: " + ", ".join(parts)
            if "Not logged in" in text:
                # The login went away since spawn (logged out, expired): say how to fix it.
                spec = self.spec
                seen = {**self._env, **spec.env}
                error = not_logged_in_message(
                    spec.agent,
                    config_mode(spec.options),
                    config_root(spec.options, spec.state_dir, seen),
                )
        return TurnResult(
            text=text or "",
            is_error=bool(message.is_error) or message.subtype != "success",
            error=error,
            usage=Usage.from_api(message.usage),
            cost_usd=cost,
            model=self._model,
            session_id=message.session_id,
            num_turns=message.num_turns,
            duration_ms=message.duration_ms,
            subtype=message.subtype,
            api_error_status=message.api_error_status,
            interrupted=interrupted,
            meta=_calls_meta(calls),
        )

    async def interrupt(self) -> None:
        if self._client is not None and self.alive:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._client.interrupt(), 10.0)

    async def wait_exit(self) -> int:
        if self._transport is None:
            return -1
        return await self._transport.wait_exit()

    async def close(self) -> None:
        client, transport = self._client, self._transport
        self._client = None
        if transport is not None:
            await transport.close()
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), 5.0)


def _count_call(calls: dict[str, Usage], message: AssistantMessage) -> None:
    # "<synthetic>" messages are the CLI's own notices (an API error), not calls.
    if message.message_id and message.model != "<synthetic>" and message.message_id not in calls:
        calls[message.message_id] = Usage.from_api(message.usage)


def _calls_meta(calls: dict[str, Usage]) -> dict[str, Any]:
    """``api_calls`` and ``api_usage`` (their usage summed) for the request's record: the
    CLI's result counts one turn, and reports no usage when the turn ended in an error."""
    if not calls:
        return {}
    total = Usage()
    for usage in calls.values():
        total = total + usage
    return {"api_calls": len(calls), "api_usage": total.to_dict()}


class ClaudeCodeBackend:
    """Runs agents as Claude Code CLI processes (the binary bundled with the SDK by default)."""

    name = BackendName.CLAUDE_CODE.value

    def __init__(self, cli_path: str | Path | None = None, env: dict[str, str] | None = None):
        self.cli_path = Path(cli_path) if cli_path else _default_cli()
        self._env = dict(os.environ) if env is None else dict(env)

    def check(self) -> None:
        path = self.cli_path
        if not path.exists() or not os.access(path, os.X_OK):
            raise CLINotFound(
                f"Claude Code CLI not found or not executable at {path}; "
                "reinstall claude-agent-sdk or set PODIUM_CLAUDE_CLI",
                path=str(path),
            )

    def session(self, spec: SessionSpec) -> ClaudeCodeSession:
        self.check()
        return ClaudeCodeSession(spec, str(self.cli_path), self._env)

    def shared_config(self, options: AgentOptions, env: Mapping[str, str]) -> Path | None:
        """The user's own (or a prepared) configuration: outside any state directory."""
        if config_mode(options) is ConfigMode.ISOLATED:
            return None
        return config_root(options, Path("/nonexistent"), {**self._env, **env})

    async def check_auth(self, spec: SessionSpec) -> AuthStatus:
        """``claude auth status`` run as the agent's process would be (its config dir and
        environment): about 0.2 s, and it never reads a credential into podium.
        :class:`NotLoggedIn` when nobody is, naming the ways to log in."""
        self.check()
        seen = {**self._env, **spec.env}
        with tempfile.TemporaryDirectory(prefix="podium-auth-") as scratch:
            # An isolated configuration does not exist before the agent's first start
            # (and holds no login then): ask in an empty one, leave nothing behind.
            isolated = config_mode(spec.options) is ConfigMode.ISOLATED
            state_dir = Path(scratch) if isolated else spec.state_dir
            own = {**spec.env, **config_env(spec.options, state_dir, seen)}
            status = await auth_status(
                str(self.cli_path), clean_environment(self._env, own), cwd=spec.cwd
            )
        if not status.ok:
            root = config_root(spec.options, spec.state_dir, seen)
            raise NotLoggedIn(
                not_logged_in_message(spec.agent, config_mode(spec.options), root),
                agent=spec.agent,
                config_dir=str(root),
            )
        return status

    def interactive(self, spec: SessionSpec) -> InteractiveLaunch:
        """``podium attach``: the TUI resuming ``spec``'s session, its dialogs answered."""
        self.check()
        headless = build_argv(str(self.cli_path), spec)
        return launch_for(str(self.cli_path), spec, self._env, headless)

    def config_root(self, spec: SessionSpec) -> Path:
        """The configuration directory ``spec``'s CLI runs with (see ``_config``)."""
        return config_root(spec.options, spec.state_dir, {**self._env, **spec.env})

    def session_exists(self, spec: SessionSpec) -> bool:
        transcript = transcript_path(self.config_root(spec), spec.cwd, spec.session_id)
        return transcript_has_message(transcript)

    def recover_turn(self, spec: SessionSpec, *, prompt: str, since: float) -> RecoveredTurn | None:
        """What the transcript shows of the turn ``prompt`` started at or after ``since``:
        for a turn whose process outlived the daemon that was waiting for it."""
        transcript = transcript_path(self.config_root(spec), spec.cwd, spec.session_id)
        return read_turn(transcript, prompt, since=since)

    def export_session(self, spec: SessionSpec) -> bytes | None:
        """The session's transcript (whole lines only), to carry it to another host."""
        path = transcript_path(self.config_root(spec), spec.cwd, spec.session_id)
        if not path.exists():
            return None
        data = path.read_bytes()
        return data[: data.rfind(b"\n") + 1]

    def import_session(self, spec: SessionSpec, data: bytes | None, *, session_id: str) -> None:
        """Put a transcript where this host's CLI resumes ``session_id`` from: under the
        project folder of ``spec.cwd`` in the agent's config dir. ``None`` removes it
        (what is stored elsewhere is newer than any local leftover)."""
        path = transcript_path(self.config_root(spec), spec.cwd, session_id)
        if data is None:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)

    def export_conversation(self, spec: SessionSpec) -> list[ChatMessage] | None:
        # The transcript mixes tool calls and internal records into the dialogue;
        # the runtime rebuilds the visible part from its own request records.
        return None

    def import_conversation(self, spec: SessionSpec, messages: Sequence[ChatMessage]) -> None:
        if messages:
            write_history(seed_dir(spec.state_dir), list(messages))

    async def prepare_fork(
        self,
        *,
        parent: SessionSpec,
        child_session_id: str,
        child_state_dir: Path,
        child_cwd: Path,
    ) -> bool:
        source = transcript_path(self.config_root(parent), parent.cwd, parent.session_id)
        if not source.exists():
            return False
        # The child runs with its parent's configuration setting.
        child_root = config_root(parent.options, child_state_dir, {**self._env, **parent.env})
        target = transcript_path(child_root, child_cwd, parent.session_id)
        if target == source:
            # One configuration and cwd (the user's own): the CLI forks from the
            # parent's transcript itself (--fork-session) and never writes to it.
            return True
        # The CLI resumes only from its own config dir and the cwd's project folder;
        # a copy there is the snapshot the fork starts from, and the parent's file is
        # never touched by the child. Only whole lines are taken: the parent may be
        # appending to it right now.
        data = source.read_bytes()
        data = data[: data.rfind(b"\n") + 1]
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
        return True


def _default_cli() -> Path:
    override = os.environ.get("PODIUM_CLAUDE_CLI")
    if override:
        return Path(override)
    return bundled_cli_path()
