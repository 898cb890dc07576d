jest.mock('@jupyterlab/services', () => ({
  ServerConnection: { NetworkError: class NetworkError extends Error {} }
}));
jest.mock('./handler', () => ({ requestAPI: jest.fn() }));

import { errorStatus, fetchLineage, fetchQuality } from './api';
import { requestAPI } from './handler';

const mocked = requestAPI as jest.MockedFunction<typeof requestAPI>;
const failure = (status: number) =>
  Object.assign(new Error(`status ${status}`), { response: { status } });

describe('fetchQuality', () => {
  afterEach(() => mocked.mockReset());

  it('asks quality/{table} and parses the badge', async () => {
    mocked.mockResolvedValueOnce({ table: 'main.orders', badge: { status: 'pass' } });
    const status = await fetchQuality('main.orders');
    expect(mocked).toHaveBeenLastCalledWith('quality/main.orders', { method: 'GET' });
    expect(status?.badge.status).toBe('pass');
  });

  it('answers null for 403 and 404 (no badge), and passes other failures on', async () => {
    mocked.mockRejectedValueOnce(failure(403));
    expect(await fetchQuality('main.secret')).toBeNull();
    mocked.mockRejectedValueOnce(failure(404));
    expect(await fetchQuality('main.gone')).toBeNull();
    mocked.mockRejectedValueOnce(failure(500));
    await expect(fetchQuality('main.t')).rejects.toThrow('status 500');
    expect(errorStatus(new Error('x'))).toBeNull();
    expect(errorStatus(null)).toBeNull();
  });
});

describe('fetchLineage', () => {
  afterEach(() => mocked.mockReset());

  it('asks for a column with ?column=', async () => {
    mocked.mockResolvedValue({ table: 'main.t', column: 'a b', upstream: [], downstream: [], edges: [] });
    await fetchLineage('main.t');
    expect(mocked).toHaveBeenLastCalledWith('lineage/main.t', { method: 'GET' });
    const lineage = await fetchLineage('main.t', 'a b');
    expect(mocked).toHaveBeenLastCalledWith('lineage/main.t?column=a%20b', { method: 'GET' });
    expect(lineage.edges).toEqual([]);
  });
});
