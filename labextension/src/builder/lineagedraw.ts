/**
 * Drawing of the laid-out lineage graph with d3 as SVG: nodes styled by
 * role and kind, edges with their processes on hover, cycles drawn below
 * the nodes, a column's path highlighted. Table nodes are buttons (click,
 * Enter or Space); other kinds are labelled but not clickable.
 */

import * as d3 from 'd3';

import type { ILineage } from './api';
import {
  BELOW,
  NODE_HEIGHT,
  NODE_WIDTH,
  describeLink,
  layoutLineage,
  rootName,
  type ILineageGraphLink,
  type ILineageGraphNode,
  type ILineageLayout
} from './lineagegraph';
import { edgeKey, type IColumnPath } from './lineagepath';

function ellipsis(text: string, max = 26): string {
  return text.length > max ? `…${text.slice(text.length - max + 1)}` : text;
}

function linkPath(l: ILineageGraphLink): string {
  if (l.back) {
    const x1 = l.source.x;
    const y1 = l.source.y + NODE_HEIGHT / 2;
    const x2 = l.target.x;
    const y2 = l.target.y + NODE_HEIGHT / 2;
    return `M ${x1} ${y1} C ${x1} ${y1 + BELOW + 10}, ${x2} ${y2 + BELOW + 10}, ${x2} ${y2}`;
  }
  const x1 = l.source.x + NODE_WIDTH / 2;
  const x2 = l.target.x - NODE_WIDTH / 2;
  const mid = (x1 + x2) / 2;
  return `M ${x1} ${l.source.y} C ${mid} ${l.source.y}, ${mid} ${l.target.y}, ${x2} ${l.target.y}`;
}

function kindLine(n: ILineageGraphNode, path: IColumnPath | null): string {
  const columns = path?.tables.get(n.name);
  if (columns && columns.length) {
    return `column ${columns.join(', ')}`;
  }
  if (n.role === 'center') {
    return `${n.kind} · this table`;
  }
  return `${n.kind} · ${n.role}`;
}

function nodeTitle(n: ILineageGraphNode): string {
  if (n.clickable) {
    return `${n.name}: show its lineage`;
  }
  if (n.kind === 'restricted') {
    return `${n.name}: a table you may not read`;
  }
  return `${n.name} (${n.kind})`;
}

export interface IDrawOptions {
  /** Gets clickable table names. */
  onSelect: (table: string) => void;
  /** Gets the edge under the pointer, `null` when it leaves. */
  onHover?: (link: ILineageGraphLink | null) => void;
  /** Highlight this column's path. */
  path?: IColumnPath | null;
}

let markerCount = 0;

/** Draw the graph into `host`. */
export function drawLineage(
  host: HTMLElement,
  lineage: ILineage,
  options: IDrawOptions | ((table: string) => void)
): ILineageLayout {
  const opts: IDrawOptions = typeof options === 'function' ? { onSelect: options } : options;
  const path = opts.path ?? null;
  const layout = layoutLineage(lineage);
  const { nodes, links, width, height } = layout;
  const root = d3.select(host);
  root.selectAll('*').remove();
  const svg = root
    .append('svg')
    .attr('class', `dap-lineage-svg${path ? ' dap-lineage-has-path' : ''}`)
    .attr('width', width)
    .attr('height', height)
    .attr('viewBox', `0 0 ${width} ${height}`)
    .attr('role', 'group')
    .attr('aria-label', `Lineage of ${rootName(lineage)}`);
  const marker = `dap-lineage-arrow-${++markerCount}`;
  svg
    .append('defs')
    .append('marker')
    .attr('id', marker)
    .attr('viewBox', '0 0 10 10')
    .attr('refX', 10)
    .attr('refY', 5)
    .attr('markerWidth', 7)
    .attr('markerHeight', 7)
    .attr('orient', 'auto-start-reverse')
    .append('path')
    .attr('class', 'dap-lineage-arrow')
    .attr('d', 'M 0 0 L 10 5 L 0 10 z');
  const onPath = (l: ILineageGraphLink): boolean =>
    !!path && path.edges.has(edgeKey(l.source.name, l.target.name));
  const edge = svg
    .append('g')
    .attr('class', 'dap-lineage-edges')
    .selectAll<SVGGElement, ILineageGraphLink>('g')
    .data(links)
    .join('g')
    .attr('class', l => `dap-lineage-edge${onPath(l) ? ' dap-mod-path' : ''}${l.back ? ' dap-mod-back' : ''}`)
    .attr('data-source', l => l.source.name)
    .attr('data-target', l => l.target.name)
    .attr('data-process', l => l.processes.join(', '));
  edge
    .append('path')
    .attr('class', 'dap-lineage-link')
    .attr('d', linkPath)
    .attr('marker-end', `url(#${marker})`);
  edge.append('path').attr('class', 'dap-lineage-hit').attr('d', linkPath);
  edge.append('title').text(describeLink);
  edge
    .on('mouseenter', (_e: Event, l: ILineageGraphLink) => opts.onHover?.(l))
    .on('mouseleave', () => opts.onHover?.(null));

  const node = svg
    .append('g')
    .attr('class', 'dap-lineage-nodes')
    .selectAll<SVGGElement, ILineageGraphNode>('g')
    .data(nodes)
    .join('g')
    .attr('class', n => {
      const classes = [
        'dap-lineage-node',
        `dap-lineage-${n.role}`,
        `dap-lineage-kind-${n.kind}`
      ];
      if (n.clickable) {
        classes.push('dap-mod-clickable');
      }
      if (path?.tables.has(n.name)) {
        classes.push('dap-mod-path');
      }
      return classes.join(' ');
    })
    .attr('data-name', n => n.name)
    .attr('data-kind', n => n.kind)
    .attr('data-layer', n => n.layer)
    .attr('transform', n => `translate(${n.x - NODE_WIDTH / 2},${n.y - NODE_HEIGHT / 2})`);
  node
    .append('rect')
    .attr('width', NODE_WIDTH)
    .attr('height', NODE_HEIGHT)
    .attr('rx', n => (n.kind === 'api' ? 18 : 6));
  node
    .append('text')
    .attr('class', 'dap-lineage-name')
    .attr('x', 10)
    .attr('y', 17)
    .text(n => ellipsis(n.name));
  node
    .append('text')
    .attr('class', 'dap-lineage-kind')
    .attr('x', 10)
    .attr('y', 32)
    .text(n => kindLine(n, path));
  node.append('title').text(nodeTitle);
  node
    .filter(n => !n.clickable && n.role !== 'center')
    .attr('aria-label', n => `${n.kind} ${n.name}, ${n.role}`);
  const clickable = node.filter(n => n.clickable);
  clickable
    .attr('tabindex', 0)
    .attr('role', 'button')
    .attr('aria-label', n => `Show the lineage of ${n.name}`)
    .on('click', (_e: Event, n: ILineageGraphNode) => opts.onSelect(n.name))
    .on('keydown', (e: KeyboardEvent, n: ILineageGraphNode) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        opts.onSelect(n.name);
      }
    });
  return layout;
}
