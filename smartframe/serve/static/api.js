// The API client: the only module that calls fetch. Every call resolves to plain data or
// rejects with an ApiError carrying the server's error ({kind, type, message, ...}); an answer
// of an unexpected type is an error too, never something the page silently fails to read.

let token = "";
let onUnauthorized = () => {};

/** The bearer token sent with every API call ("" for none). */
export function setToken(value) {
  token = value;
}

/** Called when the server answers 401, so the page can ask for a token. */
export function whenUnauthorized(callback) {
  onUnauthorized = callback;
}

export class ApiError extends Error {
  constructor(error) {
    super(error.message || error.type || "error");
    this.error = error;  // {kind, type, message, and the server's details (option, faces...)}
  }
}

const LABELS = {
  usage: "The request is not right", input: "This image cannot be used",
  constraint: "The request cannot be met", timeout: "It took too long",
  overload: "The server is busy", unauthorized: "A token is needed",
  internal: "Something went wrong on the server", model: "The server's models are broken",
  network: "The server cannot be reached", answer: "The server's answer cannot be read",
};

/** A title and a sentence for an error, from an ApiError or anything else thrown. */
export function describeError(thrown) {
  const error = thrown instanceof ApiError ? thrown.error : { kind: "page", message: String(thrown) };
  return { title: LABELS[error.kind] || "Error", message: error.message || "" };
}

function mediaType(response) {
  return (response.headers.get("content-type") || "").split(";")[0].trim().toLowerCase();
}

async function errorOf(response) {
  if (mediaType(response) === "application/json") {
    try {
      const body = await response.json();
      if (body && body.error) return body.error;
    } catch (ignored) { /* a broken error body: describe the status instead, below */ }
  }
  return { kind: response.status >= 500 ? "internal" : "usage", type: String(response.status),
           message: `the server answered ${response.status} ${response.statusText}`.trim() };
}

async function call(path, { method = "GET", body = null, accept = "application/json" } = {}) {
  const headers = { Accept: accept };
  if (token) headers.Authorization = "Bearer " + token;
  if (body !== null) headers["Content-Type"] = "application/octet-stream";
  let response;
  try {
    response = await fetch(path, { method, body, headers });
  } catch (error) {
    throw new ApiError({ kind: "network", type: "NetworkError", message: `${method} ${path.split("?")[0]}: ${error.message}` });
  }
  if (response.status === 401) onUnauthorized();
  if (!response.ok) throw new ApiError(await errorOf(response));
  return response;
}

function unreadable(response, expected) {
  const type = mediaType(response) || "no content type";
  return new ApiError({ kind: "answer", type: "UnexpectedAnswer",
                        message: `expected ${expected} from ${new URL(response.url).pathname}, got ${type}` });
}

async function json(response) {
  if (mediaType(response) !== "application/json") throw unreadable(response, "JSON");
  try {
    return await response.json();
  } catch (error) {
    throw new ApiError({ kind: "answer", type: "BadJson", message: `the JSON from ${new URL(response.url).pathname} is broken (${error.message})` });
  }
}

function headerJson(response, name) {
  const text = response.headers.get(name);
  if (text === null) throw new ApiError({ kind: "answer", type: "MissingHeader", message: `the answer has no ${name} header` });
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ApiError({ kind: "answer", type: "BadJson", message: `the ${name} header is not JSON (${error.message})` });
  }
}

function fromBase64(text, type) {
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  return new Blob([bytes], { type });
}

/** The OpenAPI description (the choices the page offers). */
export async function spec() {
  return json(await call("/openapi.json"));
}

/** The presets, as `smartframe presets --json` lists them. */
export async function presets() {
  return json(await call("/v1/presets"));
}

/** The check report of `blob` against one target spec. */
export async function check(target, blob) {
  return json(await call(`/v1/check?size=${encodeURIComponent(target)}`, { method: "POST", body: blob }));
}

/**
 * Frame `blob` with the query string `query`: a list of {report, blob}, one per size.
 * JSON is asked for; an answer that is the image itself (the server's answer for one size
 * to a client that does not ask for JSON) is read too, its report from Smartframe-Report.
 */
export async function frame(query, blob) {
  const response = await call(`/v1/frame?${query}`, { method: "POST", body: blob });
  const type = mediaType(response);
  if (type.startsWith("image/")) {
    return [{ report: headerJson(response, "smartframe-report"), blob: await response.blob() }];
  }
  const body = await json(response);
  if (!body || !Array.isArray(body.results)) throw unreadable(response, "a list of results");
  return body.results.map((r) => ({ report: r.report, blob: fromBase64(r.data, r.media_type) }));
}

/** The explain overlay of `blob`: {plans, blob} (a PNG), whichever form the server answers in. */
export async function explain(query, blob) {
  const response = await call(`/v1/explain?${query}`, { method: "POST", body: blob });
  if (mediaType(response) === "image/png") {
    return { plans: headerJson(response, "smartframe-plans"), blob: await response.blob() };
  }
  const body = await json(response);
  return { plans: body.plans, blob: fromBase64(body.data, body.media_type) };
}
