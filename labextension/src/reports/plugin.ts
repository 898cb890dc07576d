import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { LabIcon, ToolbarButton } from '@jupyterlab/ui-components';

import { restReportsApi } from './api';
import { SCHEDULE_DIALOG_TITLE, confirmRemove, showScheduleDialog } from './dialog';
import { NotebookJSON } from './draft';
import { openOutput } from './open';
import { REPORTS_PANEL_ID, REPORTS_TITLE, ReportsPanel } from './panel';

/** Command: the "Schedule this notebook" dialog for the current notebook. */
export const SCHEDULE_COMMAND = 'dap:schedule-notebook';
/** Command: show the Reports panel. */
export const OPEN_REPORTS_COMMAND = 'dap:open-reports';
/** Command: reload the Reports panel. */
export const REFRESH_REPORTS_COMMAND = 'dap:refresh-reports';

/** A clock; `jp-icon3` makes it follow the theme. */
const CLOCK_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"
  viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161"><path d="M12 2a10 10 0 1 0 0 20
  10 10 0 0 0 0-20zm0 2a8 8 0 1 1 0 16 8 8 0 0 1 0-16zm-1 3v6l5.2 3.1.8-1.3-4.5-2.7V7H11z"/>
  </g>
</svg>`;

export const reportsIcon = new LabIcon({ name: 'dap:reports', svgstr: CLOCK_SVG });

const reportsPlugin: JupyterFrontEndPlugin<void> = {
  id: '@dap/labextension:reports',
  description: 'DAP scheduled reports: the Reports panel and "Schedule this notebook"',
  autoStart: true,
  optional: [ILayoutRestorer, INotebookTracker, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    tracker: INotebookTracker | null,
    palette: ICommandPalette | null
  ) => {
    const api = restReportsApi;
    const panel = new ReportsPanel({
      api,
      confirmRemove,
      openOutput: (run, fmt, schedule) =>
        openOutput(
          () => api.output(run.id, fmt),
          fmt,
          `${schedule.name}-${(run.started_at ?? run.due_at).slice(0, 16).replace(/[:T]/g, '')}`
        )
    });
    panel.title.icon = reportsIcon;
    app.shell.add(panel, 'left', { rank: 650, type: REPORTS_TITLE });
    restorer?.add(panel, REPORTS_PANEL_ID);

    const schedule = async (notebook: NotebookPanel): Promise<void> => {
      const saved = await showScheduleDialog({
        api,
        path: notebook.context.path,
        notebook: () => notebook.context.model.toJSON() as unknown as NotebookJSON
      });
      if (saved) {
        app.shell.activateById(panel.id);
        await panel.reveal(saved.id);
      }
    };

    app.commands.addCommand(SCHEDULE_COMMAND, {
      label: SCHEDULE_DIALOG_TITLE,
      caption: 'Run this notebook as a report on a schedule, as you, with your grants',
      icon: reportsIcon,
      isEnabled: () => !!tracker?.currentWidget,
      execute: () => {
        const current = tracker?.currentWidget;
        return current ? schedule(current) : undefined;
      }
    });
    app.commands.addCommand(OPEN_REPORTS_COMMAND, {
      label: 'Show DAP reports',
      caption: 'Scheduled reports and their runs',
      execute: () => app.shell.activateById(panel.id)
    });
    app.commands.addCommand(REFRESH_REPORTS_COMMAND, {
      label: 'Refresh DAP reports',
      execute: () => panel.refresh()
    });
    palette?.addItem({ command: SCHEDULE_COMMAND, category: 'DAP' });
    palette?.addItem({ command: OPEN_REPORTS_COMMAND, category: 'DAP' });

    // The toolbar button schedules the notebook it sits in, current or not.
    app.docRegistry.addWidgetExtension('Notebook', {
      createNew: (notebook: NotebookPanel) => {
        const item = new ToolbarButton({
          icon: reportsIcon,
          label: 'Schedule',
          tooltip: 'Schedule this notebook as a report',
          className: 'dap-schedule-button',
          onClick: () => void schedule(notebook)
        });
        if (!notebook.toolbar.insertAfter('cellType', 'dapSchedule', item)) {
          notebook.toolbar.addItem('dapSchedule', item);
        }
        return item;
      }
    });
  }
};

/** Plugins of scheduled reports (see reports/). */
export const reportsPlugins: JupyterFrontEndPlugin<any>[] = [reportsPlugin];
