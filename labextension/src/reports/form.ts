/**
 * The form of the "Schedule this notebook" dialog: its fields, its one
 * error line and its own Cancel / Schedule buttons, so that a refusal of
 * the server (a bad cron, a recipient outside the allowed domains, an
 * unknown parameter) is shown in the dialog while it stays open with what
 * the user typed. dialog.ts hosts it in JupyterLab's `Dialog`.
 */

import { Widget } from '@lumino/widgets';

import { button, h, labeled } from '../builder/dom';
import { userErrorMessage } from '../errors';
import { IReportsApi } from './api';
import {
  DraftError,
  IScheduleDraft,
  NotebookJSON,
  defaultDraft,
  scheduleBody
} from './draft';
import { FORMATS, ISchedule } from './model';

export const FORM_CSS = {
  form: 'dap-schedule-form',
  error: 'dap-schedule-error',
  hint: 'dap-schedule-hint',
  formats: 'dap-schedule-formats',
  buttons: 'dap-schedule-buttons'
} as const;

type TextField = Exclude<keyof IScheduleDraft, 'formats'>;

export interface IScheduleFormOptions {
  api: Pick<IReportsApi, 'create'>;
  /** The notebook's path (its file name names the schedule and the outputs). */
  path: string;
  /** The notebook's JSON, read when the user saves (unsaved edits included). */
  notebook: () => NotebookJSON;
  onSaved: (schedule: ISchedule) => void;
  onCancel: () => void;
  /** Suggestions for the time zone field. */
  timeZones?: ReadonlyArray<string>;
}

/** The one line shown for a failed save: the server's message, first line only. */
export function saveErrorLine(error: unknown): string {
  const text = error instanceof DraftError ? error.message : userErrorMessage(error);
  return text.split(/\r?\n/).find(l => l.trim())?.trim() ?? 'The schedule was not saved';
}

/** Time zones the browser knows (`Intl.supportedValuesOf`), `[]` if it cannot list them. */
export function knownTimeZones(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (key: string) => string[] };
  try {
    return intl.supportedValuesOf?.('timeZone') ?? [];
  } catch {
    return [];
  }
}

let formCount = 0;

export class ScheduleForm extends Widget {
  constructor(options: IScheduleFormOptions) {
    super({ node: document.createElement('form') });
    this._options = options;
    this.id = `dap-schedule-form-${++formCount}`;
    this.addClass(FORM_CSS.form);
    const form = this.node as HTMLFormElement;
    form.noValidate = true;
    form.setAttribute('aria-label', 'Schedule this notebook');
    const doc = form.ownerDocument;
    const draft = defaultDraft(options.path, options.notebook());

    const input = (name: TextField, value: string, attrs: Record<string, string> = {}) => {
      const el = h(doc, 'input', { type: 'text', name, className: 'jp-mod-styled', ...attrs });
      el.value = value;
      this._fields[name] = el;
      return el;
    };
    const hint = (text: string, id: string) => {
      const el = h(doc, 'div', { className: FORM_CSS.hint, id });
      el.textContent = text;
      return el;
    };

    const zones = h(doc, 'datalist', { id: `${this.id}-zones` });
    for (const zone of options.timeZones ?? []) {
      zones.append(h(doc, 'option', { value: zone }));
    }

    const formats = h(doc, 'fieldset', { className: FORM_CSS.formats });
    const legend = h(doc, 'legend', { className: 'dap-field-label' });
    legend.textContent = 'Outputs';
    formats.append(legend);
    for (const fmt of FORMATS) {
      const box = h(doc, 'input', { type: 'checkbox', name: 'format', value: fmt });
      box.checked = draft.formats.includes(fmt);
      this._formats.push(box);
      const label = h(doc, 'label', { className: 'dap-schedule-format' }, box, ` ${fmt}`);
      formats.append(label);
    }

    const parameters = h(doc, 'textarea', {
      name: 'parameters',
      rows: 3,
      className: 'jp-mod-styled',
      spellcheck: 'false',
      placeholder: 'region=EU',
      'aria-describedby': `${this.id}-params-hint`
    });
    parameters.value = draft.parameters;
    this._fields.parameters = parameters;

    this._error = h(doc, 'div', { className: FORM_CSS.error, role: 'alert' });
    this._error.hidden = true;

    this._save = h(doc, 'button', {
      type: 'submit',
      className: 'jp-Dialog-button jp-mod-accept jp-mod-styled'
    });
    this._save.textContent = 'Schedule';
    const cancel = button(doc, 'Cancel', () => options.onCancel(), {
      className: 'jp-Dialog-button jp-mod-reject'
    });

    const when = h(
      doc,
      'div',
      { className: 'dap-schedule-row' },
      labeled(
        doc,
        'Cron',
        input('cron', draft.cron, {
          spellcheck: 'false',
          'aria-describedby': `${this.id}-cron-hint`
        })
      ),
      labeled(
        doc,
        'Time zone',
        input('timezone', draft.timezone, { list: zones.id, spellcheck: 'false' })
      )
    );
    form.append(
      labeled(doc, 'Name', input('name', draft.name, { autocomplete: 'off' })),
      when,
      hint(
        '“0 8 * * 1” (minute hour day month weekday) is Mondays at 08:00; ' +
          'empty: only when run by hand.',
        `${this.id}-cron-hint`
      ),
      zones,
      formats,
      labeled(
        doc,
        'Recipients',
        input('recipients', draft.recipients, {
          placeholder: 'ann@example.com, bob@example.com',
          autocomplete: 'off'
        })
      ),
      labeled(doc, 'Parameters', parameters),
      hint(
        'name=value, one a line, from the cell tagged “parameters”; typed like its defaults.',
        `${this.id}-params-hint`
      ),
      this._error,
      h(doc, 'div', { className: FORM_CSS.buttons }, cancel, this._save)
    );
    form.addEventListener('submit', event => {
      event.preventDefault();
      void this.save();
    });
  }

