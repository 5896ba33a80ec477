"""Profiles: markdown + YAML frontmatter. Every bad input is an error naming the file and key."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from podium import UsageError
from podium.orchestration import (
    Profile,
    ProfileError,
    discover_profiles,
    load_profile,
    parse_tools,
)

CODE_REVIEWER = """\
---
name: code-reviewer
description: Expert code review specialist. Use proactively after writing code.
tools: Read, Grep, Glob, Bash
model: sonnet
color: blue
---

You are a senior code reviewer ensuring high standards of code quality.
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def profile_file(tmp_path: Path, frontmatter: str, body: str = "Do the work.\n") -> Path:
    return write(tmp_path / "agent.md", f"---\n{frontmatter}---\n{body}")


def load_error(path: Path) -> ProfileError:
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    return info.value


def assert_names(err: ProfileError, path: Path, key: str) -> None:
    assert str(err).startswith(f"{path}: "), str(err)
    assert repr(key) in str(err), str(err)
    assert err.context["path"] == str(path)


# --- formats that must load unchanged ----------------------------------------


def test_claude_code_subagent_file_loads_as_is(tmp_path: Path) -> None:
    path = write(tmp_path / ".claude" / "agents" / "code-reviewer.md", CODE_REVIEWER)
    profile = load_profile(path)
    assert profile.name == "code-reviewer"
    assert profile.description.startswith("Expert code review")  # type: ignore[union-attr]
    assert profile.allowed_tools == ("Read", "Grep", "Glob", "Bash")
    assert profile.model == "sonnet"
    assert profile.color == "blue"
    assert profile.backend == "claude-code"
    assert profile.path == path.absolute()
    assert profile.system_prompt == (
        "You are a senior code reviewer ensuring high standards of code quality."
    )
    assert profile.agent_options().to_dict() == {
        "tools": ["Read", "Grep", "Glob", "Bash"],
        "allowed_tools": ["Read", "Grep", "Glob", "Bash"],
        "profile": "code-reviewer",
    }


def test_claude_code_camel_case_keys_are_accepted(tmp_path: Path) -> None:
    path = profile_file(
        tmp_path, "permissionMode: plan\ndisallowedTools: Bash, Write\nmaxTurns: 3\n"
    )
    profile = load_profile(path)
    assert profile.permission_mode == "plan"
    assert profile.disallowed_tools == ("Bash", "Write")
    assert profile.max_turns == 3


def test_file_without_frontmatter_is_all_prompt_named_after_the_stem(tmp_path: Path) -> None:
    path = write(tmp_path / "DANCE.md", "You are Marie.\n\n## Role\nSecurity.\n")
    profile = load_profile(path)
    assert profile.name == "dance"
    assert profile.system_prompt == "You are Marie.\n\n## Role\nSecurity."
    assert profile.model is None
    assert profile.agent_options().to_dict() == {"profile": "dance"}


def test_worker_name_is_the_fallback_name(tmp_path: Path) -> None:
    path = write(tmp_path / "DANCE.md", "You are Marie.\n")
    assert load_profile(path, name="marie").name == "marie"
    named = write(tmp_path / "x.md", "---\nname: sec\n---\nBody\n")
    assert load_profile(named, name="marie").name == "sec"


def test_file_stem_is_sanitised(tmp_path: Path) -> None:
    path = write(tmp_path / "My Agent.v2.md", "Prompt\n")
    assert load_profile(path).name == "my-agent-v2"


def test_seed_style_comment_only_frontmatter_is_empty(tmp_path: Path) -> None:
    text = "---\n# .claude/ANGA.md (Anga's prompt)\n---\n\nYou are Anga.\n"
    path = write(tmp_path / "ANGA.md", text)
    profile = load_profile(path)
    assert profile.name == "anga"
    assert profile.system_prompt == "You are Anga."


