// Polygon geometry for the outline editor: rings are arrays of [x, y] in image pixels.
// Pure functions, no DOM (except unionRings, which rasterises on an offscreen canvas).

export function ringArea(ring) {
  let a = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) a += ring[j][0] * ring[i][1] - ring[i][0] * ring[j][1];
  return a / 2;
}

export function objectArea(obj) {
  return Math.abs(ringArea(obj.exterior)) - obj.holes.reduce((s, h) => s + Math.abs(ringArea(h)), 0);
}

export function bbox(ring) {
  let x0 = Infinity; let y0 = Infinity; let x1 = -Infinity; let y1 = -Infinity;
  for (const [x, y] of ring) {
    if (x < x0) x0 = x; if (x > x1) x1 = x;
    if (y < y0) y0 = y; if (y > y1) y1 = y;
  }
  return [x0, y0, x1, y1];
}

export function pointInRing(x, y, ring) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i]; const [xj, yj] = ring[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

export function pointInObject(x, y, obj) {
  if (!pointInRing(x, y, obj.exterior)) return false;
  return !obj.holes.some((h) => pointInRing(x, y, h));
}

// Distance from p to segment ab, and the parameter t of the closest point.
export function segmentDistance(p, a, b) {
  const dx = b[0] - a[0]; const dy = b[1] - a[1];
  const len2 = dx * dx + dy * dy;
  let t = len2 ? ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2 : 0;
  t = Math.max(0, Math.min(1, t));
  const cx = a[0] + t * dx; const cy = a[1] + t * dy;
  return { d: Math.hypot(p[0] - cx, p[1] - cy), t, point: [cx, cy] };
}

// Intersection of segments p1p2 and p3p4: {t, u, point} or null (parallel / apart).
export function segmentIntersection(p1, p2, p3, p4) {
  const d = (p2[0] - p1[0]) * (p4[1] - p3[1]) - (p2[1] - p1[1]) * (p4[0] - p3[0]);
  if (Math.abs(d) < 1e-12) return null;
  const t = ((p3[0] - p1[0]) * (p4[1] - p3[1]) - (p3[1] - p1[1]) * (p4[0] - p3[0])) / d;
  const u = ((p3[0] - p1[0]) * (p2[1] - p1[1]) - (p3[1] - p1[1]) * (p2[0] - p1[0])) / d;
  if (t < 0 || t > 1 || u < 0 || u > 1) return null;
  return { t, u, point: [p1[0] + t * (p2[0] - p1[0]), p1[1] + t * (p2[1] - p1[1])] };
}

// A point guaranteed inside the object (for labels and tests): scanline through the bbox middle.
export function interiorPoint(obj) {
  const [x0, y0, x1, y1] = bbox(obj.exterior);
  for (const f of [0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8]) {
    const y = y0 + (y1 - y0) * f;
    const xs = [];
    const rings = [obj.exterior, ...obj.holes];
    for (const ring of rings) {
      for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
        const [xi, yi] = ring[i]; const [xj, yj] = ring[j];
        if ((yi > y) !== (yj > y)) xs.push(xi + ((y - yi) * (xj - xi)) / (yj - yi));
      }
    }
    xs.sort((a, b) => a - b);
    let best = null;
    for (let k = 0; k + 1 < xs.length; k += 2) {
      if (!best || xs[k + 1] - xs[k] > best[1] - best[0]) best = [xs[k], xs[k + 1]];
    }
    if (best && best[1] - best[0] > 1e-6) return [(best[0] + best[1]) / 2, y];
  }
  return [(x0 + x1) / 2, (y0 + y1) / 2];
}

