/**
 * Lineage graph drawn with d3 as SVG, layered left → right: what the table
 * is made from (nearest sources next to it), the table, what is made from
 * it. Edges follow the server's `edges` (the real chain, not everything
 * wired to the centre) and show their process (`pipeline:orders_daily`,
 * `sql:ann`) on hover. A table node re-centres the graph (click, Enter or
 * Space); restricted, file, database and API nodes are shown, styled by
 * kind, but not clickable. A column picker asks `lineage/{table}?column=`
 * and highlights that column's path through the graph.
 *
 * An older server sends no `edges`: every node is then linked straight to
 * the table, as before.
 *
 * One import for callers; each concept lives in its own module and is
 * re-exported here unchanged:
 *
 * - `lineagegraph.ts`: the graph model and its layered layout (pure);
 * - `lineagepath.ts`: a column's path through the table graph;
 * - `lineagedraw.ts`: the d3 SVG drawing;
 * - `lineagewidget.ts`: the main-area widget.
 */

export {
  NODE_HEIGHT,
  NODE_WIDTH,
  describeLink,
  isClickable,
  layoutLineage,
  lineageEdges,
  lineageLayers,
  rootName,
  type ILineageGraphLink,
  type ILineageGraphNode,
  type ILineageLayout,
  type LineageRole
} from './lineagegraph';
export {
  columnPath,
  describeColumnPath,
  edgeKey,
  mergeColumns,
  type IColumnPath
} from './lineagepath';
export { drawLineage, type IDrawOptions } from './lineagedraw';
export {
  LINEAGE_ID,
  LineageWidget,
  type ILineageOptions
} from './lineagewidget';
