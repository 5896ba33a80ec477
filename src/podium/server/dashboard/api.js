// The daemon's HTTP API as the page uses it: the token, authorised JSON calls, errors.
//
// The token arrives in the URL fragment (`/dashboard/#token=...`), which browsers
// never send to a server. It is moved to sessionStorage (this tab only) and the
// fragment is cleared, so it does not linger in the address bar or in history.

const TOKEN_KEY = "podium.token";

/** The daemon refused the token (HTTP 401), or the page has none. */
export class AuthError extends Error {
  constructor(message, { missing = false } = {}) {
    super(message);
    this.name = "AuthError";
    this.missing = missing;
  }
}

/** Any other failed call: `status` is the HTTP status, `code` podium's error code. */
export class ApiError extends Error {
  constructor(message, status, code) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

function storage() {
  try {
    return window.sessionStorage;
  } catch {
    return null; // storage disabled: the token lives as long as the page
  }
}

let memoryToken = null;

/** The token: taken from the fragment if there is one there (then the fragment is cleared). */
export function takeToken() {
  const hash = window.location.hash.replace(/^#/, "");
  const params = new URLSearchParams(hash);
  if (params.has("token")) {
    const fromUrl = params.get("token").trim();
    params.delete("token");
    const rest = params.toString();
    const clean = window.location.pathname + window.location.search + (rest ? `#${rest}` : "");
    window.history.replaceState(null, "", clean);
    if (fromUrl) {
      memoryToken = fromUrl;
      storage()?.setItem(TOKEN_KEY, fromUrl);
    }
  }
  return memoryToken ?? storage()?.getItem(TOKEN_KEY) ?? null;
}

export function forgetToken() {
  memoryToken = null;
  storage()?.removeItem(TOKEN_KEY);
}

/** Calls to the daemon that served this page, each with `Authorization: Bearer <token>`. */
export class Api {
  constructor(token) {
    this.token = token;
  }

  /** The raw Response of an authorised call (for streams); throws AuthError on 401. */
  async fetch(path, { headers = {}, signal, method = "GET" } = {}) {
    const response = await window.fetch(path, {
      method,
      signal,
      cache: "no-store",
      credentials: "omit",
      referrerPolicy: "no-referrer",
      headers: { Accept: "application/json", ...headers, Authorization: `Bearer ${this.token}` },
    });
    if (response.status === 401) {
      throw new AuthError(await errorMessage(response, "the daemon refused the token"));
    }
    if (!response.ok) {
      const body = await errorBody(response);
      throw new ApiError(
        body?.message ?? `${method} ${path}: HTTP ${response.status}`,
        response.status,
        body?.code ?? null,
      );
    }
    return response;
  }

  /** The JSON answer of `GET path`. */
  async get(path, options = {}) {
    const response = await this.fetch(path, options);
    return response.json();
  }
}

async function errorBody(response) {
  try {
    const data = await response.json();
    return data && typeof data === "object" ? data.error ?? null : null;
  } catch {
    return null;
  }
}

async function errorMessage(response, fallback) {
  return (await errorBody(response))?.message ?? fallback;
}

/** A path segment, escaped (names and ids are checked by the daemon too). */
export function segment(value) {
  return encodeURIComponent(String(value));
}
