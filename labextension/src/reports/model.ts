/**
 * Scheduled reports as the REST API returns them, and the pure helpers the
 * panel and the dialog share (no `@jupyterlab/*` imports: jest tests them
 * directly).
 *
 * The interfaces mirror `Schedule.to_dict()` and `Run.to_dict()` of
 * `dap_kernel/scheduler/model.py` field for field.
 */

/** Output formats a schedule may render (`FORMATS` in model.py). */
export const FORMATS = ['ipynb', 'html', 'pdf'] as const;
export type OutputFormat = (typeof FORMATS)[number];

/** A run's life: queued → running → succeeded | failed (| retrying → running …). */
export const RUN_STATUSES = [
  'queued',
  'running',
  'retrying',
  'succeeded',
  'failed',
  'skipped',
  'cancelled'
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** Statuses of a run that is not over yet: the panel polls while one is shown. */
export const ACTIVE_STATUSES: ReadonlyArray<RunStatus> = ['queued', 'running', 'retrying'];

export interface ISchedule {
  id: string;
  name: string;
  owner: string;
  notebook_name: string;
  notebook_sha256: string;
  /** Empty: the schedule runs only when asked (or after others). */
  cron: string;
  timezone: string;
  parameters: Record<string, unknown>;
  formats: string[];
  recipients: string[];
  webhooks: string[];
  after: string[];
  after_pipelines: string[];
  retention: number;
  missed: string;
  timeout_s: number;
  retries: number;
  retry_backoff_s: number;
  paused: boolean;
  /** ISO 8601 with offset, `null` when nothing is due (no cron). */
  next_due: string | null;
  created_at: string;
  updated_at: string;
}

export interface IRun {
  id: string;
  schedule_id: string;
  owner: string;
  occurrence: string;
  /** cron | manual | after:<run> | pipeline:<name>:<run> | rerun:<run> */
  trigger: string;
  due_at: string;
  status: RunStatus;
  attempt: number;
  started_at: string | null;
  finished_at: string | null;
  parameters: Record<string, unknown>;
  /** format → its path under /dap/api/v1 (`schedule-runs/{id}/outputs/{fmt}`). */
  outputs: Record<string, string>;
  error: string;
  failed_cell: Record<string, unknown> | null;
  packages: Record<string, string>;
  reads: Record<string, number>;
  quality: Record<string, string>;
  as_recorded: string | null;
  notebook_sha256: string;
  delivered: Record<string, unknown>;
  duration_s: number | null;
}

/** The body of `POST schedules` (a `ScheduleSpec`; unset fields take the server's defaults). */
export interface IScheduleBody {
  name: string;
  notebook: Record<string, unknown>;
  notebook_name: string;
  cron: string;
  timezone: string;
  formats: string[];
  recipients: string[];
  /** Values as text: the server types them after the notebook's parameters cell. */
  parameters: Record<string, string>;
}

// -- display -------------------------------------------------------------------------------

/** Text and glyph of a status badge: the status is never told by colour alone. */
const STATUS_GLYPH: Record<RunStatus, string> = {
  queued: '…',
  running: '▶',
  retrying: '↻',
  succeeded: '✓',
  failed: '✕',
  skipped: '–',
  cancelled: '⊘'
};

export function isRunStatus(value: unknown): value is RunStatus {
  return typeof value === 'string' && (RUN_STATUSES as ReadonlyArray<string>).includes(value);
}

export function statusGlyph(status: string): string {
  return isRunStatus(status) ? STATUS_GLYPH[status] : '?';
}

export function isActive(run: Pick<IRun, 'status'>): boolean {
  return ACTIVE_STATUSES.includes(run.status);
}

/** `42 s`, `3 min 5 s`, `1 h 2 min`; `''` for a run not finished. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) {
    return '';
  }
  if (seconds < 10) {
    return `${Math.round(seconds * 10) / 10} s`;
  }
  const total = Math.round(seconds);
  if (total < 60) {
    return `${total} s`;
  }
  const h = Math.floor(total / 3600);
  const min = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) {
    return min ? `${h} h ${min} min` : `${h} h`;
  }
  return s ? `${min} min ${s} s` : `${min} min`;
}

/**
 * `2026-12-07 08:00 Europe/Berlin`: a time as the wall clock of `timeZone`
 * (the schedule's), so "next due" reads as the cron does. Falls back to UTC
 * for a zone the browser does not know; `''` for no time.
 */
export function formatTime(iso: string | null | undefined, timeZone = 'UTC'): string {
  if (!iso) {
    return '';
  }
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    return '';
  }
  for (const zone of [timeZone || 'UTC', 'UTC']) {
    try {
      const parts = new Intl.DateTimeFormat('en-CA', {
        timeZone: zone,
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        hourCycle: 'h23'
      }).formatToParts(date);
      const part = (type: string): string => parts.find(p => p.type === type)?.value ?? '';
      return (
        `${part('year')}-${part('month')}-${part('day')} ` +
        `${part('hour')}:${part('minute')} ${zone}`
      );
    } catch {
      // RangeError: unknown time zone; try UTC
    }
  }
  return iso;
}

/** `0 8 * * 1 (Europe/Berlin)`, or a plain word for a schedule without cron. */
export function describeCron(schedule: Pick<ISchedule, 'cron' | 'timezone'>): string {
  if (!schedule.cron.trim()) {
    return 'run on demand only';
  }
  return `${schedule.cron} (${schedule.timezone || 'UTC'})`;
}

/** The first non-empty line of a run's error (the panel shows one line; the tooltip all). */
export function errorLine(error: string | null | undefined): string {
  for (const line of (error ?? '').split(/\r?\n/)) {
    if (line.trim()) {
      return line.trim();
    }
  }
  return '';
}

/** A trigger as a few words: `manual`, `cron`, `after a run` … */
export function describeTrigger(trigger: string): string {
  const kind = trigger.split(':', 1)[0];
  switch (kind) {
    case 'cron':
      return 'scheduled';
    case 'manual':
      return 'run now';
    case 'after':
      return 'after a schedule';
    case 'pipeline':
      return `after pipeline ${trigger.split(':')[1] ?? ''}`.trim();
    case 'rerun':
      return 're-run';
    default:
      return trigger;
  }
}

/** Formats a run has outputs for, in the order of {@link FORMATS} (others after). */
export function outputFormats(run: Pick<IRun, 'outputs'>): string[] {
  const have = Object.keys(run.outputs ?? {});
  const known = FORMATS.filter(f => have.includes(f));
  return [...known, ...have.filter(f => !(FORMATS as ReadonlyArray<string>).includes(f)).sort()];
}
