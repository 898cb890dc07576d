/** Schedules and runs as the REST API answers them (`Schedule.to_dict()`, `Run.to_dict()`). */
import type { IRun, ISchedule, RunStatus } from './model';

export function schedule(overrides: Partial<ISchedule> = {}): ISchedule {
  return {
    id: 'sch_1',
    name: 'weekly sales',
    owner: 'tester',
    notebook_name: 'weekly sales.ipynb',
    notebook_sha256: 'abc',
    cron: '0 8 * * 1',
    timezone: 'Europe/Berlin',
    parameters: { region: 'EU' },
    formats: ['ipynb', 'html'],
    recipients: [],
    webhooks: [],
    after: [],
    after_pipelines: [],
    retention: 20,
    missed: 'skip',
    timeout_s: 3600,
    retries: 2,
    retry_backoff_s: 60,
    paused: false,
    next_due: '2026-12-07T07:00:00+00:00',
    created_at: '2026-12-01T10:00:00+00:00',
    updated_at: '2026-12-01T10:00:00+00:00',
    ...overrides
  };
}

export function run(status: RunStatus, overrides: Partial<IRun> = {}): IRun {
  const over = !['queued', 'running', 'retrying'].includes(status);
  return {
    id: `run_${status}`,
    schedule_id: 'sch_1',
    owner: 'tester',
    occurrence: '2026-12-01T09:00:00+00:00',
    trigger: 'manual',
    due_at: '2026-12-01T09:00:00+00:00',
    status,
    attempt: 1,
    started_at: status === 'queued' ? null : '2026-12-01T09:00:05+00:00',
    finished_at: over ? '2026-12-01T09:00:47+00:00' : null,
    parameters: {},
    outputs: status === 'succeeded' ? { html: '/r/out.html', ipynb: '/r/out.ipynb' } : {},
    error: '',
    failed_cell: null,
    packages: {},
    reads: {},
    quality: {},
    as_recorded: null,
    notebook_sha256: 'abc',
    delivered: {},
    duration_s: over ? 42 : null,
    ...overrides
  };
}
