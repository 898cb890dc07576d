/**
 * The "Reports" panel of the left sidebar: the caller's schedules, each with
 * its latest runs, outputs and actions (Run now, Pause/Resume, Remove).
 *
 * While a run shown is queued, running or retrying the panel reloads every
 * few seconds, and stops as soon as none is (or when it is hidden: showing
 * it again reloads).
 */

import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { button, focusKey, h, restoreFocus } from '../builder/dom';
import { userErrorMessage } from '../errors';
import { IReportsApi, RUNS_SHOWN } from './api';
import {
  IRun,
  ISchedule,
  describeCron,
  describeTrigger,
  errorLine,
  formatDuration,
  formatTime,
  isActive,
  outputFormats,
  statusGlyph
} from './model';

export const REPORTS_PANEL_ID = 'dap-reports-panel';
export const REPORTS_TITLE = 'Reports';
/** Reload interval while a run is not over. */
export const POLL_MS = 3000;
export const EMPTY_REPORTS =
  'No scheduled reports yet. Open a notebook and use “Schedule this notebook”.';

export const REPORTS_CSS = {
  panel: 'dap-reports-panel',
  header: 'dap-reports-header',
  title: 'dap-reports-title',
  refresh: 'dap-reports-refresh',
  status: 'dap-reports-status',
  error: 'dap-reports-error',
  list: 'dap-reports-list',
  empty: 'dap-reports-empty',
  item: 'dap-report',
  fresh: 'dap-report-new',
  name: 'dap-report-name',
  paused: 'dap-report-paused',
  when: 'dap-report-when',
  actions: 'dap-report-actions',
  message: 'dap-report-message',
  runs: 'dap-report-runs',
  run: 'dap-run',
  noRuns: 'dap-run-none',
  badge: 'dap-run-badge',
  runError: 'dap-run-error',
  output: 'dap-run-output'
} as const;

export interface IReportsPanelOptions {
  api: IReportsApi;
  /** Ask before removing a schedule (`true`: remove). Without it, removes at once. */
  confirmRemove?: (schedule: ISchedule) => Promise<boolean>;
  /** Fetch and show one output of a run (called from the click itself). */
  openOutput?: (run: IRun, fmt: string, schedule: ISchedule) => Promise<void>;
  pollMs?: number;
}

interface IItem {
  schedule: ISchedule;
  runs: IRun[];
  runsError: string | null;
  /** An action's failure, shown under the schedule until the next one. */
  message: string | null;
}

/** A run's status as a badge: glyph and word (never colour alone). */
export function renderRunBadge(doc: Document, status: string): HTMLSpanElement {
  const badge = h(doc, 'span', {
    className: `${REPORTS_CSS.badge} dap-run-${status.replace(/[^a-z]/g, '') || 'unknown'}`,
    title: `Run ${status}`
  });
  const glyph = h(doc, 'span', { className: 'dap-run-glyph', 'aria-hidden': 'true' });
  glyph.textContent = statusGlyph(status);
  badge.append(glyph, status);
  return badge;
}

export class ReportsPanel extends Widget {
  constructor(options: IReportsPanelOptions) {
    super();
    this._options = options;
    this.id = REPORTS_PANEL_ID;
    this.addClass(REPORTS_CSS.panel);
    this.title.caption = REPORTS_TITLE;
    const doc = this.node.ownerDocument;

    const heading = h(doc, 'h2', { className: REPORTS_CSS.title });
    heading.textContent = REPORTS_TITLE;
    this._refresh = button(doc, 'Refresh', () => void this.refresh(), {
      className: `${REPORTS_CSS.refresh} jp-mod-reject`,
      title: 'Reload the schedules and their runs'
    });
    const header = h(doc, 'div', { className: REPORTS_CSS.header }, heading, this._refresh);
    this._status = h(doc, 'div', { className: REPORTS_CSS.status, 'aria-live': 'polite' });
    this._error = h(doc, 'div', { className: REPORTS_CSS.error, role: 'alert' });
    this._error.hidden = true;
    this._list = h(doc, 'ul', {
      className: REPORTS_CSS.list,
      'aria-label': 'Scheduled reports'
    });
    this.node.append(header, this._status, this._error, this._list);
  }