// Slice a ring in two with the segment a-b, which must cross the ring exactly twice.
export function sliceRing(ring, a, b) {
  const hits = [];
  for (let i = 0; i < ring.length; i++) {
    const p = ring[i]; const q = ring[(i + 1) % ring.length];
    const hit = segmentIntersection(a, b, p, q);
    if (hit) hits.push({ edge: i, t: hit.t, u: hit.u, point: hit.point });
  }
  // Drop duplicates where the line passes exactly through a vertex (hit on two edges).
  const unique = hits.filter((h, k) => !hits.some((o, m) => m < k && Math.hypot(o.point[0] - h.point[0], o.point[1] - h.point[1]) < 1e-9));
  if (unique.length !== 2) return null;
  const [h1, h2] = unique[0].edge <= unique[1].edge ? unique : [unique[1], unique[0]];
  const partA = [h1.point];
  for (let i = h1.edge + 1; i <= h2.edge; i++) partA.push(ring[i]);
  partA.push(h2.point);
  const partB = [h2.point];
  for (let i = h2.edge + 1; i < ring.length + h1.edge + 1; i++) partB.push(ring[i % ring.length]);
  partB.push(h1.point);
  const clean = (r) => r.filter((p, i) => i === 0 || Math.hypot(p[0] - r[i - 1][0], p[1] - r[i - 1][1]) > 1e-9);
  const ra = clean(partA); const rb = clean(partB);
  if (ra.length < 3 || rb.length < 3 || Math.abs(ringArea(ra)) < 1 || Math.abs(ringArea(rb)) < 1) return null;
  return [ra, rb];
}

function bboxesNear(a, b, tol) {
  return a[0] - tol <= b[2] && b[0] - tol <= a[2] && a[1] - tol <= b[3] && b[1] - tol <= a[3];
}

// Do two objects touch (share or cross an edge, overlap, or lie within `tol` pixels)?
export function objectsTouch(a, b, tol = 2) {
  if (!bboxesNear(bbox(a.exterior), bbox(b.exterior), tol)) return false;
  const ea = a.exterior; const eb = b.exterior;
  if (pointInRing(ea[0][0], ea[0][1], eb) || pointInRing(eb[0][0], eb[0][1], ea)) return true;
  for (let i = 0; i < ea.length; i++) {
    const p = ea[i]; const q = ea[(i + 1) % ea.length];
    for (let j = 0; j < eb.length; j++) {
      const r = eb[j]; const s = eb[(j + 1) % eb.length];
      if (segmentIntersection(p, q, r, s)) return true;
      if (segmentDistance(p, r, s).d <= tol || segmentDistance(r, p, q).d <= tol) return true;
    }
  }
  return false;
}

// Douglas-Peucker on a closed ring.
export function simplifyRing(ring, eps) {
  if (ring.length < 5) return ring;
  function dp(points) {
    const keep = new Uint8Array(points.length); keep[0] = 1; keep[points.length - 1] = 1;
    const stack = [[0, points.length - 1]];
    while (stack.length) {
      const [s, e] = stack.pop();
      let best = -1; let dmax = eps;
      for (let i = s + 1; i < e; i++) {
        const d = segmentDistance(points[i], points[s], points[e]).d;
        if (d > dmax) { dmax = d; best = i; }
      }
      if (best >= 0) { keep[best] = 1; stack.push([s, best], [best, e]); }
    }
    return points.filter((_, i) => keep[i]);
  }
  // Split at the point farthest from the first one so both halves are open polylines.
  let far = 0; let dfar = -1;
  for (let i = 1; i < ring.length; i++) {
    const d = Math.hypot(ring[i][0] - ring[0][0], ring[i][1] - ring[0][1]);
    if (d > dfar) { dfar = d; far = i; }
  }
  const first = dp(ring.slice(0, far + 1));
  const second = dp([...ring.slice(far), ring[0]]);
  const out = [...first, ...second.slice(1, -1)];
  return out.length >= 3 ? out : ring;
}

