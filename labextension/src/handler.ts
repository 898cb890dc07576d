import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { parseBody, responseErrorMessage } from './errors';

export { NOT_INSTALLED_MESSAGE } from './errors';

/**
 * Call the DAP server extension REST API.
 *
 * @param endPoint API path below `/dap/api/v1/` (e.g. `'catalog'`)
 * @param init Initial values for the request
 * @param as `'blob'` for a file (a report's output): the body as a `Blob`
 *   (typed by the response's Content-Type) instead of parsed JSON
 * @returns The parsed JSON response body (or the `Blob`)
 * @throws {ServerConnection.NetworkError} if the server cannot be reached
 * @throws {ServerConnection.ResponseError} on a non-2xx response; its
 *   message is the server's JSON `message` field when present, or
 *   "DAP server extension is not installed or not enabled" on a 404 of the
 *   base endpoint.
 */
export async function requestAPI<T>(
  endPoint = '',
  init: RequestInit = {},
  as: 'json' | 'blob' = 'json'
): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const requestUrl = URLExt.join(
    settings.baseUrl,
    'dap',
    'api',
    'v1',
    endPoint
  );

  let response: Response;
  try {
    response = await ServerConnection.makeRequest(requestUrl, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }

  if (response.ok && as === 'blob') {
    return (await response.blob()) as T;
  }

  const body = parseBody(await response.text());

  if (!response.ok) {
    throw new ServerConnection.ResponseError(
      response,
      responseErrorMessage(
        response.status,
        response.statusText,
        endPoint,
        body
      )
    );
  }

  return body as T;
}
