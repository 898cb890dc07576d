/**
 * The dialogs of scheduled reports in JupyterLab's `Dialog`: "Schedule this
 * notebook" (the form brings its own buttons, so the dialog stays open on a
 * refused save) and the confirmation before a schedule is removed.
 */

import { Dialog, showDialog } from '@jupyterlab/apputils';

import { IReportsApi } from './api';
import { NotebookJSON } from './draft';
import { ScheduleForm, knownTimeZones } from './form';
import { ISchedule } from './model';

export const SCHEDULE_DIALOG_TITLE = 'Schedule this notebook';

export interface IScheduleDialogOptions {
  api: Pick<IReportsApi, 'create'>;
  path: string;
  notebook: () => NotebookJSON;
}

/** Show the dialog; the saved schedule, or `null` if the user cancelled. */
export async function showScheduleDialog(
  options: IScheduleDialogOptions
): Promise<ISchedule | null> {
  let saved: ISchedule | null = null;
  let dialog: Dialog<unknown> | null = null;
  const form = new ScheduleForm({
    ...options,
    timeZones: knownTimeZones(),
    onSaved: schedule => {
      saved = schedule;
      dialog?.reject(); // closes it; `saved` says how it ended
    },
    onCancel: () => dialog?.reject()
  });
  // No dialog buttons: Enter in a field submits the form, not the dialog.
  dialog = new Dialog({
    title: SCHEDULE_DIALOG_TITLE,
    body: form,
    buttons: [],
    focusNodeSelector: 'input[name="name"]'
  });
  dialog.addClass('dap-schedule-dialog');
  await dialog.launch();
  return saved;
}

/** "Remove report X?" — `true` to remove. */
export async function confirmRemove(schedule: ISchedule): Promise<boolean> {
  const result = await showDialog({
    title: 'Remove scheduled report',
    body:
      `Remove “${schedule.name}”? It will not run again, and its past runs ` +
      'and their outputs are deleted.',
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Remove' })],
    defaultButton: 0
  });
  return result.button.accept;
}
