// The podium dashboard: agents, runs and their task graphs, live events, transcripts
// and costs, all read from the daemon's API with the bearer token. No framework and
// no build step: plain modules served by the daemon itself.

import { Api, AuthError, forgetToken, segment, takeToken } from "./api.js";
import { formatDuration, formatTime, formatTokens, formatUsd } from "./format.js";
import { bindGraph, drawGraph, tickGraph } from "./graph.js";
import { follow } from "./live.js";
import { describeActivity, seedActivity, stepOf, trackActivity } from "./activity.js";
import { renderReview } from "./review.js";
import { showTimeline, takeTimelineEvents, tickTimeline } from "./timeline.js";

const FEED_SIZE = 200;
const CATCH_UP_PAGE = 10000;
const TRANSCRIPT_SIZE = 50;
const REFRESH_DELAY_MS = 80;
const TASK_STATES = ["pending", "running", "complete", "failed", "skipped", "cancelled", "interrupted"];
const TERMINAL_RUN_STATES = new Set(["complete", "failed", "cancelled", "interrupted", "rejected"]);

const state = {
  api: null,
  agents: [],
  runs: [],
  run: null,
  selectedRun: null,
  pinnedRun: false, // the user chose a run: stop following the newest one
  selectedAgent: null,
  feed: [],
};

const $ = (id) => document.getElementById(id);

function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function costCell(value, attributes = {}) {
  const cost = Number(value) || 0;
  return h(
    "td",
    { class: "num cost", "data-cost": String(cost), title: `$${cost}`, ...attributes },
    formatUsd(cost),
  );
}

function setCost(element, value) {
  const cost = Number(value) || 0;
  element.dataset.cost = String(cost);
  element.title = `$${cost}`;
  element.textContent = formatUsd(cost);
}

function ago(ts) {
  if (ts == null) return "";
  return `${formatDuration(Math.max(0, Date.now() / 1000 - ts))} ago`;
}

// --- connection and token ------------------------------------------------------------------

function setConnection(status, transport = "") {
  const node = $("connection");
  node.dataset.state = status;
  node.dataset.transport = transport;
  const labels = {
    starting: "starting…",
    live: transport === "sse" ? "live (stream)" : "live (long poll)",
    reconnecting: "reconnecting…",
    unauthorized: "token refused",
    offline: "daemon not reachable",
  };
  node.textContent = labels[status] ?? status;
}

function showAuthError(reason, detail) {
  const box = $("auth-error");
  box.dataset.reason = reason;
  $("auth-error-title").textContent =
    reason === "missing" ? "Token missing" : "Token invalid";
  $("auth-error-detail").textContent =
    reason === "missing"
      ? "This page has no API token, so it cannot read anything from the daemon."
      : `The daemon refused this page's API token${detail ? `: ${detail}` : "."}`;
  box.hidden = false;
  $("main").hidden = true;
  setConnection("unauthorized");
  $("connection").textContent = reason === "missing" ? "no token" : "token refused";
}

// --- refreshing ----------------------------------------------------------------------------

// Each loader keeps only answers newer than the last it applied: calls can overlap.
function latestOnly(load, apply) {
  let issued = 0;
  let applied = 0;
  return async (...args) => {
    const mine = ++issued;
    const data = await load(...args);
    if (mine < applied) return;
    applied = mine;
    apply(data, ...args);
  };
}

const loadAgents = latestOnly(
  () => state.api.get("/v1/agents"),
  (agents) => {
    state.agents = agents;
    renderAgents();
    renderAgentCosts();
  },
);

const loadRuns = latestOnly(
  () => state.api.get("/v1/runs?limit=50"),
  (runs) => {
    state.runs = runs;
    if (!state.pinnedRun) {
      const active = runs.find((run) => !TERMINAL_RUN_STATES.has(run.state));
      const chosen = active ?? runs[0] ?? null;
      if (chosen && chosen.id !== state.selectedRun) {
        state.selectedRun = chosen.id;
        state.run = chosen;
        renderRun();
      }
    }
    const listed = runs.find((run) => run.id === state.selectedRun);
    if (listed && (!state.run || listed.updated_at >= state.run.updated_at)) {
      state.run = listed;
      renderRun();
    }
    renderRuns();
  },
);