def test_every_key(tmp_path: Path) -> None:
    write(tmp_path / "schema.json", json.dumps({"type": "object"}))
    path = profile_file(
        tmp_path,
        "name: marie\n"
        "description: Security\n"
        "model: claude-sonnet-4-5\n"
        "allowed_tools: [Read, 'Bash(git diff:*, git log:*)']\n"
        "disallowed_tools: [Write]\n"
        "permission_mode: acceptEdits\n"
        "max_turns: 12\n"
        "budget_usd: 0\n"
        "timeout: 90.5\n"
        "output_schema: schema.json\n"
        "agents:\n"
        "  sec-audit:\n"
        "    description: Deep audit\n"
        "    prompt: Audit one file.\n"
        "    tools: Read, Grep\n"
        "    model: haiku\n"
        "isolation: worktree\n"
        "color: red\n"
        "backend: claude-code\n"
        "fallback_model: haiku\n",
    )
    profile = load_profile(path)
    assert profile.allowed_tools == ("Read", "Bash(git diff:*, git log:*)")
    assert profile.budget_usd == 0
    assert profile.timeout == 90.5
    assert profile.output_schema == {"type": "object"}
    assert profile.isolation == "worktree"
    options = profile.agent_options().to_dict()
    assert options["permission_mode"] == "acceptEdits"
    assert options["allowed_tools"] == ["Read", "Bash(git diff:*, git log:*)"]
    assert options["disallowed_tools"] == ["Write"]
    assert options["max_turns"] == 12
    assert options["fallback_model"] == "haiku"
    assert json.loads(options["agents"]) == {
        "sec-audit": {
            "description": "Deep audit",
            "prompt": "Audit one file.",
            "tools": ["Read", "Grep"],
            "model": "haiku",
        }
    }
    json.dumps(options)  # the runtime stores options as JSON


def test_model_inherit_is_allowed(tmp_path: Path) -> None:
    assert load_profile(profile_file(tmp_path, "model: inherit\n")).model == "inherit"


def test_inline_output_schema(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "output_schema:\n  type: object\n  required: [status]\n")
    assert load_profile(path).output_schema == {"type": "object", "required": ["status"]}


