/**
 * The quick chart under a query result: bar, line or scatter, drawn with d3
 * as SVG. Colours come from CSS classes (`--jp-*` variables), so the chart
 * follows the light and dark themes.
 */

import * as d3 from 'd3';

import { isNumericType, valueKind } from './columns';
import type { IColumnInfo } from './types';

export type ChartKind = 'bar' | 'line' | 'scatter';

export const CHART_KINDS: ReadonlyArray<ChartKind> = ['bar', 'line', 'scatter'];

/** Bars drawn at most (a bar per row). */
export const MAX_BARS = 100;

const WIDTH = 640;
const HEIGHT = 280;
const MARGIN = { top: 12, right: 16, bottom: 56, left: 64 };

/**
 * Default axes: x is the first column, y the first numeric column (other
 * than x when there is one); `null` when there is nothing numeric to plot.
 */
export function chooseAxes(
  columns: IColumnInfo[]
): { x: number; y: number } | null {
  if (!columns.length) {
    return null;
  }
  const numeric = columns
    .map((c, i) => (isNumericType(c.type) ? i : -1))
    .filter(i => i >= 0);
  const y = numeric.find(i => i !== 0) ?? numeric[0];
  return y === undefined ? null : { x: 0, y };
}

/** Indexes of the columns a chart can use as y. */
export function numericColumns(columns: IColumnInfo[]): number[] {
  return columns
    .map((c, i) => (isNumericType(c.type) ? i : -1))
    .filter(i => i >= 0);
}

function toNumber(v: unknown): number {
  if (typeof v === 'number') {
    return v;
  }
  if (typeof v === 'string' && v.trim() !== '') {
    return Number(v);
  }
  if (typeof v === 'boolean') {
    return v ? 1 : 0;
  }
  return NaN;
}

function label(v: unknown): string {
  return v === null || v === undefined ? 'null' : String(v);
}

/**
 * Draw the chart into `host` (its content is replaced). Returns the number
 * of points drawn.
 */
export function drawChart(
  host: HTMLElement,
  columns: IColumnInfo[],
  rows: unknown[][],
  kind: ChartKind,
  x: number,
  y: number
): number {
  const root = d3.select(host);
  root.selectAll('*').remove();
  const xCol = columns[x];
  const yCol = columns[y];
  if (!xCol || !yCol) {
    return 0;
  }
  const points = rows
    .map(r => ({ x: r[x], y: toNumber(r[y]) }))
    .filter(p => Number.isFinite(p.y))
    .slice(0, kind === 'bar' ? MAX_BARS : undefined);

  const svg = root
    .append('svg')
    .attr('class', 'dap-chart-svg')
    .attr('viewBox', `0 0 ${WIDTH} ${HEIGHT}`)
    .attr('preserveAspectRatio', 'xMidYMid meet')
    .attr('role', 'img')
    .attr('aria-label', `${kind} chart of ${yCol.name} by ${xCol.name}`);
  svg.append('title').text(`${yCol.name} by ${xCol.name}`);
  const innerW = WIDTH - MARGIN.left - MARGIN.right;
  const innerH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const g = svg
    .append('g')
    .attr('transform', `translate(${MARGIN.left},${MARGIN.top})`);

  const ys = points.map(p => p.y);
  const yLow = Math.min(0, d3.min(ys) ?? 0);
  const yHigh = Math.max(0, d3.max(ys) ?? 0);
  const yScale = d3
    .scaleLinear()
    .domain([yLow, yHigh === yLow ? yLow + 1 : yHigh])
    .nice()
    .range([innerH, 0]);

  const xKind = valueKind(xCol.type);
  let position: (v: unknown) => number;
  let axis: d3.Axis<any>;
  if (kind === 'bar') {
    const band = d3
      .scaleBand<string>()
      .domain(points.map(p => label(p.x)))
      .range([0, innerW])
      .padding(0.15);
    position = v => (band(label(v)) ?? 0) + band.bandwidth() / 2;
    axis = d3.axisBottom(band);
    g.selectAll('rect.dap-chart-bar')
      .data(points)
      .join('rect')
      .attr('class', 'dap-chart-bar')
      .attr('x', p => band(label(p.x)) ?? 0)
      .attr('width', band.bandwidth())
      .attr('y', p => yScale(Math.max(0, p.y)))
      .attr('height', p => Math.abs(yScale(p.y) - yScale(0)))
      .append('title')
      .text(p => `${label(p.x)}: ${p.y}`);
  } else {
    if (xKind === 'number') {
      const xs = points.map(p => toNumber(p.x));
      const scale = d3
        .scaleLinear()
        .domain(d3.extent(xs) as [number, number])
        .nice()
        .range([0, innerW]);
      position = v => scale(toNumber(v));
      axis = d3.axisBottom(scale);
      points.sort((a, b) => toNumber(a.x) - toNumber(b.x));
    } else if (xKind === 'date') {
      const time = (v: unknown): number => Date.parse(label(v));
      const scale = d3
        .scaleTime()
        .domain(d3.extent(points, p => time(p.x)) as [number, number])
        .range([0, innerW]);
      position = v => scale(time(v));
      axis = d3.axisBottom(scale);
      points.sort((a, b) => time(a.x) - time(b.x));
    } else {
      const scale = d3
        .scalePoint<string>()
        .domain(points.map(p => label(p.x)))
        .range([0, innerW])
        .padding(0.5);
      position = v => scale(label(v)) ?? 0;
      axis = d3.axisBottom(scale);
    }
    if (kind === 'line') {
      const line = d3
        .line<{ x: unknown; y: number }>()
        .x(p => position(p.x))
        .y(p => yScale(p.y));
      g.append('path')
        .datum(points)
        .attr('class', 'dap-chart-line')
        .attr('d', line);
    }
    g.selectAll('circle.dap-chart-point')
      .data(points)
      .join('circle')
      .attr('class', 'dap-chart-point')
      .attr('cx', p => position(p.x))
      .attr('cy', p => yScale(p.y))
      .attr('r', kind === 'line' ? 2.5 : 3.5)
      .append('title')
      .text(p => `${label(p.x)}: ${p.y}`);
  }

  const xAxis = g
    .append('g')
    .attr('class', 'dap-chart-axis dap-chart-x')
    .attr('transform', `translate(0,${innerH})`)
    .call(axis);
  if (points.length > 8 && (kind === 'bar' || xKind === 'text')) {
    xAxis
      .selectAll('text')
      .attr('text-anchor', 'end')
      .attr('transform', 'rotate(-35)')
      .attr('dx', '-0.4em')
      .attr('dy', '0.6em');
  }
  g.append('g').attr('class', 'dap-chart-axis dap-chart-y').call(d3.axisLeft(yScale).ticks(6));
  svg
    .append('text')
    .attr('class', 'dap-chart-label')
    .attr('x', MARGIN.left + innerW / 2)
    .attr('y', HEIGHT - 4)
    .attr('text-anchor', 'middle')
    .text(xCol.name);
  svg
    .append('text')
    .attr('class', 'dap-chart-label')
    .attr('transform', `translate(14,${MARGIN.top + innerH / 2}) rotate(-90)`)
    .attr('text-anchor', 'middle')
    .text(yCol.name);
  return points.length;
}
