// Live events: the daemon's Server-Sent Events stream read with fetch() (EventSource
// cannot send the Authorization header), or the JSON long poll when the daemon does
// not stream (it then answers the same URL with a JSON list).

import { AuthError } from "./api.js";

const POLL_WAIT_S = 25;
const PAGE = 1000;
const MAX_BACKOFF_MS = 10000;

/**
 * Everything after event `after`, then whatever happens, until `signal` aborts.
 *
 * onEvents(list) gets every event once, in order; onStatus(state, transport) hears
 * "live" (with "sse" or "poll"), "reconnecting" and "unauthorized".
 */
export async function follow(api, after, { onEvents, onStatus, signal, transport = "auto" }) {
  let last = after;
  let mode = transport === "poll" || !streamsSupported() ? "poll" : "sse";
  let backoff = 500;
  let failing = false;
  const deliver = (events) => {
    const fresh = events.filter((event) => event.id > last);
    if (fresh.length) {
      last = fresh[fresh.length - 1].id;
      onEvents(fresh);
    }
  };
  while (!signal.aborted) {
    try {
      if (mode === "sse") {
        const response = await api.fetch(`/v1/events?after=${last}`, {
          signal,
          headers: { Accept: "text/event-stream", "Last-Event-ID": String(last) },
        });
        const type = response.headers.get("content-type") ?? "";
        if (!type.startsWith("text/event-stream")) {
          // This daemon answers JSON only: use what it sent, then long-poll.
          deliver(await response.json());
          mode = "poll";
          continue;
        }
        onStatus("live", "sse");
        failing = false;
        backoff = 500;
        const retry = await readStream(response.body, (event) => deliver([event]), signal);
        if (retry !== null) backoff = retry;
        // The stream ended (daemon restarting, proxy cut): reconnect from `last`.
        onStatus("reconnecting", "sse");
        await sleep(backoff, signal);
      } else {
        // The daemon answered the last call: the page is live while this poll waits.
        if (!failing) onStatus("live", "poll");
        const events = await api.get(
          `/v1/events?after=${last}&limit=${PAGE}&wait=${POLL_WAIT_S}`,
          { signal },
        );
        if (failing) onStatus("live", "poll");
        failing = false;
        backoff = 500;
        deliver(events);
      }
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof AuthError) {
        onStatus("unauthorized", mode);
        return;
      }
      failing = true;
      onStatus("reconnecting", mode);
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }
}

function streamsSupported() {
  return typeof ReadableStream === "function" && typeof TextDecoderStream === "function";
}

/**
 * Dispatch each event of a text/event-stream body; returns the server's last `retry:`
 * (ms) or null. Each event's data is podium's event JSON; its `id:` line and `event:`
 * name fill in `id` and `kind` if the JSON leaves them out.
 */
async function readStream(body, dispatch, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const onAbort = () => reader.cancel().catch(() => {});
  signal.addEventListener("abort", onAbort, { once: true });
  let buffer = "";
  let retry = null;
  let message = { id: null, event: null, data: [] };
  const flush = () => {
    if (message.data.length) {
      const parsed = parseData(message);
      if (parsed) dispatch(parsed);
    }
    message = { id: null, event: null, data: [] };
  };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      // Lines end with CRLF, LF or CR; a trailing CR may be half of a CRLF yet to come.
      const lines = buffer.split(/\r\n|\n|\r(?!$)/);
      buffer = lines.pop();
      for (const line of lines) {
        if (line === "") {
          flush();
          continue;
        }
        if (line.startsWith(":")) continue; // a comment: keep-alive
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        let value_ = colon === -1 ? "" : line.slice(colon + 1);
        if (value_.startsWith(" ")) value_ = value_.slice(1);
        if (field === "data") message.data.push(value_);
        else if (field === "id") message.id = value_;
        else if (field === "event") message.event = value_;
        else if (field === "retry" && /^\d+$/.test(value_)) retry = Number(value_);
      }
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
  return retry;
}

function parseData(message) {
  let data;
  try {
    data = JSON.parse(message.data.join("\n"));
  } catch {
    return null;
  }
  if (!data || typeof data !== "object") return null;
  const event = { ...data };
  if (event.id == null && message.id !== null && /^\d+$/.test(message.id)) {
    event.id = Number(message.id);
  }
  if (event.kind == null && message.event) event.kind = message.event;
  return typeof event.id === "number" ? event : null;
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
