"""A task sent back to its worker because its work did not integrate.

Its merge conflicted with work already integrated, or the integration check
failed after it. A fresh agent of the same worker, its worktree branched from
the integration head, is told why (the files, or the check's output) and redoes
the task there; its answer passes the worker's quality gate like any task's, and
its committed branch is what the merge queue merges next.
"""

from __future__ import annotations

import shlex

from .._records import RequestState
from ._active import ActiveRun
from ._gate import QualityGate
from ._prompts import task_prompt
from ._run_records import RunError
from ._task_runner import _agent_cwd, _commit_work, _dependency_briefs, spawn_task_agent
from ._user_env import check_environment

__all__ = ["integration_prompt", "resolve_by_rerun"]

_DETAIL_CHARS = 3000


def integration_prompt(
    *, task_id: str, kind: str, files: tuple[str, ...], detail: str, branch: str,
    check: tuple[str, ...] | None,
) -> str:  # fmt: skip
    """The head of the prompt: why the task is back. The task's own prompt follows."""
    if kind == "check":
        shown = shlex.join(check) if check else "the integration check"
        why = (
            f"Your earlier work on this task (branch {branch}) merged, but the integration "
            f"check `{shown}` then failed, so the merge was undone. Its output:\n\n"
            f"{detail[-_DETAIL_CHARS:]}"
        )
    else:
        listed = "\n".join(f"- {f}" for f in files)
        why = (
            f"Your earlier work on this task (branch {branch}) conflicts with work other "
            f"tasks already integrated, in these files:\n{listed}\n\n"
            "The merge was aborted."
        )
    return (
        f"PODIUM INTEGRATION {task_id}\n\n{why}\n\n"
        "Your working directory now holds the run's integrated code, which includes the "
        "other tasks' changes. Do the task again on top of it: keep their changes and "
        "make yours fit with them. Leave no conflict markers in any file."
    )


async def resolve_by_rerun(
    run: ActiveRun, task_id: str, kind: str, files: tuple[str, ...], detail: str, head: str
) -> str | None:
    """Redo the task on a fresh agent branched from ``head``; the branch of its work,
    or None when there is nothing to merge. Raises RunError when the re-run failed."""
    assert run.plan is not None
    planned = run.plan.task(task_id)
    worker = run.team.workers[planned.worker]
    old = run.dir.read_result(planned.worker, task_id) or {}
    body = task_prompt(
        run_id=run.record.id,
        task=planned,
        request=run.record.request,
        dependencies=_dependency_briefs(run, task_id),
        output_schema=worker.profile.output_schema,
        task_file=str(run.dir.task_file(planned.worker, task_id)),
        result_file=str(run.dir.result_file(planned.worker, task_id)),
    )
    head_text = integration_prompt(
        task_id=task_id,
        kind=kind,
        files=files,
        detail=detail,
        branch=str(old.get("branch") or "its branch"),
        check=run.team.integration.check,
    )
    # The task's prompt without its first line, so it is told apart from a first try.
    prompt = head_text + "\n\n" + body.split("\n", 1)[-1].lstrip("\n")
    agent = await spawn_task_agent(run, task_id, base=head)
    try:
        request, _ = await run.turns.ask(
            agent,
            prompt,
            timeout=planned.timeout or worker.timeout,
            meta={"run_id": run.record.id, "task_id": task_id, "phase": "integration"},
        )
        run.charge(request, worker=planned.worker, task_id=task_id)
        task = run.record.task(task_id)
        run.save_task(
            task.replace(
                cost_usd=task.cost_usd + request.cost_usd,
                usage=task.usage + request.usage,
                attempts=task.attempts + 1,
                agent=agent,
            )
        )
        if request.state is not RequestState.COMPLETE:
            raise RunError(
                f"request {request.id} {request.state.value}: {request.error or 'no answer'}",
                run_id=run.record.id,
                task_id=task_id,
            )
        gate = QualityGate(output_schema=worker.profile.output_schema, check=worker.check)
        verdict = await gate.check(
            request.result,
            cwd=await _agent_cwd(run, agent),
            environ=check_environment(run.record.user_env),
        )
        if not verdict.ok:
            raise RunError(
                "quality gate: " + "; ".join(verdict.reasons),
                run_id=run.record.id,
                task_id=task_id,
            )
        committed = await _commit_work(run, agent, task_id, planned.worker)
    finally:
        await run.retire(agent)
    branch = committed.get("branch")
    if not branch or committed.get("commit_error"):
        raise RunError(
            f"its work could not be committed: {committed.get('commit_error')}",
            run_id=run.record.id,
            task_id=task_id,
        )
    # The task's own branch, commit and agent stay as they were (its first work, kept
    # on its branch); the re-run's are recorded beside them, and its branch is merged.
    run.dir.write_result(
        planned.worker,
        task_id,
        {
            **old,
            "cost_usd": float(old.get("cost_usd") or 0.0) + request.cost_usd,
            "integrated_branch": branch,
            "integration_rerun": {
                "kind": kind,
                "files": list(files),
                "agent": agent,
                "summary": verdict.summary,
                **committed,
            },
        },
    )
    return str(branch)