  /** The schedules shown. */
  get schedules(): ISchedule[] {
    return this._items.map(i => i.schedule);
  }

  /** The runs shown for a schedule. */
  runsOf(scheduleId: string): IRun[] {
    return this._items.find(i => i.schedule.id === scheduleId)?.runs ?? [];
  }

  /** Whether a reload is pending because a run shown is not over. */
  get polling(): boolean {
    return this._pollTimer !== 0;
  }

  /**
   * Reload the schedules and their runs. Concurrent calls are fine: only
   * the latest answer is drawn. `quiet`: no "Loading…" (polls).
   */
  async refresh(quiet = false): Promise<void> {
    this._stopPolling();
    const token = ++this._requestId;
    this._loaded = true;
    this._refresh.disabled = true;
    if (!quiet) {
      this._status.textContent = 'Loading…';
    }
    try {
      const schedules = await this._options.api.schedules();
      const items = await Promise.all(schedules.map(s => this._load(s)));
      if (token !== this._requestId || this.isDisposed) {
        return;
      }
      this._items = items;
      this._setError(null);
      this._render();
    } catch (error) {
      if (token !== this._requestId || this.isDisposed) {
        return;
      }
      console.error('DAP: failed to load the schedules', error);
      this._items = [];
      this._list.replaceChildren();
      this._status.textContent = '';
      this._setError(userErrorMessage(error));
    } finally {
      if (token === this._requestId && !this.isDisposed) {
        this._refresh.disabled = false;
        this._poll();
      }
    }
  }

  /** Reload, then bring schedule `id` into view, marked as new (after the dialog saved it). */
  async reveal(scheduleId: string): Promise<void> {
    this._fresh = scheduleId;
    await this.refresh();
    const li = this._item(scheduleId);
    li?.scrollIntoView?.({ block: 'nearest' });
    li?.focus();
  }

  dispose(): void {
    this._stopPolling();
    super.dispose();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (this.isVisible && !this._loaded) {
      void this.refresh();
    }
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.refresh(this._loaded);
  }

  private async _load(schedule: ISchedule): Promise<IItem> {
    const old = this._items.find(i => i.schedule.id === schedule.id);
    const item: IItem = { schedule, runs: [], runsError: null, message: old?.message ?? null };
    try {
      item.runs = await this._options.api.runs(schedule.id, RUNS_SHOWN);
    } catch (error) {
      item.runsError = `Runs unavailable: ${userErrorMessage(error)}`;
    }
    return item;
  }

  private _poll(): void {
    this._stopPolling();
    if (this.isDisposed || !this._items.some(i => i.runs.some(isActive))) {
      return;
    }
    this._pollTimer = window.setTimeout(() => {
      this._pollTimer = 0;
      if (this.isAttached && !this.isVisible) {
        return; // hidden: showing the panel reloads it
      }
      void this.refresh(true);
    }, this._options.pollMs ?? POLL_MS);
  }

  private _stopPolling(): void {
    window.clearTimeout(this._pollTimer);
    this._pollTimer = 0;
  }

  private _render(): void {
    const doc = this.node.ownerDocument;
    const focus = focusKey(doc, this._list);
    const n = this._items.length;
    this._status.textContent = n === 1 ? '1 schedule' : `${n} schedules`;
    if (!n) {
      const empty = h(doc, 'li', { className: REPORTS_CSS.empty });
      empty.textContent = EMPTY_REPORTS;
      this._list.replaceChildren(empty);
      return;
    }
    this._list.replaceChildren(...this._items.map(item => this._renderItem(doc, item)));
    restoreFocus(this._list, focus);
  }

