/**
 * The REST calls of scheduled reports, all through the one `requestAPI()`;
 * the panel and the dialog take an {@link IReportsApi} so tests can hand
 * them a fake.
 */

import { requestAPI } from '../handler';
import { IRun, ISchedule, IScheduleBody } from './model';

/** Runs listed under each schedule. */
export const RUNS_SHOWN = 5;

/** Where runs are (`runs/…` is pipeline runs'). */
export const RUNS_PATH = 'schedule-runs';

export interface IReportsApi {
  /** The caller's schedules. */
  schedules(): Promise<ISchedule[]>;
  /** A schedule's latest runs, newest first. */
  runs(scheduleId: string, limit?: number): Promise<IRun[]>;
  create(body: IScheduleBody): Promise<ISchedule>;
  runNow(scheduleId: string): Promise<IRun>;
  pause(scheduleId: string): Promise<ISchedule>;
  resume(scheduleId: string): Promise<ISchedule>;
  remove(scheduleId: string): Promise<void>;
  /** One output file of a run (`fmt`: ipynb, html, pdf). */
  output(runId: string, fmt: string): Promise<Blob>;
}

const GET: RequestInit = { method: 'GET' };

function post<T>(endPoint: string, body?: unknown): Promise<T> {
  return requestAPI<T>(endPoint, {
    method: 'POST',
    body: body === undefined ? undefined : JSON.stringify(body)
  });
}

function id(value: string): string {
  return encodeURIComponent(value);
}

/** The real API (`/dap/api/v1/schedules…`, `/dap/api/v1/schedule-runs…`). */
export const restReportsApi: IReportsApi = {
  async schedules() {
    const data = await requestAPI<{ schedules?: ISchedule[] }>('schedules', GET);
    return Array.isArray(data?.schedules) ? data.schedules : [];
  },
  async runs(scheduleId, limit = RUNS_SHOWN) {
    const data = await requestAPI<{ runs?: IRun[] }>(
      `schedules/${id(scheduleId)}/runs?limit=${limit}`,
      GET
    );
    return Array.isArray(data?.runs) ? data.runs : [];
  },
  create(body) {
    return post<ISchedule>('schedules', body);
  },
  runNow(scheduleId) {
    return post<IRun>(`schedules/${id(scheduleId)}/run`);
  },
  pause(scheduleId) {
    return post<ISchedule>(`schedules/${id(scheduleId)}/pause`);
  },
  resume(scheduleId) {
    return post<ISchedule>(`schedules/${id(scheduleId)}/resume`);
  },
  async remove(scheduleId) {
    await requestAPI<void>(`schedules/${id(scheduleId)}`, { method: 'DELETE' });
  },
  output(runId, fmt) {
    // Built here, not taken from the run's `outputs` paths: a file is fetched only from
    // where outputs are.
    return requestAPI<Blob>(`${RUNS_PATH}/${id(runId)}/outputs/${id(fmt)}`, GET, 'blob');
  }
};
