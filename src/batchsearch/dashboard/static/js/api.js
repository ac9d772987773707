// The JSON API as the browser calls it: the key lives in sessionStorage and travels only as X-API-KEY.

const KEY = "batchsearch.apiKey";

export const session = {
  key: () => sessionStorage.getItem(KEY),
  signIn: (key) => sessionStorage.setItem(KEY, key),
  signOut: () => sessionStorage.removeItem(KEY),
};

/** An error answer of the API: its status and its message, as the server wrote them. */
export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** The server's message from an error body (batch, content or search shape), else the status line. */
export async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const message = (body && (body.message || (body.errors && body.errors[0] && body.errors[0].message)))
    || `${response.status} ${response.statusText}`.trim();
  return new ApiError(response.status, message, body);
}

/** Listeners told when the key stops working (401/403 on an ordinary call). */
const onUnauthorized = [];
export function whenUnauthorized(fn) {
  onUnauthorized.push(fn);
}

/** Call the API: JSON in and out unless `raw` (then the Response is returned as is, once it is a success). */
export async function api(path, { method = "GET", json, body, headers = {}, query, key, raw = false, signal } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, String(value));
  }
  const sent = { "X-API-KEY": key ?? session.key() ?? "", ...headers };
  if (json !== undefined) {
    sent["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(url, { method, headers: sent, body, signal, credentials: "omit", cache: "no-store" });
  } catch (exc) {
    if (exc.name === "AbortError") throw exc;
    throw new ApiError(0, "The server did not answer; is it running?", null);
  }
  if (!response.ok) {
    const error = await errorOf(response);
    if ((error.status === 401 || error.status === 403) && key === undefined) onUnauthorized.forEach((fn) => fn(error));
    throw error;
  }
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}

/** PUT a file to a presigned URL (no API key), reporting progress; resolves when the server accepted it. */
export function uploadFile(url, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    xhr.setRequestHeader("Content-Type", "application/jsonl");
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) onProgress(e.loaded, e.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(file.size, file.size);
        resolve();
        return;
      }
      let message = `Upload failed: ${xhr.status}`;
      try {
        const body = JSON.parse(xhr.responseText);
        message = body.message || message;
      } catch {
        // S3 answers XML; keep the status line
      }
      reject(new ApiError(xhr.status, message, null));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "Upload failed: the connection was lost", null)));
    xhr.send(file);
  });
}

/** Read JSON lines from a streamed response, stopping (and closing the stream) once `onLine(line)` returns false. */
export async function readLines(response, onLine) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  for (;;) {
    const { value, done } = await reader.read();
    pending += decoder.decode(value || new Uint8Array(), { stream: !done });
    let cut;
    while ((cut = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, cut).trim();
      pending = pending.slice(cut + 1);
      if (line && onLine(JSON.parse(line)) === false) {
        await reader.cancel();
        return;
      }
    }
    if (done) break;
  }
  if (pending.trim()) onLine(JSON.parse(pending));
}
