// Plan review: a run awaiting approval shows its plan (tasks, workers, dependencies)
// with Approve and Reject buttons. Self-contained: app.js calls renderReview().

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value != null) node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child != null) node.append(child);
  }
  return node;
}

async function decide(api, runId, action, body) {
  const response = await window.fetch(`/v1/runs/${encodeURIComponent(runId)}/${action}`, {
    method: "POST",
    cache: "no-store",
    credentials: "omit",
    referrerPolicy: "no-referrer",
    headers: {
      Accept: "application/json",
      "Content-Type": "application/json",
      Authorization: `Bearer ${api.token}`,
    },
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    let message = `${action}: HTTP ${response.status}`;
    try {
      message = (await response.json()).error.message ?? message;
    } catch {
      // not JSON: keep the status line
    }
    throw new Error(message);
  }
  return response.json();
}

/** Show (or hide) the review box of `run` in `box`; `changed()` reloads the run. */
export function renderReview(box, run, api, changed) {
  if (!run || run.state !== "awaiting_approval") {
    box.hidden = true;
    box.replaceChildren();
    box.dataset.run = "";
    return;
  }
  if (box.dataset.run === run.id && !box.hidden) return; // keep a reason being typed
  box.hidden = false;
  box.dataset.run = run.id;
  const rows = (run.tasks ?? []).map((task) =>
    el(
      "tr",
      { "data-task": task.task_id },
      el("td", {}, task.task_id),
      el("td", {}, task.worker),
      el("td", {}, (task.dependencies ?? []).join(", ") || "—"),
      el("td", { class: "review-description" }, task.description),
    ),
  );
  const reason = el("input", {
    type: "text",
    id: "review-reason",
    placeholder: "reason (for reject)",
    "aria-label": "reason for rejecting",
  });
  const status = el("p", { class: "error-text", id: "review-error", hidden: "" });
  const approve = el("button", { type: "button", id: "review-approve" }, "Approve");
  const reject = el("button", { type: "button", id: "review-reject" }, "Reject");
  const act = (action, body) => async () => {
    approve.disabled = reject.disabled = true;
    status.hidden = true;
    try {
      await decide(api, run.id, action, body());
      box.dataset.run = "";
      changed();
    } catch (error) {
      status.textContent = error.message;
      status.hidden = false;
      approve.disabled = reject.disabled = false;
    }
  };
  approve.addEventListener("click", act("approve", () => ({})));
  reject.addEventListener(
    "click",
    act("reject", () => ({ reason: reason.value.trim() || null })),
  );
  box.replaceChildren(
    el("h4", {}, "Plan awaiting approval"),
    el(
      "table",
      { class: "review-plan", id: "review-plan" },
      el("thead", {}, el("tr", {}, ...["task", "worker", "after", "description"].map((t) => el("th", {}, t)))),
      el("tbody", {}, ...rows),
    ),
    el("div", { class: "review-actions" }, approve, reason, reject),
    status,
  );
}
