// The approval inbox panel: tool uses of ask-mode agents waiting for a decision,
// with Allow / Deny buttons. Self-contained: it polls GET /v1/approvals and posts
// decisions itself, with the token the page already holds.

import { takeToken, segment } from "./api.js";

const POLL_MS = 1000;

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text) node.textContent = text;
  return node;
}

class Refused extends Error {}

async function call(token, method, path, body) {
  const response = await window.fetch(path, {
    method,
    cache: "no-store",
    credentials: "omit",
    referrerPolicy: "no-referrer",
    headers: {
      Accept: "application/json",
      "Content-Type": "application/json",
      Authorization: `Bearer ${token}`,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) throw new Refused();
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new Error(data?.error?.message ?? `${method} ${path}: HTTP ${response.status}`);
  return data;
}

function row(token, approval, refresh, status) {
  const item = el("li", { class: "approval", "data-id": approval.id, "data-tool": approval.tool });
  const head = el("div", { class: "approval-head" });
  head.append(el("code", { class: "approval-id" }, approval.id), el("strong", {}, approval.tool));
  head.append(el("span", { class: "muted" }, ` ${approval.agent} · ${approval.request_id ?? ""}`));
  item.append(head, el("pre", { class: "approval-input" }, JSON.stringify(approval.input, null, 1)));
  const reason = el("input", { type: "text", class: "approval-reason", placeholder: "reason (for deny)" });
  const allow = el("button", { type: "button", class: "approval-allow" }, "Allow");
  const deny = el("button", { type: "button", class: "approval-deny" }, "Deny");
  const decide = async (verb, body) => {
    allow.disabled = deny.disabled = true;
    try {
      await call(token, "POST", `/v1/approvals/${segment(approval.id)}/${verb}`, body);
      status.textContent = `${approval.id} ${verb === "allow" ? "allowed" : "denied"}`;
    } catch (error) {
      status.textContent = error.message;
    }
    await refresh();
  };
  allow.addEventListener("click", () => decide("allow"));
  deny.addEventListener("click", () => decide("deny", { reason: reason.value.trim() || null }));
  const actions = el("div", { class: "approval-actions" });
  actions.append(allow, deny, reason);
  item.append(actions);
  return item;
}

function start() {
  const panel = document.getElementById("inbox-panel");
  const token = takeToken();
  if (!panel || !token) return;
  const list = document.getElementById("approvals");
  const count = document.getElementById("approvals-count");
  const empty = document.getElementById("approvals-empty");
  const status = document.getElementById("approvals-status");
  let shown = "";
  let timer = null;
  const refresh = async () => {
    // Only once the page has the daemon's word that the token is good (app.js then
    // shows #main): a wrong token is asked about once, by app.js, and never again.
    if (document.getElementById("main")?.hidden) return;
    let pending;
    try {
      pending = await call(token, "GET", "/v1/approvals");
    } catch (error) {
      if (error instanceof Refused) window.clearInterval(timer);
      return; // the daemon is away: the connection badge says so
    }
    const key = pending.map((a) => a.id).join(",");
    count.textContent = pending.length ? `(${pending.length})` : "";
    panel.dataset.pending = String(pending.length);
    empty.hidden = pending.length > 0;
    if (key === shown) return; // keep a reason being typed
    shown = key;
    list.replaceChildren(...pending.map((a) => row(token, a, refresh, status)));
  };
  timer = window.setInterval(refresh, POLL_MS);
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start);
} else {
  start();
}