const loadRun = latestOnly(
  (runId) => state.api.get(`/v1/runs/${segment(runId)}`),
  (run, runId) => {
    if (runId !== state.selectedRun) return;
    state.run = run;
    renderRun();
    renderRuns();
  },
);

const loadTranscript = latestOnly(
  async (name) => {
    // Killed (and retired) agents are not in the list and have no info, only requests.
    // The info comes from the list, not GET /v1/agents/{name}: a run task's agent is
    // retired as its task ends, often while the page asks about it (a 404 then).
    const [agents, requests] = await Promise.all([
      state.api.get("/v1/agents"),
      state.api.get(`/v1/requests?agent=${segment(name)}&limit=${TRANSCRIPT_SIZE}`),
    ]);
    const agent = agents.find((a) => a.name === name);
    const info = agent
      ? {
          ...agent,
          lineage: lineage(agent, agents),
          children: agents.filter((a) => a.forked_from === name).map((a) => a.name),
        }
      : null;
    return { info, requests };
  },
  (data, name) => {
    if (name !== state.selectedAgent) return;
    renderTranscript(name, data.info, data.requests);
  },
);

const wanted = new Set();
let refreshTimer = null;

function refresh(...what) {
  for (const item of what) wanted.add(item);
  if (refreshTimer === null) refreshTimer = setTimeout(flushRefresh, REFRESH_DELAY_MS);
}

function flushRefresh() {
  refreshTimer = null;
  const todo = new Set(wanted);
  wanted.clear();
  const jobs = [];
  if (todo.has("agents")) jobs.push(loadAgents());
  if (todo.has("runs")) jobs.push(loadRuns());
  if (todo.has("run") && state.selectedRun) jobs.push(loadRun(state.selectedRun));
  if (todo.has("transcript") && state.selectedAgent) jobs.push(loadTranscript(state.selectedAgent));
  Promise.all(jobs).catch(onFailure);
}

function onFailure(error) {
  if (error instanceof AuthError) {
    forgetToken();
    showAuthError("invalid", error.message);
    stop.abort();
    return;
  }
  console.warn("podium dashboard:", error);
}

// --- live events ---------------------------------------------------------------------------

function onEvents(events) {
  trackActivity(events);
  takeTimelineEvents(events);
  for (const event of events) {
    if (event.agent) {
      refresh("agents");
      if (event.agent === state.selectedAgent) refresh("transcript");
      // A run's cost grows with each of its agents' turns.
      if (state.run && !TERMINAL_RUN_STATES.has(state.run.state)) refresh("run");
    }
    const runId = event.data?.run_id;
    if (runId) {
      refresh("runs");
      if (runId === state.selectedRun) refresh("run");
    }
  }
  addToFeed(events);
}

function describe(event) {
  const activity = describeActivity(event);
  if (activity) return activity;
  const data = event.data ?? {};
  const parts = [];
  if (data.run_id) parts.push(data.run_id);
  if (data.task_id) parts.push(`task ${data.task_id}`);
  if (data.worker) parts.push(data.worker);
  if (data.state) parts.push(data.state);
  if (typeof data.cost_usd === "number" && data.cost_usd > 0) parts.push(formatUsd(data.cost_usd));
  if (data.source && data.source !== "user") parts.push(data.source);
  if (data.forked_from) parts.push(`from ${data.forked_from}`);
  if (data.pid) parts.push(`pid ${data.pid}`);
  if (data.error) parts.push(String(data.error));
  if (data.reason) parts.push(String(data.reason));
  return parts.join(" · ");
}

