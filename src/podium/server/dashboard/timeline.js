// One agent's activity in order (a run task's agent, or any agent picked in the table):
// its turns, tool calls with their durations, sub-agents, API calls and told messages.
// The past comes from GET /v1/events?agent=; what follows arrives through the page's
// own live stream (app.js hands every batch to takeTimelineEvents), so no second
// connection is opened. Both are merged by event id: an event seen twice shows once.

import { segment } from "./api.js";
import { describeActivity } from "./activity.js";
import { formatDuration, formatTime } from "./format.js";

const PAGE = 1000;
// The newest this many are kept: a long-lived agent has thousands of events.
const TIMELINE_SIZE = 400;
const SHOWN_KINDS = new Set([
  "request_started",
  "request_finished",
  "tool_started",
  "tool_finished",
  "subagent_started",
  "subagent_finished",
  "api_call",
  "api_retry",
  "text",
  "told",
]);

const view = {
  agent: null,
  task: null,
  events: new Map(), // id -> event, of `agent` only
  loaded: false,
};

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

/** Show `agent`'s timeline (`task` is the run task it works on, if it is one). */
export async function showTimeline(api, agent, task = null) {
  const same = agent === view.agent;
  view.task = task;
  if (!same) {
    view.agent = agent;
    view.events = new Map();
    view.loaded = false;
  }
  renderHead();
  if (same && view.loaded) return;
  render();
  let after = 0;
  for (;;) {
    const page = await api.get(`/v1/events?agent=${segment(agent)}&after=${after}&limit=${PAGE}`);
    // Another agent was picked meanwhile: this answer is no longer wanted.
    if (view.agent !== agent) return;
    keep(page);
    if (page.length < PAGE) break;
    after = page[page.length - 1].id;
  }
  view.loaded = true;
  render();
}

/** Events of the live stream: those of the shown agent are added. */
export function takeTimelineEvents(events) {
  if (!view.agent) return;
  const mine = events.filter((event) => event.agent === view.agent);
  if (!mine.length) return;
  keep(mine);
  render();
}

/** Advance the running time of tools still running, without redrawing. */
export function tickTimeline(now = Date.now() / 1000) {
  for (const node of document.querySelectorAll("#timeline [data-running-since]")) {
    const since = Number(node.dataset.runningSince);
    if (Number.isFinite(since)) node.textContent = `running ${formatDuration(Math.max(0, now - since))}`;
  }
}

function keep(events) {
  for (const event of events) {
    if (SHOWN_KINDS.has(event.kind)) view.events.set(event.id, event);
  }
  if (view.events.size > TIMELINE_SIZE) {
    const ids = [...view.events.keys()].sort((a, b) => a - b);
    for (const id of ids.slice(0, ids.length - TIMELINE_SIZE)) view.events.delete(id);
  }
}

function renderHead() {
  const panel = document.getElementById("timeline-panel");
  panel.dataset.agent = view.agent ?? "";
  panel.dataset.task = view.task ?? "";
  document.getElementById("timeline-subject").textContent = view.task
    ? `— task ${view.task} (${view.agent})`
    : `— ${view.agent}`;
}

/** A tool call still runs if neither its end nor its turn's end has been seen. */
function finishedTools(events) {
  const ended = new Set();
  const turnsEnded = new Set();
  for (const event of events) {
    if (event.kind === "tool_finished") ended.add(event.data?.tool_use_id);
    if (event.kind === "request_finished") turnsEnded.add(event.request_id);
  }
  return (event) => ended.has(event.data?.tool_use_id) || turnsEnded.has(event.request_id);
}

function what(event) {
  const data = event.data ?? {};
  switch (event.kind) {
    case "request_started":
      return `turn ${event.request_id ?? ""} started`;
    case "request_finished":
      return `turn ${data.state ?? "finished"}${data.error ? `: ${data.error}` : ""}`;
    case "tool_finished":
      return `${data.tool ?? "tool"} ${data.ok === false ? "failed" : "done"}`;
    case "subagent_finished":
      return `sub-agent ${data.ok === false ? "failed" : "done"}`;
    default:
      return describeActivity(event) ?? event.kind;
  }
}

function duration(event, finished) {
  const data = event.data ?? {};
  if ((event.kind === "tool_finished" || event.kind === "subagent_finished") && typeof data.seconds === "number") {
    return el("span", { class: "took", "data-seconds": data.seconds }, formatDuration(data.seconds));
  }
  if (event.kind === "tool_started" && !finished(event)) {
    const since = Date.now() / 1000;
    return el(
      "span",
      { class: "took running", "data-running-since": event.ts },
      `running ${formatDuration(Math.max(0, since - event.ts))}`,
    );
  }
  return null;
}

function render() {
  const list = document.getElementById("timeline");
  const events = [...view.events.values()].sort((a, b) => a.id - b.id);
  const finished = finishedTools(events);
  const rows = events.map((event) => {
    const data = event.data ?? {};
    const nested = Boolean(data.parent); // a sub-agent's own call
    return el(
      "li",
      {
        class: `step-row kind-${event.kind}${nested ? " nested" : ""}${data.ok === false ? " failed" : ""}`,
        "data-event-id": event.id,
        "data-kind": event.kind,
        "data-request": event.request_id ?? null,
        "data-tool": data.tool ?? null,
        "data-tool-use-id": data.tool_use_id ?? null,
      },
      el("time", {}, formatTime(event.ts)),
      el("span", { class: "kind" }, event.kind),
      el("span", { class: "what" }, what(event)),
      duration(event, finished),
    );
  });
  // Follow the newest entry unless the reader scrolled up to look at older ones.
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
  if (rows.length) list.replaceChildren(...rows);
  else list.replaceChildren(el("li", { class: "empty" }, view.loaded ? "No activity yet." : "Loading…"));
  if (atBottom) list.scrollTop = list.scrollHeight;
}
