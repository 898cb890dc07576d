// requestAPI over a stand-in ServerConnection: a file comes back as a Blob, and a failed file
// request still reads the server's JSON error.
const makeRequest = jest.fn();
jest.mock('@jupyterlab/services', () => ({
  ServerConnection: {
    makeSettings: () => ({ baseUrl: 'http://lab/' }),
    makeRequest: (...args: unknown[]) => makeRequest(...args),
    NetworkError: class NetworkError extends Error {},
    ResponseError: class ResponseError extends Error {
      constructor(
        readonly response: { status: number },
        message: string
      ) {
        super(message);
      }
    }
  }
}));
jest.mock('@jupyterlab/coreutils', () => ({
  URLExt: { join: (...parts: string[]) => parts.join('/').replace(/\/+/g, '/') }
}));

import { requestAPI } from './handler';

function response(status: number, body: string, type: string) {
  return {
    ok: status >= 200 && status < 300,
    status,
    statusText: '',
    text: async () => body,
    blob: async () => new Blob([body], { type })
  };
}

describe('requestAPI as a blob', () => {
  it('answers the body as a Blob', async () => {
    makeRequest.mockResolvedValueOnce(response(200, '<p>report</p>', 'text/html'));
    const blob = await requestAPI<Blob>('runs/r1/outputs/html', { method: 'GET' }, 'blob');
    expect(blob).toBeInstanceOf(Blob);
    expect(blob.type).toBe('text/html');
    expect(makeRequest.mock.calls[0][0]).toBe('http:/lab/dap/api/v1/runs/r1/outputs/html');
  });

  it("throws the server's message for a refused file", async () => {
    makeRequest.mockResolvedValueOnce(
      response(404, '{"error": "unknown_run", "message": "no run r9 of yours"}', 'application/json')
    );
    await expect(requestAPI<Blob>('runs/r9/outputs/html', {}, 'blob')).rejects.toMatchObject({
      message: 'no run r9 of yours',
      response: { status: 404 }
    });
  });

  it('still parses JSON by default', async () => {
    makeRequest.mockResolvedValueOnce(response(200, '{"schedules": []}', 'application/json'));
    expect(await requestAPI('schedules')).toEqual({ schedules: [] });
  });
});