function addToFeed(events) {
  state.feed.push(...events);
  if (state.feed.length > FEED_SIZE) state.feed.splice(0, state.feed.length - FEED_SIZE);
  const list = $("events");
  const items = events.map((event) =>
    h(
      "li",
      {
        "data-event-id": event.id,
        "data-kind": event.kind,
        "data-agent": event.agent ?? null,
        class: `event kind-${event.kind}`,
      },
      h("time", {}, formatTime(event.ts)),
      h("span", { class: "kind" }, event.kind),
      event.agent ? h("span", { class: "who" }, event.agent) : null,
      h("span", { class: "what" }, describe(event)),
    ),
  );
  list.prepend(...items.reverse());
  while (list.children.length > FEED_SIZE) list.lastElementChild.remove();
  const newest = state.feed.at(-1);
  $("events-count").textContent = newest ? `#${newest.id}` : "";
}

/** Every past event, to learn where the stream stands; only the newest stay in the feed. */
async function catchUp() {
  let after = 0;
  let tail = [];
  for (;;) {
    const page = await state.api.get(`/v1/events?after=${after}&limit=${CATCH_UP_PAGE}`);
    if (page.length) {
      after = page[page.length - 1].id;
      tail = tail.concat(page).slice(-FEED_SIZE);
    }
    if (page.length < CATCH_UP_PAGE) break;
  }
  addToFeed(tail);
  return after;
}

// --- agents --------------------------------------------------------------------------------

function lineage(agent, agents = state.agents) {
  const byName = new Map(agents.map((a) => [a.name, a]));
  const chain = [];
  let cursor = agent.forked_from;
  while (cursor && !chain.includes(cursor)) {
    chain.push(cursor);
    cursor = byName.get(cursor)?.forked_from ?? null;
  }
  return chain;
}

function renderAgents() {
  const body = $("agents").tBodies[0];
  const rows = state.agents.map((agent) => {
    const chain = lineage(agent);
    const row = h(
      "tr",
      {
        "data-agent": agent.name,
        "data-status": agent.status,
        "data-requests": agent.request_count,
        "data-cost": agent.cost_usd,
        class: agent.name === state.selectedAgent ? "selected" : null,
        tabindex: 0,
        onclick: () => selectAgent(agent.name),
        onkeydown: (event) => {
          if (event.key === "Enter") selectAgent(agent.name);
        },
      },
      h("td", { "data-field": "name", class: "name" }, agent.name),
      h(
        "td",
        { "data-field": "status" },
        h("span", { class: `badge status-${agent.status}` }, agent.status),
        agent.status === "busy" && stepOf(agent.name)
          ? h("div", { class: "step muted", "data-field": "step" }, stepOf(agent.name).text)
          : null,
      ),
      h("td", { "data-field": "model", class: "model" }, agent.model ?? "default"),
      h("td", { "data-field": "requests", class: "num" }, String(agent.request_count)),
      costCell(agent.cost_usd, { "data-field": "cost" }),
      h("td", { "data-field": "billing", class: "muted" }, agent.billing ?? "–"),
      h("td", { "data-field": "pid", class: "num" }, agent.pid == null ? "–" : String(agent.pid)),
      h(
        "td",
        {
          "data-field": "lineage",
          "data-forked-from": agent.forked_from ?? "",
          class: "lineage",
        },
        chain.length ? `⤷ ${chain.join(" ← ")}` : "",
      ),
      h("td", { "data-field": "updated", "data-ts": agent.updated_at, class: "muted" }, ago(agent.updated_at)),
    );
    return row;
  });
  body.replaceChildren(...rows);
  $("agents-empty").hidden = state.agents.length > 0;
  $("agents-count").textContent = String(state.agents.length);

  const total = state.agents.reduce((sum, agent) => sum + (Number(agent.cost_usd) || 0), 0);
  const requests = state.agents.reduce((sum, agent) => sum + (agent.request_count || 0), 0);
  $("total-agents").textContent = String(state.agents.length);
  $("total-busy").textContent = String(state.agents.filter((a) => a.status === "busy").length);
  $("total-requests").textContent = String(requests);
  setCost($("total-cost"), total);
}