// Outer boundary of the foreground of a binary mask (w x h, 1 = inside), along pixel edges,
// starting from the first foreground pixel in raster order; corners in mask coordinates.
export function traceOuterBoundary(mask, w, h) {
  let start = -1;
  for (let k = 0; k < mask.length; k++) if (mask[k]) { start = k; break; }
  if (start < 0) return null;
  const fg = (i, j) => i >= 0 && j >= 0 && i < w && j < h && mask[j * w + i] === 1;
  const sx = start % w; const sy = Math.floor(start / w);
  const DX = [1, 0, -1, 0]; const DY = [0, 1, 0, -1];
  // Pixels ahead-left / ahead-right of corner (x, y) when heading in direction d (y down).
  const ahead = (x, y, d) => {
    switch (d) {
      case 0: return [fg(x, y - 1), fg(x, y)];
      case 1: return [fg(x, y), fg(x - 1, y)];
      case 2: return [fg(x - 1, y), fg(x - 1, y - 1)];
      default: return [fg(x - 1, y - 1), fg(x, y - 1)];
    }
  };
  let x = sx; let y = sy; let d = 0;
  const out = [[x, y]];
  const limit = 4 * (w + 1) * (h + 1);
  for (let steps = 0; steps < limit; steps++) {
    const [left, right] = ahead(x, y, d);
    let nd;
    if (left) nd = (d + 3) % 4; else if (right) nd = d; else nd = (d + 1) % 4;
    if (nd !== d && (x !== out[out.length - 1][0] || y !== out[out.length - 1][1])) out.push([x, y]);
    d = nd;
    x += DX[d]; y += DY[d];
    if (x === sx && y === sy) break;
  }
  if (out.length > 1 && out[0][0] === out[out.length - 1][0] && out[0][1] === out[out.length - 1][1]) out.pop();
  return out;
}

function dilate(mask, w, h) {
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let on = 0;
      for (let dy = -1; dy <= 1 && !on; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= h) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if (xx >= 0 && xx < w && mask[yy * w + xx]) { on = 1; break; }
        }
      }
      out[y * w + x] = on;
    }
  }
  return out;
}

function erode(mask, w, h) {
  const inverted = mask.map((v) => 1 - v);
  return dilate(inverted, w, h).map((v) => 1 - v);
}

// Union of two touching objects by rasterising both (with a hairline bridge) and tracing the
// outer boundary: robust for any simple polygons; holes of either object that stay inside are kept.
export function unionObjects(a, b) {
  const [ax0, ay0, ax1, ay1] = bbox(a.exterior);
  const [bx0, by0, bx1, by1] = bbox(b.exterior);
  const x0 = Math.floor(Math.min(ax0, bx0)) - 2; const y0 = Math.floor(Math.min(ay0, by0)) - 2;
  const x1 = Math.ceil(Math.max(ax1, bx1)) + 2; const y1 = Math.ceil(Math.max(ay1, by1)) + 2;
  const scale = Math.min(1, 2048 / Math.max(x1 - x0, y1 - y0));
  const w = Math.max(1, Math.ceil((x1 - x0) * scale)); const h = Math.max(1, Math.ceil((y1 - y0) * scale));
  const canvas = typeof OffscreenCanvas !== 'undefined' ? new OffscreenCanvas(w, h) : Object.assign(document.createElement('canvas'), { width: w, height: h });
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.setTransform(scale, 0, 0, scale, -x0 * scale, -y0 * scale);
  ctx.fillStyle = '#000';
  for (const obj of [a, b]) {
    ctx.beginPath();
    obj.exterior.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.closePath(); ctx.fill();
  }
  const data = ctx.getImageData(0, 0, w, h).data;
  let mask = new Uint8Array(w * h);
  for (let k = 0; k < w * h; k++) mask[k] = data[k * 4 + 3] > 127 ? 1 : 0;
  // Morphological closing (3 x 3): bridges the hairline gap between touching outlines without
  // moving the outer boundary, so the merged area is the sum of the parts.
  mask = erode(dilate(mask, w, h), w, h);
  const traced = traceOuterBoundary(mask, w, h);
  if (!traced || traced.length < 3) return null;
  const ring = simplifyRing(traced.map(([x, y]) => [x / scale + x0, y / scale + y0]), 0.75 / scale);
  // Both objects must lie inside the single traced boundary, else they were not connected.
  const pa = interiorPoint(a); const pb = interiorPoint(b);
  if (!pointInRing(pa[0], pa[1], ring) || !pointInRing(pb[0], pb[1], ring)) return null;
  const keepHoles = (holes, other) => holes.filter((hole) => {
    const [hx, hy] = interiorPoint({ exterior: hole, holes: [] });
    return pointInRing(hx, hy, ring) && !pointInObject(hx, hy, other);
  });
  const holes = [...keepHoles(a.holes, b), ...keepHoles(b.holes, a)];
  return { exterior: ring, holes, confidence: null };
}
