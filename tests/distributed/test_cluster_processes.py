"""Distributed mode as real processes: a coordinator, worker hosts, redis-server.

Only the model is fake (podium's fake Anthropic API); every worker runs the real
Claude Code CLI. Workers get distinct state directories and HOMEs, as on
separate hosts; the lease is 2 s so a lost host's job moves on quickly.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from podium.queue import Job, JobQueue, JobState, StaleAttempt
from podium.testing import FakeAnthropic, RecordedRequest, Rule, Usage
from tests.distributed._cluster import LocalCluster, wait_until
from tests.orchestration._run_helpers import (
    example_team,
    lead_rules,
    plan_json,
    review_result,
    task,
    task_rule,
)

pytestmark = [pytest.mark.cli, pytest.mark.timeout(240)]


def turn_jobs(cluster: LocalCluster) -> list[Job]:
    return [job for job in cluster.jobs() if job.kind == "turn"]


def running_job(cluster: LocalCluster) -> Job:
    def find() -> Job | None:
        running = [job for job in turn_jobs(cluster) if job.state is JobState.RUNNING]
        return running[0] if running else None

    return wait_until(find, timeout=30, what="a turn to be running on a worker")


def cli_pid(cluster: LocalCluster, job_id: str) -> int:
    def find() -> int:
        for event in cluster.events(job_id):
            if event.kind == "progress" and event.data.get("event") == "process_started":
                return int(event.data["pid"])
        return 0

    return wait_until(find, timeout=30, what="the worker to report its CLI's pid")


def test_a_lost_worker_s_turn_completes_on_another_with_attempt_2(
    cluster: LocalCluster, fake: FakeAnthropic
) -> None:
    fake.add_rule(Rule(content="slow question", text="the slow answer", delay=6.0))
    first = cluster.add_worker("w1")
    second = cluster.add_worker("w2")
    cluster.wait_workers(2)
    with cluster.client() as client:
        client.spawn("alpha")
        request = client.ask("alpha", "a slow question")
        job = running_job(cluster)
        holder = first if job.worker == "w1" else second
        other = second if holder is first else first
        holder.kill_host()

        done = client.wait(request.id, timeout=90)
        assert done.result == "the slow answer"

    [ended] = [j for j in turn_jobs(cluster) if j.id == job.id]
    assert ended.state is JobState.COMPLETE
    assert ended.attempt == 2
    assert ended.worker == other.id
    assert ended.result is not None
    assert ended.result["worker"] == other.id
    assert [h["worker"] for h in ended.history] == [holder.id]
    assert "expired" in ended.history[0]["reason"]
    events = cluster.events(job.id)
    assert [e.attempt for e in events if e.kind == "completed"] == [2]
    assert [e.attempt for e in events if e.kind == "claimed"] == [1, 2]

    # The lost host's completion, should it ever arrive, is refused: one result stays.
    async def late(queue: JobQueue) -> Job:
        with pytest.raises(StaleAttempt):
            await queue.complete(job.id, 1, holder.id, {"text": "stale"})
        return await queue.get(job.id)

    after = cluster.queue_call(late)
    assert after.result == ended.result
    assert [e.kind for e in cluster.events(job.id)].count("rejected") == 1
    assert [e.kind for e in cluster.events(job.id)].count("completed") == 1


def test_an_agent_moves_to_another_host_with_its_conversation(
    cluster: LocalCluster, fake: FakeAnthropic
) -> None:
    fake.add_rule(Rule(content="what was", text="it was heron"))
    fake.add_rule(Rule(content="remember the codeword", text="noted: the codeword is heron"))
    fake.add_rule(Rule(content="fork speaking", text="fork here"))
    first = cluster.add_worker("w1")
    cluster.wait_workers(1)
    with cluster.client() as client:
        client.spawn("alpha")
        first_turn = client.ask("alpha", "remember the codeword heron", wait=True)
        assert (first_turn.result or "").startswith("noted")
        first.stop()  # its host goes away cleanly; the transcript is stored centrally
        cluster.add_worker("w2")
        answer = client.ask("alpha", "what was the codeword?", wait=True, wait_timeout=90)
        assert answer.result == "it was heron"
        client.fork("alpha", "beta", model="haiku")
        fork_answer = client.ask("beta", "fork speaking", wait=True, wait_timeout=90)
        assert fork_answer.result == "fork here"

    def texts(request: RecordedRequest) -> str:
        return json.dumps(request.messages)

    [second_turn] = fake.requests_matching(content="what was")
    # The resumed session on the new host sent the first turn's exchange along.
    assert "remember the codeword heron" in texts(second_turn)
    assert "noted: the codeword is heron" in texts(second_turn)
    [fork_turn] = fake.requests_matching(content="fork speaking")
    assert "remember the codeword heron" in texts(fork_turn)
    assert "it was heron" in texts(fork_turn)
    assert "haiku" in str(fork_turn.model)
    owners = {job.payload["agent"]: job.worker for job in turn_jobs(cluster)}
    assert owners["beta"] == "w2"


def test_cancel_reaches_a_turn_on_a_worker_and_kills_its_cli(
    cluster: LocalCluster, fake: FakeAnthropic
) -> None:
    fake.add_rule(Rule(content="endless", text="never seen", delay=60.0))
    cluster.add_worker("w1")
    cluster.wait_workers(1)
    with cluster.client() as client:
        client.spawn("alpha")
        request = client.ask("alpha", "an endless task")
        job = running_job(cluster)
        pid = cli_pid(cluster, job.id)
        pgid = os.getpgid(pid)
        client.cancel(request.id)

        def cancelled() -> bool:
            return client.poll(request.id).state.value == "cancelled"

        wait_until(cancelled, timeout=30, what="the request to end cancelled")

    def gone() -> bool:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_until(gone, timeout=15, what="the CLI's process group to be gone")
    [ended_job] = [j for j in turn_jobs(cluster) if j.id == job.id]
    assert ended_job.state is JobState.CANCELLED


def _run_plan(n: int, *, width: int) -> str:
    """``n`` tasks for marie/anga/fabien; every ``width``-th one depends on the one before."""
    workers = ("marie", "anga", "fabien")
    tasks = []
    for i in range(n):
        deps = (f"t{i - 1}",) if i and i % width == 0 else ()
        tasks.append(task(f"t{i}", workers[i % 3], deps))
    return plan_json(*tasks)


def test_three_worker_hosts_complete_a_30_task_run(
    cluster: LocalCluster, fake: FakeAnthropic, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    team = example_team(project, limits={"budget_usd": 20.0, "max_parallel": 6})
    plan = _run_plan(30, width=5)
    for rule in lead_rules(plan, "All 30 reviewed."):
        fake.add_rule(rule)
    for i in range(30):
        answer = review_result("LOW", f"src/f{i}.py:1", f"finding {i}", "fix it")
        fake.add_rule(
            task_rule(f"t{i}", answer, delay=0.3, usage=Usage(input_tokens=100, output_tokens=50))
        )
    for ident in ("w1", "w2", "w3"):
        cluster.add_worker(ident, concurrency=2)
    cluster.wait_workers(3)
    with cluster.client() as client:
        run = client.submit_run("Review everything", team=team, cwd=project)
        final = client.wait_run(run.id, timeout=200)
        assert final.state.value == "complete", final.error
        info = client.run_info(run.id)

    assert [t["state"] for t in info["tasks"]] == ["complete"] * 30
    task_cost = sum(t["cost_usd"] for t in info["tasks"])
    assert info["cost_usd"] == pytest.approx(
        task_cost + info["planning_cost_usd"] + info["synthesis_cost_usd"]
    )
    jobs = turn_jobs(cluster)
    assert all(job.state is JobState.COMPLETE for job in jobs)
    # Every turn recorded once: 30 tasks, the plan and the synthesis.
    assert len(jobs) == 32
    assert len({job.worker for job in jobs}) >= 2
    lanes = {job.lane for job in jobs}
    assert {"profile:marie", "profile:anga", "profile:fabien"} <= lanes


def test_restarting_redis_mid_run_loses_nothing(
    cluster: LocalCluster, fake: FakeAnthropic, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    team = example_team(project, limits={"budget_usd": 20.0, "max_parallel": 4})
    plan = _run_plan(10, width=3)
    for rule in lead_rules(plan, "All 10 reviewed."):
        fake.add_rule(rule)
    for i in range(10):
        answer = review_result("LOW", f"src/f{i}.py:1", f"finding {i}", "fix it")
        fake.add_rule(task_rule(f"t{i}", answer, delay=1.0))
    cluster.add_worker("w1", concurrency=2)
    cluster.add_worker("w2", concurrency=2)
    cluster.wait_workers(2)
    with cluster.client() as client:
        run = client.submit_run("Review everything", team=team, cwd=project)

        def some_done() -> bool:
            tasks = client.get_run(run.id).tasks
            return sum(t.state.value == "complete" for t in tasks) >= 2

        wait_until(some_done, timeout=90, what="two tasks to complete")
        cluster.redis.restart(signal.SIGTERM, down_for=1.0)
        final = client.wait_run(run.id, timeout=200)
        assert final.state.value == "complete", final.error
        info = client.run_info(run.id)
    assert [t["state"] for t in info["tasks"]] == ["complete"] * 10
    jobs = turn_jobs(cluster)
    assert len(jobs) == 12
    assert all(job.state is JobState.COMPLETE for job in jobs)
    for job in jobs:
        assert [e.kind for e in cluster.events(job.id)].count("completed") == 1
    assert all(w.alive() for w in cluster.workers.values())