  private _renderItem(doc: Document, item: IItem): HTMLLIElement {
    const s = item.schedule;
    const name = h(doc, 'span', { className: REPORTS_CSS.name, title: s.notebook_name });
    name.textContent = s.name;
    const head = h(doc, 'div', { className: 'dap-report-head' }, name);
    if (s.paused) {
      const paused = h(doc, 'span', { className: REPORTS_CSS.paused });
      paused.textContent = 'Paused';
      head.append(paused);
    }

    const cron = h(doc, 'span', { className: 'dap-report-cron' });
    cron.textContent = describeCron(s);
    const next = h(doc, 'span', { className: 'dap-report-next' });
    next.textContent = s.paused
      ? 'not due while paused'
      : s.next_due
        ? `next ${formatTime(s.next_due, s.timezone)}`
        : '';
    const when = h(doc, 'div', { className: REPORTS_CSS.when }, cron, next);

    const running = item.runs.some(isActive);
    const pauseLabel = s.paused ? 'Resume' : 'Pause';
    const runNow: HTMLButtonElement = button(
      doc,
      'Run now',
      () => void this._act(s, 'run', runNow),
      {
        className: 'jp-mod-accept',
        'data-focus': `run:${s.id}`,
        title: running ? 'A run of this report is not over yet' : `Run ${s.name} now`,
        'aria-label': `Run ${s.name} now`
      }
    );
    const pause: HTMLButtonElement = button(
      doc,
      pauseLabel,
      () => void this._act(s, s.paused ? 'resume' : 'pause', pause),
      { 'data-focus': `pause:${s.id}`, 'aria-label': `${pauseLabel} ${s.name}` }
    );
    const remove: HTMLButtonElement = button(
      doc,
      'Remove',
      () => void this._act(s, 'remove', remove),
      {
        className: 'jp-mod-warn',
        'data-focus': `remove:${s.id}`,
        'aria-label': `Remove ${s.name}`
      }
    );
    const actions = h(doc, 'div', { className: REPORTS_CSS.actions }, runNow, pause, remove);

    const li = h(
      doc,
      'li',
      {
        className: `${REPORTS_CSS.item}${s.id === this._fresh ? ` ${REPORTS_CSS.fresh}` : ''}`,
        'data-schedule-id': s.id,
        'data-name': s.name,
        tabindex: -1,
        'aria-label': `Report ${s.name}`
      },
      head,
      when,
      actions
    );
    if (item.message) {
      const message = h(doc, 'div', { className: REPORTS_CSS.message, role: 'alert' });
      message.textContent = item.message;
      li.append(message);
    }
    li.append(this._renderRuns(doc, item));
    return li;
  }

  private _renderRuns(doc: Document, item: IItem): HTMLElement {
    const list = h(doc, 'ul', {
      className: REPORTS_CSS.runs,
      'aria-label': `Latest runs of ${item.schedule.name}`
    });
    if (item.runsError) {
      const li = h(doc, 'li', { className: `${REPORTS_CSS.noRuns} ${REPORTS_CSS.runError}` });
      li.textContent = item.runsError;
      list.append(li);
    } else if (!item.runs.length) {
      const li = h(doc, 'li', { className: REPORTS_CSS.noRuns });
      li.textContent = 'No runs yet';
      list.append(li);
    }
    for (const run of item.runs) {
      list.append(this._renderRun(doc, item.schedule, run));
    }
    return list;
  }

