// A small line chart on a canvas: training loss per step, per-class Dice per epoch. No chart library,
// so the app stays one static bundle with nothing fetched from elsewhere.

export interface Series {
  label: string;
  colour: string;
  points: [number, number][];
}

export function drawChart(canvas: HTMLCanvasElement, series: readonly Series[], options: { yMin?: number; yMax?: number; xLabel: string; title: string }): void {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const dpr = globalThis.devicePixelRatio || 1;
  const cssW = canvas.clientWidth || 320;
  const cssH = canvas.clientHeight || 160;
  canvas.width = Math.round(cssW * dpr);
  canvas.height = Math.round(cssH * dpr);
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, cssW, cssH);
  const pad = { l: 40, r: 8, t: 18, b: 20 };
  const all = series.flatMap((s) => s.points);
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = '#444';
  ctx.fillText(options.title, pad.l, 12);
  if (all.length === 0) return;
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]).filter(Number.isFinite);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  const y0 = options.yMin ?? Math.min(...ys), y1 = Math.max(options.yMax ?? Math.max(...ys), y0 + 1e-6);
  const px = (x: number) => pad.l + ((x - x0) / (x1 - x0)) * (cssW - pad.l - pad.r);
  const py = (y: number) => cssH - pad.b - ((y - y0) / (y1 - y0)) * (cssH - pad.t - pad.b);
  ctx.strokeStyle = '#bbb';
  ctx.beginPath();
  ctx.moveTo(pad.l, pad.t);
  ctx.lineTo(pad.l, cssH - pad.b);
  ctx.lineTo(cssW - pad.r, cssH - pad.b);
  ctx.stroke();
  ctx.fillStyle = '#666';
  ctx.fillText(y1.toPrecision(3), 2, pad.t + 4);
  ctx.fillText(y0.toPrecision(3), 2, cssH - pad.b);
  ctx.fillText(`${options.xLabel} ${x1}`, cssW - pad.r - 60, cssH - 4);
  // Legend, one row per series, top right (the loss chart has a single series and needs none).
  if (series.length > 1) {
    series.forEach((s, i) => {
      const y = pad.t + 4 + i * 13;
      ctx.fillStyle = s.colour;
      ctx.fillRect(cssW - pad.r - 130, y - 7, 10, 8);
      ctx.fillStyle = '#444';
      ctx.fillText(s.label, cssW - pad.r - 116, y);
    });
  }
  for (const s of series) {
    ctx.strokeStyle = s.colour;
    ctx.fillStyle = s.colour;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    s.points.forEach(([x, y], i) => (i === 0 ? ctx.moveTo(px(x), py(y)) : ctx.lineTo(px(x), py(y))));
    ctx.stroke();
    if (s.points.length === 1) ctx.fillRect(px(s.points[0][0]) - 2, py(s.points[0][1]) - 2, 4, 4);
  }
}
