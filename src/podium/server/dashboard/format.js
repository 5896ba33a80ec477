// How numbers and times are shown. Costs are shown rounded; the exact value the API
// reported is kept in the element's data-cost attribute.

export function formatUsd(value) {
  const amount = Number(value) || 0;
  return `$${amount.toFixed(4)}`;
}

export function formatDuration(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return "";
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  const whole = Math.floor(seconds);
  if (whole < 60) return `${whole}s`;
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes}m ${String(whole % 60).padStart(2, "0")}s`;
  const hours = Math.floor(minutes / 60);
  return `${hours}h ${String(minutes % 60).padStart(2, "0")}m`;
}

export function formatTime(ts) {
  if (ts == null) return "";
  const date = new Date(ts * 1000);
  return date.toLocaleTimeString([], { hour12: false });
}

export function formatTokens(usage) {
  if (!usage) return "";
  const input =
    (usage.input_tokens ?? 0) +
    (usage.cache_creation_input_tokens ?? 0) +
    (usage.cache_read_input_tokens ?? 0);
  return `${input} in / ${usage.output_tokens ?? 0} out`;
}
