/**
 * Pure helpers to turn a failed DAP API response into a user-facing message.
 *
 * No `@jupyterlab/*` imports here, so jest can test it directly.
 */

/** Shown when the DAP server extension does not answer at all. */
export const NOT_INSTALLED_MESSAGE =
  'DAP server extension is not installed or not enabled';

/**
 * Parse a response body: JSON when possible, otherwise the raw text
 * (`undefined` for an empty body).
 */
export function parseBody(text: string): unknown {
  if (text.length === 0) {
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function jsonField(body: unknown, field: string): string | undefined {
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
    const value = (body as Record<string, unknown>)[field];
    if (typeof value === 'string' && value.trim()) {
      return value;
    }
  }
  return undefined;
}

/**
 * Message for a non-2xx response of `/dap/api/v1/<endPoint>`.
 *
 * - 404 on the base endpoint (`''` or `'/'`), or a 404 that is not a JSON
 *   error from the DAP handlers (Jupyter Server's own HTML "Not Found" page
 *   for an unregistered route) -> {@link NOT_INSTALLED_MESSAGE}
 * - the server's JSON `message` field (then `reason`) if present
 * - otherwise `"<status> <statusText>"`
 */
export function responseErrorMessage(
  status: number,
  statusText: string,
  endPoint: string,
  body: unknown
): string {
  const message = jsonField(body, 'message');
  const isBase = endPoint.replace(/^\/+|\/+$/g, '') === '';
  if (status === 404 && (isBase || message === undefined)) {
    return NOT_INSTALLED_MESSAGE;
  }
  if (message !== undefined) {
    return message;
  }
  const reason = jsonField(body, 'reason');
  if (reason !== undefined) {
    return reason;
  }
  return `Request failed: ${status} ${statusText}`.trim();
}

/** Shown when the Jupyter server cannot be reached at all. */
export const UNREACHABLE_MESSAGE =
  'Cannot reach the Jupyter server: check that it is still running';

/**
 * One line for the user from anything a `requestAPI()` call may throw.
 *
 * `ServerConnection.NetworkError` (server down, network gone) becomes
 * {@link UNREACHABLE_MESSAGE}; a `ResponseError` already carries the
 * message of {@link responseErrorMessage}, prefixed by "Access denied: "
 * on a 403 so a governance refusal reads as one.
 */
export function userErrorMessage(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const e = error as {
      name?: unknown;
      message?: unknown;
      response?: { status?: unknown };
    };
    const message = typeof e.message === 'string' ? e.message.trim() : '';
    if (e.name === 'NetworkError') {
      return UNREACHABLE_MESSAGE;
    }
    if (e.response?.status === 403) {
      return message && !/^access denied/i.test(message)
        ? `Access denied: ${message}`
        : message || 'Access denied';
    }
    if (message) {
      return message;
    }
  }
  return String(error ?? '') || 'Unknown error';
}
