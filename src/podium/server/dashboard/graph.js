// A run's task graph as SVG: one column per dependency level, edges from each
// dependency to its dependent, nodes coloured by state with cost and elapsed time.

import { formatDuration, formatUsd } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const NODE_W = 186;
const NODE_H = 66;
const COL_GAP = 56;
const ROW_GAP = 18;
const PAD = 16;
// A wide graph is shrunk to fit its panel, but never below this: then it scrolls.
const MIN_SCALE = 0.7;

/** Level of each task: 0 without dependencies, else one more than its deepest dependency. */
export function levels(tasks) {
  const byId = new Map(tasks.map((task) => [task.task_id, task]));
  const level = new Map();
  const visit = (id, trail) => {
    if (level.has(id)) return level.get(id);
    if (trail.has(id)) return 0; // a cycle: plans are checked, but never loop here
    trail.add(id);
    const task = byId.get(id);
    const deps = (task?.dependencies ?? []).filter((dep) => byId.has(dep));
    const value = deps.length ? 1 + Math.max(...deps.map((dep) => visit(dep, trail))) : 0;
    trail.delete(id);
    level.set(id, value);
    return value;
  };
  for (const task of tasks) visit(task.task_id, new Set());
  return level;
}

function el(name, attributes = {}, text = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined) node.setAttribute(key, String(value));
  }
  if (text !== null) node.textContent = text;
  return node;
}

function clip(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Seconds the task has run: to its end, or to now while it runs. */
export function elapsed(task, now = Date.now() / 1000) {
  if (task.started_at == null) return null;
  const end = task.finished_at ?? (task.state === "running" ? now : null);
  return end == null ? null : Math.max(0, end - task.started_at);
}

/**
 * The points an edge passes through: out of the dependency's right side, across
 * each column between the two in a gap between its nodes, into the dependent's
 * left side.
 */
function route(from, to, fromLevel, toLevel, columns, position) {
  const start = { x: from.x + NODE_W, y: from.y + NODE_H / 2 };
  const end = { x: to.x - 2, y: to.y + NODE_H / 2 };
  const points = [start];
  for (let col = fromLevel + 1; col < toLevel; col++) {
    const boxes = columns[col].map((task) => position.get(task.task_id));
    const wanted = start.y + ((end.y - start.y) * (col - fromLevel)) / (toLevel - fromLevel);
    const free = (y) => boxes.every((box) => y < box.y - 6 || y > box.y + NODE_H + 6);
    let y = wanted;
    if (!free(y)) {
      const gaps = boxes.flatMap((box) => [box.y - ROW_GAP / 2, box.y + NODE_H + ROW_GAP / 2]);
      y = gaps.filter(free).sort((a, b) => Math.abs(a - wanted) - Math.abs(b - wanted))[0];
    }
    const x = PAD + col * (NODE_W + COL_GAP);
    points.push({ x, y }, { x: x + NODE_W, y });
  }
  points.push(end);
  return points;
}

/** Smooth curves between columns, straight lines across a column. */
function pathThrough(points) {
  let d = `M ${points[0].x} ${points[0].y}`;
  for (let i = 1; i < points.length; i++) {
    const p = points[i - 1];
    const q = points[i];
    if (i % 2 === 1) {
      const bend = (q.x - p.x) / 2;
      d += ` C ${p.x + bend} ${p.y}, ${q.x - bend} ${q.y}, ${q.x} ${q.y}`;
    } else {
      d += ` L ${q.x} ${q.y}`;
    }
  }
  return d;
}

/**
 * Call `onSelect(agentName, taskId)` when a task node with an agent is picked by
 * pointer or keyboard. Bound once on the (never replaced) svg: the nodes are
 * redrawn on every update of a busy run, often between a press and its release,
 * which would swallow a click bound to the node itself.
 */
export function bindGraph(svg, onSelect) {
  const nodeOf = (event) => event.target?.closest?.("[data-task]") ?? null;
  let pressed = null;
  const pick = (node) => {
    const agent = node?.dataset.agent;
    if (agent) onSelect(agent, node.dataset.task);
  };
  svg.addEventListener("pointerdown", (event) => {
    pressed = nodeOf(event)?.dataset.task ?? null;
  });
  svg.addEventListener("pointerup", (event) => {
    const node = nodeOf(event);
    if (event.button === 0 && node && node.dataset.task === pressed) pick(node);
    pressed = null;
  });
  svg.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" && event.key !== " ") return;
    const node = nodeOf(event);
    if (!node) return;
    event.preventDefault();
    pick(node);
  });
}

