jest.mock('../handler', () => ({ requestAPI: jest.fn() }));

import { requestAPI } from '../handler';
import { restReportsApi } from './api';
import type { IScheduleBody } from './model';
import { run, schedule } from './fixtures';

const mocked = requestAPI as jest.MockedFunction<typeof requestAPI>;

describe('restReportsApi', () => {
  afterEach(() => mocked.mockReset());

  it('lists schedules and their runs', async () => {
    mocked.mockResolvedValueOnce({ schedules: [schedule()] });
    expect((await restReportsApi.schedules()).map(s => s.id)).toEqual(['sch_1']);
    expect(mocked).toHaveBeenLastCalledWith('schedules', { method: 'GET' });

    mocked.mockResolvedValueOnce({ runs: [run('succeeded')] });
    expect((await restReportsApi.runs('sch/1'))[0].status).toBe('succeeded');
    expect(mocked).toHaveBeenLastCalledWith('schedules/sch%2F1/runs?limit=5', { method: 'GET' });

    mocked.mockResolvedValueOnce({});
    expect(await restReportsApi.runs('sch_1', 2)).toEqual([]);
    expect(mocked).toHaveBeenLastCalledWith('schedules/sch_1/runs?limit=2', { method: 'GET' });
    mocked.mockResolvedValueOnce(undefined);
    expect(await restReportsApi.schedules()).toEqual([]);
  });

  it('creates with the body as JSON', async () => {
    const body: IScheduleBody = {
      name: 'n',
      notebook: { cells: [] },
      notebook_name: 'n.ipynb',
      cron: '0 8 * * 1',
      timezone: 'UTC',
      formats: ['html'],
      recipients: [],
      parameters: { region: 'EU' }
    };
    mocked.mockResolvedValueOnce(schedule());
    await restReportsApi.create(body);
    const [endPoint, init] = mocked.mock.calls[0];
    expect(endPoint).toBe('schedules');
    expect(init?.method).toBe('POST');
    expect(JSON.parse(String(init?.body))).toEqual(body);
  });

  it('runs, pauses, resumes and removes by id', async () => {
    mocked.mockResolvedValue(undefined);
    await restReportsApi.runNow('sch_1');
    expect(mocked).toHaveBeenLastCalledWith('schedules/sch_1/run', { method: 'POST', body: undefined });
    await restReportsApi.pause('sch_1');
    expect(mocked).toHaveBeenLastCalledWith('schedules/sch_1/pause', { method: 'POST', body: undefined });
    await restReportsApi.resume('sch_1');
    expect(mocked).toHaveBeenLastCalledWith('schedules/sch_1/resume', { method: 'POST', body: undefined });
    await restReportsApi.remove('../x');
    expect(mocked).toHaveBeenLastCalledWith('schedules/..%2Fx', { method: 'DELETE' });
  });

  it('fetches an output as a blob', async () => {
    const blob = new Blob(['<html></html>'], { type: 'text/html' });
    mocked.mockResolvedValueOnce(blob);
    expect(await restReportsApi.output('run_1', 'html')).toBe(blob);
    await restReportsApi.output('../../x', 'h/tml');
    expect(mocked).toHaveBeenLastCalledWith('schedule-runs/..%2F..%2Fx/outputs/h%2Ftml', { method: 'GET' }, 'blob');
    expect(mocked).toHaveBeenNthCalledWith(1, 'schedule-runs/run_1/outputs/html', { method: 'GET' }, 'blob');
  });
});