def test_profile_is_frozen_and_keyword_only(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path / "a.md", "Prompt\n"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        profile.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Profile("a", tmp_path, "prompt")  # type: ignore[call-arg]


def test_parse_tools_keeps_commas_inside_rules() -> None:
    assert parse_tools("Read, Bash(npm run test:*, npm run lint)") == (
        "Read",
        "Bash(npm run test:*, npm run lint)",
    )
    assert parse_tools(["Read", " Grep "]) == ("Read", "Grep")


# --- bad input: each names the file and the key -------------------------------


def test_error_is_a_usage_error_with_its_own_code(tmp_path: Path) -> None:
    err = load_error(profile_file(tmp_path, "max_turns: ten\n"))
    assert isinstance(err, UsageError)
    assert err.code == "profile_error"
    assert err.to_dict()["context"]["key"] == "max_turns"


def test_max_turns_not_an_integer(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "max_turns: ten\n")
    err = load_error(path)
    assert str(err) == f"{path}: key 'max_turns' must be a positive integer, got 'ten'"


@pytest.mark.parametrize("value", ["0", "-3", "true", "2.5", "'5'"])
def test_max_turns_must_be_a_positive_integer(tmp_path: Path, value: str) -> None:
    path = profile_file(tmp_path, f"max_turns: {value}\n")
    err = load_error(path)
    assert_names(err, path, "max_turns")
    assert "positive integer" in str(err)


def test_negative_budget(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "budget_usd: -1\n")
    assert_names(load_error(path), path, "budget_usd")


@pytest.mark.parametrize("value", ["0", "-5", "soon", ".nan", ".inf"])
def test_timeout_must_be_positive(tmp_path: Path, value: str) -> None:
    path = profile_file(tmp_path, f"timeout: {value}\n")
    assert_names(load_error(path), path, "timeout")


def test_unknown_key(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "max_turn: 3\n")
    err = load_error(path)
    assert_names(err, path, "max_turn")
    assert "did you mean 'max_turns'" in str(err)


def test_unknown_permission_mode(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "permission_mode: yolo\n")
    err = load_error(path)
    assert_names(err, path, "permission_mode")
    assert "bypassPermissions" in str(err)


def test_unknown_isolation(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "isolation: vm\n")
    assert_names(load_error(path), path, "isolation")


def test_unknown_model(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "model: gpt-4\n")
    assert_names(load_error(path), path, "model")


def test_fallback_model_cannot_inherit(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "fallback_model: inherit\n")
    assert_names(load_error(path), path, "fallback_model")


def test_name_must_be_a_safe_identifier(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "name: ../../etc\n")
    assert_names(load_error(path), path, "name")


def test_name_of_wrong_type(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "name: [a, b]\n")
    assert_names(load_error(path), path, "name")


def test_tools_of_wrong_type(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "tools: [Read, 3]\n")
    assert_names(load_error(path), path, "tools")


@pytest.mark.parametrize("value", ["[]", "''", "'Read,,Grep'"])
def test_tools_must_not_be_empty(tmp_path: Path, value: str) -> None:
    path = profile_file(tmp_path, f"tools: {value}\n")
    assert_names(load_error(path), path, "tools")


def test_tools_and_allowed_tools_together(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "tools: Read\nallowed_tools: [Grep]\n")
    err = load_error(path)
    assert_names(err, path, "tools")
    assert "'allowed_tools'" in str(err)


def test_camel_and_snake_spelling_together(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "permission_mode: plan\npermissionMode: plan\n")
    assert_names(load_error(path), path, "permission_mode")


def test_disallowed_tools_of_wrong_type(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "disallowed_tools: {Bash: true}\n")
    assert_names(load_error(path), path, "disallowed_tools")


def test_backend_must_be_a_name(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "backend: 'rm -rf'\n")
    assert_names(load_error(path), path, "backend")


def test_color_must_be_a_string(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "color: 7\n")
    assert_names(load_error(path), path, "color")


def test_output_schema_without_type(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "output_schema:\n  properties: {}\n")
    assert_names(load_error(path), path, "output_schema")


def test_output_schema_of_wrong_type(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "output_schema: [object]\n")
    assert_names(load_error(path), path, "output_schema")


def test_output_schema_file_missing(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "output_schema: schemas/findings.json\n")
    err = load_error(path)
    assert_names(err, path, "output_schema")
    assert "schemas/findings.json does not exist" in str(err)


def test_output_schema_file_not_json_suffix(tmp_path: Path) -> None:
    write(tmp_path / "schema.yaml", "type: object\n")
    path = profile_file(tmp_path, "output_schema: schema.yaml\n")
    assert_names(load_error(path), path, "output_schema")


def test_output_schema_file_invalid_json(tmp_path: Path) -> None:
    write(tmp_path / "schema.json", '{\n  "type": "object",\n}\n')
    path = profile_file(tmp_path, "output_schema: schema.json\n")
    err = load_error(path)
    assert_names(err, path, "output_schema")
    assert "schema.json:3: invalid JSON" in str(err)


def test_output_schema_file_without_type(tmp_path: Path) -> None:
    write(tmp_path / "schema.json", '{"properties": {}}')
    path = profile_file(tmp_path, "output_schema: schema.json\n")
    assert_names(load_error(path), path, "output_schema")


def test_agents_not_a_mapping(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "agents: [a, b]\n")
    assert_names(load_error(path), path, "agents")


def test_sub_agent_missing_prompt(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "agents:\n  audit:\n    description: Audits\n")
    err = load_error(path)
    assert_names(err, path, "agents.audit.prompt")
    assert "is required" in str(err)


def test_sub_agent_unknown_key(tmp_path: Path) -> None:
    path = profile_file(
        tmp_path, "agents:\n  audit:\n    description: d\n    prompt: p\n    colour: red\n"
    )
    assert_names(load_error(path), path, "agents.audit.colour")


def test_sub_agent_bad_model(tmp_path: Path) -> None:
    path = profile_file(
        tmp_path, "agents:\n  audit:\n    description: d\n    prompt: p\n    model: gpt\n"
    )
    assert_names(load_error(path), path, "agents.audit.model")


def test_sub_agent_bad_name(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "agents:\n  Bad Name:\n    description: d\n    prompt: p\n")
    assert_names(load_error(path), path, "agents.Bad Name")


def test_sub_agent_empty_prompt(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "agents:\n  audit:\n    description: d\n    prompt: '  '\n")
    assert_names(load_error(path), path, "agents.audit.prompt")


# --- bad input: the file as a whole -------------------------------------------


def test_broken_yaml_names_file_and_line(tmp_path: Path) -> None:
    # File line 4 ("  bad: 1") is the third line of the frontmatter: the
    # message counts lines in the file, which is what an editor shows.
    path = profile_file(tmp_path, "name: x\ndescription: ok\n  bad: 1\n")
    err = load_error(path)
    assert str(err).startswith(f"{path}:4: invalid YAML frontmatter: "), str(err)
    assert err.context["path"] == str(path)


def test_unclosed_flow_sequence(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "name: x\ndescription: [unclosed\nmodel: sonnet\n")
    assert str(load_error(path)).startswith(f"{path}:4: invalid YAML frontmatter")


def test_non_mapping_frontmatter(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "- a\n- b\n")
    err = load_error(path)
    assert str(err) == f"{path}: frontmatter must be a mapping of keys to values, got a list"


def test_scalar_frontmatter(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "just text\n")
    assert "must be a mapping" in str(load_error(path))


def test_non_string_key(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "1: one\n")
    assert str(load_error(path)) == f"{path}: frontmatter key 1 must be a string"


def test_unclosed_frontmatter(tmp_path: Path) -> None:
    path = write(tmp_path / "a.md", "---\nname: x\n\nPrompt without a closing line\n")
    err = load_error(path)
    assert str(err).startswith(f"{path}: ")
    assert "never closed" in str(err)


@pytest.mark.parametrize("body", ["", "\n", "   \n\t\n"])
def test_empty_system_prompt(tmp_path: Path, body: str) -> None:
    path = profile_file(tmp_path, "name: x\n", body)
    err = load_error(path)
    assert str(err) == f"{path}: the system prompt (the text after the frontmatter) is empty"


def test_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path / "a.md", "")
    assert "system prompt" in str(load_error(path))


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.md"
    err = load_error(path)
    assert str(err) == f"{path}: profile file does not exist"


