import { JupyterFrontEndPlugin } from '@jupyterlab/application';

/** Plugins of the visual query builder and the lineage graph (see builder/). */
export const builderPlugins: JupyterFrontEndPlugin<any>[] = [];