function bars(table, entries, attribute) {
  const max = Math.max(0, ...entries.map(([, cost]) => cost));
  const rows = entries.map(([key, cost]) =>
    h(
      "tr",
      { [attribute]: key },
      h("td", { class: "key" }, key),
      h(
        "td",
        { class: "bar-cell" },
        h("span", { class: "bar", "data-share": max > 0 ? cost / max : 0 }),
      ),
      costCell(cost),
    ),
  );
  table.tBodies[0].replaceChildren(...rows);
  // Widths set through CSSOM: the page's CSP allows no inline style attributes.
  for (const bar of table.querySelectorAll(".bar")) {
    bar.style.width = `${Math.round(Number(bar.dataset.share) * 100)}%`;
  }
}

function sortedEntries(object) {
  return Object.entries(object ?? {})
    .map(([key, value]) => [key, Number(value) || 0])
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

function renderAgentCosts() {
  const byModel = {};
  let total = 0;
  for (const agent of state.agents) {
    const model = agent.model ?? "default";
    const cost = Number(agent.cost_usd) || 0;
    byModel[model] = (byModel[model] ?? 0) + cost;
    total += cost;
  }
  bars($("agent-cost-by-model"), sortedEntries(byModel), "data-model");
  setCost($("agents-cost-total"), total);
}

// --- runs ----------------------------------------------------------------------------------

function tally(tasks) {
  const counts = {};
  for (const task of tasks ?? []) counts[task.state] = (counts[task.state] ?? 0) + 1;
  return counts;
}

function tallyText(tasks) {
  const counts = tally(tasks);
  return TASK_STATES.filter((s) => counts[s]).map((s) => `${counts[s]} ${s}`).join(", ");
}

function renderRuns() {
  const rows = state.runs.map((run) =>
    h(
      "tr",
      {
        "data-run": run.id,
        "data-state": run.state,
        class: run.id === state.selectedRun ? "selected" : null,
        tabindex: 0,
        onclick: () => selectRun(run.id),
        onkeydown: (event) => {
          if (event.key === "Enter") selectRun(run.id);
        },
      },
      h("td", {}, h("span", { class: `badge run-${run.state}` }, run.state)),
      h("td", { class: "run-id" }, run.id),
      h("td", {}, run.team_name),
      h("td", { class: "muted" }, tallyText(run.tasks) || "–"),
      costCell(run.cost_usd),
      h("td", { class: "muted" }, formatTime(run.created_at)),
    ),
  );
  $("runs").tBodies[0].replaceChildren(...rows);
  $("runs-count").textContent = String(state.runs.length);
  $("runs-empty").hidden = state.runs.length > 0;
  $("runs-scroll").hidden = state.runs.length === 0;
}

function runElapsed(run) {
  const end = run.finished_at ?? (TERMINAL_RUN_STATES.has(run.state) ? run.updated_at : Date.now() / 1000);
  return formatDuration(Math.max(0, end - run.created_at));
}

function renderRun() {
  const run = state.run;
  const detail = $("run-detail");
  if (!run) {
    detail.hidden = true;
    $("run-costs").hidden = true;
    return;
  }
  detail.hidden = false;
  detail.dataset.run = run.id;
  detail.dataset.state = run.state;
  $("run-title").textContent = run.id;
  const badge = $("run-state");
  badge.textContent = run.state;
  badge.className = `badge run-${run.state}`;
  $("run-elapsed").textContent = runElapsed(run);
  $("run-request").textContent = run.request;
  $("run-tally").textContent = tallyText(run.tasks) || "no tasks yet";
  const error = $("run-error");
  error.hidden = !run.error;
  error.textContent = run.error ?? "";
  renderIntegration(run);
  renderReview($("run-review"), run, state.api, () => refresh("run", "runs"));
  drawGraph($("task-graph"), run);

  $("run-costs").hidden = false;
  $("run-costs-id").textContent = run.id;
  bars($("cost-by-worker"), sortedEntries(run.cost_by_worker), "data-worker");
  bars($("cost-by-model"), sortedEntries(run.cost_by_model), "data-model");
  setCost($("run-cost-planning"), run.planning_cost_usd);
  setCost($("run-cost-synthesis"), run.synthesis_cost_usd);
  setCost($("run-cost-total"), run.cost_usd);
  $("run-budget").textContent = run.budget_usd == null ? "none" : formatUsd(run.budget_usd);
}

/** The run's integration branch and each worktree task's merge: merged or conflicted. */
function renderIntegration(run) {
  const node = $("run-integration");
  const data = run.integration;
  node.hidden = !data;
  if (!data) return;
  const merged = new Set(data.merged ?? []);
  const conflicted = new Map(
    (data.conflicts ?? [])
      .filter((c) => c.resolution === "unresolved")
      .map((c) => [c.tasks?.[0], (c.files ?? []).join(", ")]),
  );
  node.replaceChildren(
    h("span", {}, `branch ${data.branch}`),
    ...(run.tasks ?? [])
      .filter((task) => merged.has(task.task_id) || conflicted.has(task.task_id))
      .map((task) =>
        merged.has(task.task_id)
          ? h("span", { "data-merged": task.task_id }, ` · ${task.task_id} merged`)
          : h(
              "span",
              { "data-conflicted": task.task_id, class: "error-text" },
              ` · ${task.task_id} conflicted${conflicted.get(task.task_id) ? ` (${conflicted.get(task.task_id)})` : ""}`,
            ),
      ),
  );
}

function renderLegend() {
  $("legend").replaceChildren(
    ...TASK_STATES.map((name) =>
      h("li", { "data-legend": name }, h("span", { class: `swatch state-${name}` }), name),
    ),
  );
}

function selectRun(runId) {
  state.selectedRun = runId;
  state.pinnedRun = true;
  state.run = state.runs.find((run) => run.id === runId) ?? null;
  renderRun();
  renderRuns();
  refresh("run");
}

// --- transcript ----------------------------------------------------------------------------

/** Show `name`'s transcript and timeline; `taskId` when it was picked as a run's task. */
function selectAgent(name, taskId = null) {
  if (!name) return;
  state.selectedAgent = name;
  $("transcript-panel").dataset.agent = name;
  $("transcript-agent").textContent = `— ${name}`;
  renderAgents();
  refresh("transcript");
  // An agent row of a task's agent is that task too.
  const task = taskId ?? state.run?.tasks?.find((t) => t.agent === name)?.task_id ?? null;
  showTimeline(state.api, name, task).catch(onFailure);
}

function block(label, text, cls) {
  return h("div", { class: `turn-part ${cls}` }, h("span", { class: "label" }, label), h("pre", {}, text));
}

function renderTranscript(name, info, requests) {
  const facts = $("agent-info");
  if (info) {
    const lineageText = (info.lineage ?? []).length ? info.lineage.join(" ← ") : "none";
    const parts = [
      h("span", { "data-field": "status" }, `status ${info.status}`),
      h("span", { "data-field": "model" }, `model ${info.model ?? "default"}`),
      h("span", { "data-field": "requests" }, `${info.request_count} requests`),
      h("span", { "data-field": "cost", "data-cost": info.cost_usd }, formatUsd(info.cost_usd)),
      h("span", { "data-field": "lineage" }, `forked from ${lineageText}`),
    ];
    // Only when there are forks: replaceChildren would print a null as "null".
    if ((info.children ?? []).length) {
      parts.push(h("span", { "data-field": "children" }, `forks ${info.children.join(", ")}`));
    }
    facts.replaceChildren(...parts);
  } else {
    facts.replaceChildren(
      h("span", { class: "muted" }, "killed, or retired at the end of its task: its requests remain"),
    );
  }
  const list = $("transcript");
  const items = requests
    .slice()
    .reverse()
    .map((request) => {
      const seconds =
        request.started_at != null && request.completed_at != null
          ? formatDuration(request.completed_at - request.started_at)
          : "";
      const meta = request.meta ?? {};
      return h(
        "li",
        { "data-request": request.id, "data-state": request.status, class: `turn state-${request.status}` },
        h(
          "div",
          { class: "turn-head" },
          h("span", { class: `badge req-${request.status}` }, request.status),
          h("span", { class: "req-id" }, request.id),
          request.source !== "user" ? h("span", { class: "muted" }, request.source) : null,
          meta.task_id ? h("span", { class: "muted" }, `task ${meta.task_id}`) : null,
          Array.isArray(meta.stalls) && meta.stalls.length
            ? h("span", { class: "badge stalled", title: stallTitle(meta.stalls) }, "stalled")
            : null,
          h("span", { class: "muted" }, formatTime(request.submitted_at)),
          seconds ? h("span", { class: "muted" }, seconds) : null,
          h("span", { class: "muted" }, formatTokens(request.usage)),
          h("span", { class: "cost", "data-cost": request.cost_usd }, formatUsd(request.cost_usd)),
        ),
        block("prompt", request.prompt ?? "", "prompt"),
        request.result != null && request.result !== ""
          ? block("answer", request.result, "answer")
          : null,
        request.error ? block("error", request.error, "error") : null,
      );
    });
  list.replaceChildren(...items);
  if (!items.length) list.replaceChildren(h("li", { class: "empty" }, "No requests yet."));
}

// What the stall watch saw: seconds without progress, the last stream event, what was done.
function stallTitle(stalls) {
  return stalls
    .map((s) => `no progress for ${s.stalled_s} s after ${s.last_event ?? "nothing"}: ${s.action}`)
    .join("\n");
}

// --- start ---------------------------------------------------------------------------------

const stop = new AbortController();

function tick() {
  const now = Date.now() / 1000;
  tickGraph($("task-graph"), now);
  tickTimeline(now);
  if (state.run) $("run-elapsed").textContent = runElapsed(state.run);
  for (const cell of document.querySelectorAll("td[data-field='updated']")) {
    cell.textContent = ago(Number(cell.dataset.ts));
  }
}

async function main() {
  renderLegend();
  bindGraph($("task-graph"), (agent, taskId) => selectAgent(agent, taskId));
  const token = takeToken();
  if (!token) {
    showAuthError("missing");
    return;
  }
  state.api = new Api(token);
  try {
    // The first call checks the token: nothing else is asked while it is refused.
    await loadAgents();
  } catch (error) {
    if (error instanceof AuthError) {
      forgetToken();
      showAuthError("invalid", error.message);
    } else {
      setConnection("offline");
      $("daemon").textContent = String(error.message ?? error);
    }
    return;
  }
  $("main").hidden = false;
  const [health, after] = await Promise.all([
    state.api.get("/v1/health").catch(() => null),
    catchUp(),
    loadRuns().catch(onFailure),
    state.api.get("/v1/activity").then(seedActivity).catch(() => null),
  ]);
  if (health) $("daemon").textContent = `v${health.version} · pid ${health.pid}`;
  // Whatever changed while the page loaded is in the events after `after`.
  refresh("agents", "runs");
  setInterval(tick, 1000);
  const transport = new URLSearchParams(window.location.search).get("transport") ?? "auto";
  follow(state.api, after, {
    onEvents,
    onStatus: (status, mode) => {
      if (status === "unauthorized") {
        forgetToken();
        showAuthError("invalid");
        return;
      }
      setConnection(status, mode);
    },
    signal: stop.signal,
    transport,
  });
}

main().catch(onFailure);