/** Draw `run`'s tasks into `svg` (replacing what was there), keeping keyboard focus. */
export function drawGraph(svg, run) {
  const focused = svg.contains(document.activeElement) ? document.activeElement.dataset?.task : null;
  svg.replaceChildren();
  const tasks = run?.tasks ?? [];
  svg.dataset.run = run?.id ?? "";
  if (!tasks.length) {
    svg.setAttribute("viewBox", "0 0 400 60");
    svg.setAttribute("width", "400");
    svg.setAttribute("height", "60");
    svg.style.minWidth = "";
    const note = run?.state === "planning" ? "planning…" : "no tasks";
    svg.append(el("text", { x: PAD, y: 34, class: "graph-note" }, note));
    return;
  }
  const level = levels(tasks);
  const columns = [];
  for (const task of tasks) {
    const col = level.get(task.task_id);
    (columns[col] ??= []).push(task);
  }
  const rows = Math.max(...columns.map((column) => column.length));
  const position = new Map();
  columns.forEach((column, col) => {
    // Shorter columns are centred against the tallest one.
    const offset = ((rows - column.length) * (NODE_H + ROW_GAP)) / 2;
    column.forEach((task, row) => {
      position.set(task.task_id, {
        x: PAD + col * (NODE_W + COL_GAP),
        y: PAD + offset + row * (NODE_H + ROW_GAP),
      });
    });
  });
  const width = PAD * 2 + columns.length * NODE_W + (columns.length - 1) * COL_GAP;
  const height = PAD * 2 + rows * NODE_H + (rows - 1) * ROW_GAP;

  const defs = el("defs");
  const marker = el("marker", {
    id: "arrow",
    viewBox: "0 0 10 10",
    refX: 9,
    refY: 5,
    markerWidth: 7,
    markerHeight: 7,
    orient: "auto-start-reverse",
  });
  marker.append(el("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrow" }));
  defs.append(marker);
  svg.append(defs);

  const edges = el("g", { class: "edges" });
  let lowest = 0;
  for (const task of tasks) {
    const to = position.get(task.task_id);
    for (const dep of task.dependencies ?? []) {
      const from = position.get(dep);
      if (!from) continue;
      const points = route(from, to, level.get(dep), level.get(task.task_id), columns, position);
      lowest = Math.max(lowest, ...points.map((point) => point.y));
      edges.append(
        el("path", {
          class: "edge",
          "data-from": dep,
          "data-to": task.task_id,
          d: pathThrough(points),
          "marker-end": "url(#arrow)",
        }),
      );
    }
  }
  svg.append(edges);
  const tall = Math.max(height, lowest + PAD);
  svg.setAttribute("viewBox", `0 0 ${width} ${tall}`);
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(tall));
  svg.style.minWidth = `${Math.round(width * MIN_SCALE)}px`;

  const nodes = el("g", { class: "nodes" });
  for (const task of tasks) {
    const { x, y } = position.get(task.task_id);
    const group = el("g", {
      class: `task state-${task.state}`,
      transform: `translate(${x} ${y})`,
      "data-task": task.task_id,
      "data-state": task.state,
      "data-worker": task.worker,
      "data-agent": task.agent ?? "",
      "data-cost": task.cost_usd ?? 0,
      tabindex: task.agent ? 0 : null,
      role: task.agent ? "button" : null,
    });
    const title = el("title", {}, `${task.task_id} (${task.worker}): ${task.description ?? ""}`);
    group.append(title);
    group.append(el("rect", { width: NODE_W, height: NODE_H, rx: 8, class: "node" }));
    group.append(el("rect", { width: 6, height: NODE_H, rx: 3, class: "node-stripe" }));
    group.append(el("text", { x: 16, y: 20, class: "node-id" }, clip(task.task_id, 20)));
    const model = task.model ? ` · ${task.model}` : "";
    group.append(el("text", { x: 16, y: 38, class: "node-worker" }, clip(task.worker + model, 26)));
    const line = el("text", { x: 16, y: 56, class: "node-stats" });
    line.append(el("tspan", { class: "node-state" }, task.state));
    line.append(el("tspan", { class: "node-cost", dx: 8 }, formatUsd(task.cost_usd ?? 0)));
    const seconds = elapsed(task);
    line.append(
      el(
        "tspan",
        {
          class: "node-elapsed",
          dx: 8,
          "data-started": task.state === "running" ? task.started_at : null,
        },
        seconds == null ? "" : formatDuration(seconds),
      ),
    );
    if (task.attempts > 1) {
      line.append(el("tspan", { class: "node-attempts", dx: 8 }, `×${task.attempts}`));
    }
    group.append(line);
    nodes.append(group);
  }
  svg.append(nodes);
  if (focused) nodes.querySelector(`[data-task="${CSS.escape(focused)}"]`)?.focus();
}

/** Advance the elapsed time of running tasks without redrawing. */
export function tickGraph(svg, now = Date.now() / 1000) {
  for (const span of svg.querySelectorAll("tspan[data-started]")) {
    const started = Number(span.dataset.started);
    if (Number.isFinite(started)) span.textContent = formatDuration(Math.max(0, now - started));
  }
}