  /** The fields as typed. */
  get draft(): IScheduleDraft {
    const value = (name: TextField) => this._fields[name]?.value ?? '';
    return {
      name: value('name'),
      cron: value('cron'),
      timezone: value('timezone'),
      recipients: value('recipients'),
      parameters: value('parameters'),
      formats: this._formats.filter(b => b.checked).map(b => b.value)
    };
  }

  /** The error line shown (`''`: none). */
  get error(): string {
    return this._error.hidden ? '' : (this._error.textContent ?? '');
  }

  /** Whether a save is under way. */
  get saving(): boolean {
    return this._saving;
  }

  /**
   * Check the fields, `POST schedules`, and on success hand the schedule
   * to `onSaved`; otherwise show one error line and stay open.
   */
  async save(): Promise<ISchedule | null> {
    if (this._saving) {
      return null;
    }
    this._showError(null);
    let body;
    try {
      body = scheduleBody(this.draft, this._options.notebook(), this._options.path);
    } catch (error) {
      this._showError(error);
      return null;
    }
    this._setSaving(true);
    try {
      const schedule = await this._options.api.create(body);
      this._options.onSaved(schedule);
      return schedule;
    } catch (error) {
      this._showError(error);
      return null;
    } finally {
      this._setSaving(false);
    }
  }

  private _setSaving(on: boolean): void {
    this._saving = on;
    this._save.disabled = on;
    this._save.textContent = on ? 'Scheduling…' : 'Schedule';
    this.node.setAttribute('aria-busy', String(on));
  }

  private _showError(error: unknown): void {
    for (const el of [...Object.values(this._fields), ...this._formats]) {
      el?.removeAttribute('aria-invalid');
    }
    if (error === null) {
      this._error.textContent = '';
      this._error.hidden = true;
      return;
    }
    this._error.textContent = saveErrorLine(error);
    this._error.hidden = false;
    if (error instanceof DraftError) {
      const target = error.field === 'formats' ? this._formats[0] : this._fields[error.field];
      target?.setAttribute('aria-invalid', 'true');
      target?.focus();
    }
  }

  private _options: IScheduleFormOptions;
  private _fields: Partial<Record<TextField, HTMLInputElement | HTMLTextAreaElement>> = {};
  private _formats: HTMLInputElement[] = [];
  private _error: HTMLDivElement;
  private _save: HTMLButtonElement;
  private _saving = false;
}
