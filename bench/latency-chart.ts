/** The latency-versus-throughput chart of the capacity report: a small SVG, written by hand. */

export interface ChartPoint {
  inFlight: number;
  perSecond: number;
  p50: number;
  p95: number;
  p99: number;
}

const WIDTH = 640;
const HEIGHT = 400;
const MARGIN = { left: 60, right: 110, top: 30, bottom: 50 };
const SERIES = [
  { key: 'p50', colour: '#1f77b4', dash: '' },
  { key: 'p95', colour: '#ff7f0e', dash: '' },
  { key: 'p99', colour: '#d62728', dash: '4 3' },
] as const;

/** A round step giving about `count` ticks up to `max`. */
function tickStep(max: number, count = 5): number {
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  return ([1, 2, 5, 10].map((m) => m * power).find((step) => step >= raw) ?? raw) || 1;
}

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/**
 * Latency (ms, y, on a log scale: from one in flight to a queue of them it spans two orders of magnitude)
 * against successful resets per second (x), one point per in-flight level.
 */
export function latencyChartSvg(points: readonly ChartPoint[], title: string): string {
  const maxX = Math.max(1, ...points.map((p) => p.perSecond)) * 1.1;
  const lowY = Math.floor(Math.log10(Math.max(0.1, Math.min(...points.map((p) => p.p50)))));
  const highY = Math.max(lowY + 1, Math.ceil(Math.log10(Math.max(1, ...points.map((p) => p.p99)))));
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  // Coordinates to one decimal: enough for a 640-pixel chart, and a readable file.
  const x = (value: number, shift = 0) => (MARGIN.left + (value / maxX) * plotW + shift).toFixed(1);
  const y = (value: number, shift = 0) =>
    (MARGIN.top + plotH - ((Math.log10(value) - lowY) / (highY - lowY)) * plotH + shift).toFixed(1);
  const parts: string[] = [];
  const xStep = tickStep(maxX);
  for (let v = 0; v <= maxX; v += xStep) {
    parts.push(
      `<line x1="${x(v)}" y1="${MARGIN.top}" x2="${x(v)}" y2="${MARGIN.top + plotH}" stroke="#eee"/>`,
      `<text x="${x(v)}" y="${MARGIN.top + plotH + 16}" text-anchor="middle">${Math.round(v)}</text>`,
    );
  }
  for (let power = lowY; power <= highY; power++) {
    for (const step of power < highY ? [1, 2, 5] : [1]) {
      const v = step * 10 ** power;
      parts.push(
        `<line x1="${MARGIN.left}" y1="${y(v)}" x2="${MARGIN.left + plotW}" y2="${y(v)}" stroke="#eee"/>`,
        `<text x="${MARGIN.left - 6}" y="${y(v, 4)}" text-anchor="end">${v >= 1 ? v : v.toFixed(1)}</text>`,
      );
    }
  }
  parts.push(
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`,
    `<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 12}" text-anchor="middle">successful resets per second</text>`,
    `<text transform="translate(16 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">latency (ms, log scale)</text>`,
    `<text x="${MARGIN.left}" y="18" font-weight="bold">${escape(title)}</text>`,
  );
  SERIES.forEach(({ key, colour, dash }, index) => {
    const coordinates = points.map((p) => `${x(p.perSecond)},${y(p[key])}`).join(' ');
    parts.push(
      `<polyline points="${coordinates}" fill="none" stroke="${colour}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`,
      ...points.map((p) => `<circle cx="${x(p.perSecond)}" cy="${y(p[key])}" r="3" fill="${colour}"/>`),
      `<line x1="${WIDTH - MARGIN.right + 12}" y1="${MARGIN.top + 10 + index * 18}" x2="${WIDTH - MARGIN.right + 32}" y2="${MARGIN.top + 10 + index * 18}" stroke="${colour}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`,
      `<text x="${WIDTH - MARGIN.right + 38}" y="${MARGIN.top + 14 + index * 18}">${key}</text>`,
    );
  });
  // Each point's in-flight level, above its p99.
  for (const p of points) {
    parts.push(
      `<text x="${x(p.perSecond, 5)}" y="${y(p.p99, -8)}" fill="#555">${p.inFlight} in flight</text>`,
    );
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="11">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