  private _renderRun(doc: Document, schedule: ISchedule, run: IRun): HTMLLIElement {
    const started = formatTime(run.started_at ?? run.due_at, schedule.timezone);
    const time = h(doc, 'span', { className: 'dap-run-time' });
    time.textContent = started;
    const facts = [describeTrigger(run.trigger)];
    if (run.attempt > 1) {
      facts.push(`attempt ${run.attempt}`);
    }
    const duration = formatDuration(run.duration_s);
    if (duration) {
      facts.push(duration);
    }
    const detail = h(doc, 'span', { className: 'dap-run-detail' });
    detail.textContent = facts.join(' · ');
    const li = h(
      doc,
      'li',
      { className: REPORTS_CSS.run, 'data-run-id': run.id, 'data-status': run.status },
      renderRunBadge(doc, run.status),
      time,
      detail
    );
    const over = run.status === 'succeeded' || run.status === 'failed';
    const formats = over ? outputFormats(run) : [];
    if (formats.length) {
      const outputs = h(doc, 'span', { className: 'dap-run-outputs' });
      for (const fmt of formats) {
        outputs.append(
          button(doc, fmt, () => void this._open(schedule, run, fmt), {
            className: `${REPORTS_CSS.output} jp-mod-minimal`,
            'data-format': fmt,
            'data-focus': `out:${run.id}:${fmt}`,
            title: fmt === 'ipynb' ? 'Download the executed notebook' : `Open the ${fmt} report`,
            'aria-label': `${fmt} output of the run of ${started}`
          })
        );
      }
      li.append(outputs);
    }
    const error = errorLine(run.error);
    if (run.status === 'failed' && error) {
      const line = h(doc, 'div', { className: REPORTS_CSS.runError, title: run.error });
      line.textContent = error;
      li.append(line);
    }
    return li;
  }

  private async _act(
    schedule: ISchedule,
    action: 'run' | 'pause' | 'resume' | 'remove',
    control: HTMLButtonElement
  ): Promise<void> {
    const api = this._options.api;
    this._clearMessage(schedule.id);
    // One click, one request: the button stays off until the answer (the
    // list is drawn anew then).
    control.disabled = true;
    try {
      if (action === 'remove') {
        const ok = this._options.confirmRemove ? await this._options.confirmRemove(schedule) : true;
        if (!ok) {
          return;
        }
        await api.remove(schedule.id);
      } else if (action === 'run') {
        const run = await api.runNow(schedule.id);
        // Drawn at once, so the badge shows before the reload answers.
        const item = this._items.find(i => i.schedule.id === schedule.id);
        if (item && !item.runs.some(r => r.id === run.id)) {
          item.runs = [run, ...item.runs].slice(0, RUNS_SHOWN);
          this._render();
        }
      } else {
        await (action === 'pause' ? api.pause(schedule.id) : api.resume(schedule.id));
      }
    } catch (error) {
      control.disabled = false;
      this._setMessage(schedule.id, userErrorMessage(error));
      return;
    } finally {
      if (action === 'remove') {
        control.disabled = false; // also when the user said no
      }
    }
    await this.refresh(true);
  }

  private async _open(schedule: ISchedule, run: IRun, fmt: string): Promise<void> {
    this._clearMessage(schedule.id);
    const open = this._options.openOutput;
    if (!open) {
      return;
    }
    try {
      await open(run, fmt, schedule);
    } catch (error) {
      this._setMessage(schedule.id, `Cannot open the ${fmt} output: ${userErrorMessage(error)}`);
    }
  }

  private _setMessage(scheduleId: string, message: string | null): void {
    const item = this._items.find(i => i.schedule.id === scheduleId);
    if (item && item.message !== message) {
      item.message = message;
      this._render();
    }
  }

  /** Forget a schedule's message without drawing the list anew (its buttons stay). */
  private _clearMessage(scheduleId: string): void {
    const item = this._items.find(i => i.schedule.id === scheduleId);
    if (item) {
      item.message = null;
    }
    this._item(scheduleId)?.querySelector(`.${REPORTS_CSS.message}`)?.remove();
  }

  private _setError(message: string | null): void {
    this._error.textContent = message ?? '';
    this._error.hidden = message === null;
  }

  private _item(scheduleId: string): HTMLElement | null {
    for (const li of Array.from(this._list.children) as HTMLElement[]) {
      if (li.dataset.scheduleId === scheduleId) {
        return li;
      }
    }
    return null;
  }

  private _options: IReportsPanelOptions;
  private _items: IItem[] = [];
  private _refresh: HTMLButtonElement;
  private _status: HTMLDivElement;
  private _error: HTMLDivElement;
  private _list: HTMLUListElement;
  private _requestId = 0;
  private _loaded = false;
  private _pollTimer = 0;
  private _fresh: string | null = null;
}