def test_directory_is_not_a_profile(tmp_path: Path) -> None:
    path = tmp_path / "dir.md"
    path.mkdir()
    assert "is not a file" in str(load_error(path))


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_bytes(b"\xff\xfe\x00bad")
    assert "not UTF-8" in str(load_error(path))


def test_dangerous_yaml_is_rejected_without_running(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = profile_file(tmp_path, 'name: !!python/object/apply:os.system ["echo pwned"]\n')
    err = load_error(path)
    assert str(err).startswith(f"{path}:2: invalid YAML frontmatter")
    assert "python/object/apply" in str(err)
    assert "pwned" not in capfd.readouterr().out


def test_dangerous_yaml_leaves_no_side_effect(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    path = profile_file(tmp_path, f'x: !!python/object/apply:os.system ["touch {marker}"]\n')
    load_error(path)
    path = profile_file(
        tmp_path, f'x: !!python/object/new:subprocess.Popen [["touch", "{marker}"]]\n'
    )
    load_error(path)
    assert not marker.exists()


def test_yaml_alias_bomb_is_rejected(tmp_path: Path) -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 8)]
    path = profile_file(tmp_path, "\n".join(levels) + "\n")
    assert "too large" in str(load_error(path))


def test_recursive_yaml_is_rejected(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "tools: &t [Read, *t]\n")
    assert "refers to itself" in str(load_error(path))


# --- discovery -----------------------------------------------------------------


