// What each busy agent is doing now, from the activity events of the live stream
// (tool_started / tool_finished / api_retry / text ...). Seeded from GET /v1/activity.

const steps = new Map(); // agent -> { text, since, tools: Map(tool_use_id -> text) }

export function describeActivity(event) {
  const d = event.data ?? {};
  switch (event.kind) {
    case "tool_started":
      return d.input ? `${d.tool}: ${d.input}` : String(d.tool);
    case "tool_finished":
      return `${d.tool ?? "tool"} ${d.ok === false ? "failed" : "done"} in ${Number(d.seconds ?? 0).toFixed(1)}s`;
    case "subagent_started":
      return `sub-agent ${d.subagent_type ?? ""} ${d.description ?? ""}`.trim();
    case "subagent_finished":
      return `sub-agent ${d.ok === false ? "failed" : "done"}`;
    case "api_call":
      return `API call ${d.model ?? ""}`;
    case "api_retry":
      return `API retry ${d.attempt}/${d.max_retries}: ${d.error_status ?? ""} ${d.error ?? ""}, retrying in ${((d.retry_delay_ms ?? 0) / 1000).toFixed(1)}s`;
    case "text":
      return `writing: ${d.text ?? ""}`;
    case "told":
      return `told: ${d.text ?? ""}`;
    default:
      return null;
  }
}

export function seedActivity(board) {
  steps.clear();
  for (const [name, step] of Object.entries(board?.agents ?? {})) {
    steps.set(name, { text: step.step, since: step.since, tools: new Map() });
  }
}

export function trackActivity(events) {
  for (const event of events) {
    const name = event.agent;
    if (!name) continue;
    if (event.kind === "request_finished") {
      steps.delete(name);
      continue;
    }
    let step = steps.get(name);
    if (event.kind === "request_started" || !step) {
      if (event.kind !== "request_started" && !describeActivity(event)) continue;
      step = { text: "waiting for the model", since: event.ts, tools: new Map() };
      steps.set(name, step);
    }
    const data = event.data ?? {};
    if (event.kind === "tool_started") {
      step.tools.set(data.tool_use_id, describeActivity(event));
      step.text = describeActivity(event);
    } else if (event.kind === "tool_finished") {
      step.tools.delete(data.tool_use_id);
      step.text = [...step.tools.values()].at(-1) ?? "waiting for the model";
    } else if (event.kind === "api_retry" || event.kind === "text") {
      step.text = describeActivity(event);
    } else {
      continue;
    }
    step.since = event.ts;
  }
}

export function stepOf(name) {
  return steps.get(name) ?? null;
}
