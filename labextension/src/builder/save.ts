/**
 * "Save as dashboard": the builder's query (its spec, rebuilt and checked by
 * the server) and its chart, published as a dashboard the user owns. The
 * dashboard holds the query, not its rows: every viewer's kernel runs it as
 * that viewer.
 */

import type { IBuilderApi, IDashboardRequest, IPublishedDashboard, IQueryPage } from './api';
import type { ChartKind } from './chart';
import type { IQuerySpec } from './types';

/** Asks the user for the dashboard's name and title; `null` if they cancel. */
export type DashboardPrompt = (suggested: { name: string; title: string }) => Promise<{ name: string; title: string } | null>;

/** Dashboard names the server accepts: lower-case letters, digits, '-' and '_'. */
export const DASHBOARD_NAME = /^[a-z0-9][a-z0-9_-]{0,99}$/;

/** A name and title to suggest for a query of `table` (`schema.table`). */
export function suggestDashboard(table: string, groupBy: string[]): { name: string; title: string } {
  const base = table.split('.').pop() ?? 'query';
  const by = groupBy.length ? ` by ${groupBy.map(r => r.split('.').pop()).join(', ')}` : '';
  const title = `${base[0]?.toUpperCase() ?? ''}${base.slice(1)}${by}`;
  const name = title
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 100);
  return { name: name || 'query', title };
}

/** The chart shown for `page`, by output column names; `null` without one. */
export function chartOf(
  page: IQueryPage | null,
  axes: { x: number; y: number } | null,
  kind: ChartKind
): IDashboardRequest['chart'] {
  const x = axes ? page?.columns[axes.x]?.name : undefined;
  const y = axes ? page?.columns[axes.y]?.name : undefined;
  return x && y ? { kind, x, y } : null;
}

/** Ask, then publish; the dashboard, or `null` if the user cancelled. */
export async function saveAsDashboard(
  api: Pick<IBuilderApi, 'publishDashboard'>,
  ask: DashboardPrompt,
  spec: IQuerySpec,
  chart: IDashboardRequest['chart']
): Promise<IPublishedDashboard | null> {
  const answer = await ask(suggestDashboard(spec.table, spec.group_by));
  if (!answer) {
    return null;
  }
  const name = answer.name.trim();
  if (!DASHBOARD_NAME.test(name)) {
    throw new Error(`Dashboard name “${name}”: use lower-case letters, digits, '-' and '_'`);
  }
  return api.publishDashboard({ name, title: answer.title.trim() || name, spec, chart });
}

/** The status line after publishing. */
export function publishedLabel(d: IPublishedDashboard): string {
  return `Published dashboard ${d.name} (${d.title}): ${d.url}`;
}