def test_discover_profiles_from_both_dirs(tmp_path: Path) -> None:
    write(tmp_path / ".claude" / "agents" / "code-reviewer.md", CODE_REVIEWER)
    write(tmp_path / ".podium" / "agents" / "fabien.md", "You write tests.\n")
    write(tmp_path / ".claude" / "agents" / "notes.txt", "not a profile")
    found = discover_profiles(tmp_path)
    assert sorted(found) == ["code-reviewer", "fabien"]
    assert found["fabien"].system_prompt == "You write tests."


def test_podium_dir_wins_a_clash(tmp_path: Path) -> None:
    agents = ("---\nname: code-reviewer\n---\nClaude\n", "---\nname: code-reviewer\n---\nPodium\n")
    write(tmp_path / ".claude" / "agents" / "reviewer.md", agents[0])
    write(tmp_path / ".podium" / "agents" / "cr.md", agents[1])
    assert discover_profiles(tmp_path)["code-reviewer"].system_prompt == "Podium"


def test_clash_inside_one_dir_names_both_files(tmp_path: Path) -> None:
    first = write(tmp_path / ".claude" / "agents" / "a.md", "---\nname: same\n---\nA\n")
    second = write(tmp_path / ".claude" / "agents" / "b.md", "---\nname: same\n---\nB\n")
    with pytest.raises(ProfileError) as info:
        discover_profiles(tmp_path)
    assert str(first) in str(info.value)
    assert str(second) in str(info.value)
    assert "'same'" in str(info.value)


def test_discover_without_dirs_is_empty(tmp_path: Path) -> None:
    assert discover_profiles(tmp_path) == {}


def test_discover_reports_a_broken_profile(tmp_path: Path) -> None:
    bad = write(tmp_path / ".podium" / "agents" / "bad.md", "---\nmax_turns: x\n---\nB\n")
    with pytest.raises(ProfileError) as info:
        discover_profiles(tmp_path)
    assert_names(info.value, bad, "max_turns")


def test_crlf_line_endings_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "win.md"
    path.write_bytes("\ufeff---\r\nname: win\r\nmodel: haiku\r\n---\r\nPrompt\r\n".encode())
    profile = load_profile(path)
    assert (profile.name, profile.model, profile.system_prompt) == ("win", "haiku", "Prompt")


# --- isolation: a mode name or a mapping of settings ------------------------------


def test_isolation_mapping_gives_a_spec(tmp_path: Path) -> None:
    from podium.isolation import IsolationMode, IsolationSpec

    path = profile_file(
        tmp_path,
        "isolation:\n"
        "  mode: sandbox\n"
        "  memory_mb: 1024\n"
        "  pids: 64\n"
        "  allow_hosts: [pypi.org:443]\n",
    )
    assert load_profile(path).isolation == IsolationSpec(
        mode=IsolationMode.SANDBOX, memory_mb=1024, pids=64, allow_hosts=("pypi.org:443",)
    )
    # null: no limit (YAML can say it, TOML cannot).
    path = profile_file(tmp_path, "isolation: {mode: container, memory_mb: null}\n")
    spec = load_profile(path).isolation
    assert isinstance(spec, IsolationSpec)
    assert spec.memory_mb is None


@pytest.mark.parametrize(
    ("frontmatter", "key", "fragment"),
    [
        ("isolation: {mode: container, memory_mb: lots}\n", "isolation.memory_mb", "a number"),
        ("isolation: {mode: sandbox, cpus: 1}\n", "isolation.cpus", "does not apply"),
        ("isolation: {mode: container, gpus: 1}\n", "isolation.gpus", "not a recognised"),
        ("isolation: {image: 'x:1'}\n", "isolation.mode", "is required"),
        ("isolation: [worktree]\n", "isolation", "or a mapping of isolation settings"),
    ],
)
def test_isolation_mapping_errors_name_the_key(
    tmp_path: Path, frontmatter: str, key: str, fragment: str
) -> None:
    path = profile_file(tmp_path, frontmatter)
    err = load_error(path)
    assert_names(err, path, key)
    assert fragment in str(err)
    assert err.context["key"] == key
