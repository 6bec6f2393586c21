// Image page: canvas viewer (zoom, pan, outlines) and outline editor (select, move / insert /
// delete vertices, draw objects and holes, slice, merge, delete, undo / redo, save with
// base_version). Kept smooth for 4000 x 4000 images with 500 objects: one cached Path2D for
// all unselected outlines, drawing only on requestAnimationFrame when something changed, and
// hit-testing against bounding boxes before exact point-in-polygon tests.
import { api, connectProjectSocket, errorText, flash, fmt, readJSON, setupDialogs } from './common.js';
import {
  bbox, interiorPoint, objectArea, objectsTouch, pointInObject, pointInRing, segmentDistance, sliceRing, unionObjects,
} from './geometry.js';

const cfg = readJSON('page-config');
const S = cfg.strings || {};
const HISTORY_LIMIT = 100;
const HANDLE_PX = 6;

const canvas = document.getElementById('canvas');
const ctx = canvas.getContext('2d');
const viewerEl = document.getElementById('viewer');
const statusEl = document.getElementById('viewer-status');
const modeHelp = document.getElementById('mode-help');
const resultInfo = document.getElementById('result-info');
const dirtyEl = document.getElementById('dirty-state');

// ------------------------------------------------------------------ state

const state = {
  image: null, // HTMLImageElement (the preview)
  view: { scale: 1, tx: 0, ty: 0 },
  objects: [], // {exterior, holes, confidence, metrics, box, dirty}
  result: null, // the server result we started from (version, model, ...)
  baseVersion: null,
  selected: -1,
  second: -1, // second object for merge
  mode: 'select',
  drawing: [], // points of the object / hole / slice line being drawn
  pointer: null, // last pointer position in image coordinates
  showOutlines: true,
  undo: [],
  redo: [],
  dirty: false,
  units: 'px',
  saving: false,
};

function prepare(poly) {
  const obj = {
    exterior: poly.exterior.map((p) => [p[0], p[1]]),
    holes: (poly.holes || []).map((h) => h.map((p) => [p[0], p[1]])),
    confidence: poly.confidence ?? null,
    metrics: poly.metrics || null,
    dirty: false,
  };
  obj.box = bbox(obj.exterior);
  return obj;
}

function edited(obj) {
  // A fresh object (never mutate one that an undo snapshot still holds).
  const copy = {
    exterior: obj.exterior.map((p) => [p[0], p[1]]),
    holes: obj.holes.map((h) => h.map((p) => [p[0], p[1]])),
    confidence: null,
    metrics: null,
    dirty: true,
  };
  copy.box = bbox(copy.exterior);
  return copy;
}

// ------------------------------------------------------------------ history

function snapshot() {
  return { objects: state.objects, selected: state.selected };
}

function commit(nextObjects, selected = state.selected) {
  state.undo.push(snapshot());
  if (state.undo.length > HISTORY_LIMIT) state.undo.shift();
  state.redo = [];
  state.objects = nextObjects;
  state.selected = selected;
  state.second = -1;
  changed();
}

function undo() {
  if (!state.undo.length) return;
  state.redo.push(snapshot());
  const prev = state.undo.pop();
  state.objects = prev.objects;
  state.selected = prev.selected;
  state.second = -1;
  changed();
}

function redo() {
  if (!state.redo.length) return;
  state.undo.push(snapshot());
  const next = state.redo.pop();
  state.objects = next.objects;
  state.selected = next.selected;
  state.second = -1;
  changed();
}

function changed() {
  state.dirty = state.undo.length > 0 || state.objects.some((o) => o.dirty);
  pathCache.key = null;
  updateControls();
  renderTable();
  requestRender();
}

// ------------------------------------------------------------------ view transform

function toImage(sx, sy) {
  const { scale, tx, ty } = state.view;
  return [(sx - tx) / scale, (sy - ty) / scale];
}

function toScreen(x, y) {
  const { scale, tx, ty } = state.view;
  return [x * scale + tx, y * scale + ty];
}

function canvasPoint(event) {
  const rect = canvas.getBoundingClientRect();
  return [event.clientX - rect.left, event.clientY - rect.top];
}

function fit() {
  const rect = viewerEl.getBoundingClientRect();
  const scale = Math.min(rect.width / cfg.width, rect.height / cfg.height) * 0.98;
  state.view = { scale, tx: (rect.width - cfg.width * scale) / 2, ty: (rect.height - cfg.height * scale) / 2 };
  requestRender();
}

function zoomAt(factor, sx, sy) {
  const v = state.view;
  const scale = Math.max(0.02, Math.min(40, v.scale * factor));
  const f = scale / v.scale;
  state.view = { scale, tx: sx - (sx - v.tx) * f, ty: sy - (sy - v.ty) * f };
  requestRender();
}

function centerOn(obj) {
  const rect = viewerEl.getBoundingClientRect();
  const [x0, y0, x1, y1] = obj.box;
  const { scale } = state.view;
  state.view = { scale, tx: rect.width / 2 - ((x0 + x1) / 2) * scale, ty: rect.height / 2 - ((y0 + y1) / 2) * scale };
  requestRender();
}

function resize() {
  const rect = viewerEl.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.max(1, Math.round(rect.width * dpr));
  canvas.height = Math.max(1, Math.round(rect.height * dpr));
  requestRender();
}

// ------------------------------------------------------------------ rendering

let frameRequested = false;
function requestRender() {
  if (!frameRequested) {
    frameRequested = true;
    requestAnimationFrame(() => { frameRequested = false; draw(); });
  }
}

const pathCache = { key: null, path: null };

function objectPath(obj, path = new Path2D()) {
  for (const ring of [obj.exterior, ...obj.holes]) {
    ring.forEach(([x, y], i) => (i ? path.lineTo(x, y) : path.moveTo(x, y)));
    path.closePath();
  }
  return path;
}

function othersPath() {
  const key = `${state.selected}`;
  if (pathCache.key !== key || !pathCache.path) {
    const path = new Path2D();
    state.objects.forEach((obj, i) => { if (i !== state.selected) objectPath(obj, path); });
    pathCache.key = key;
    pathCache.path = path;
  }
  return pathCache.path;
}

function draw() {
  const dpr = window.devicePixelRatio || 1;
  const { scale, tx, ty } = state.view;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = '#111';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.setTransform(dpr * scale, 0, 0, dpr * scale, dpr * tx, dpr * ty);
  ctx.imageSmoothingEnabled = scale < 2;
  const useSmall = state.small && scale * dpr <= state.smallScale;
  const source = useSmall ? state.small : state.image;
  if (source) ctx.drawImage(source, 0, 0, cfg.width, cfg.height);
  const px = 1 / scale; // one screen pixel in image units
  if (state.showOutlines) {
    ctx.lineJoin = 'round';
    const others = othersPath();
    ctx.fillStyle = 'rgba(0, 200, 255, 0.12)';
    ctx.fill(others, 'evenodd');
    ctx.strokeStyle = '#00d0ff';
    ctx.lineWidth = 1.5 * px;
    ctx.stroke(others);
    state.objects.forEach((obj, i) => { if (obj.dirty && i !== state.selected) { ctx.strokeStyle = '#ffd166'; ctx.stroke(objectPath(obj)); } });
    if (state.second >= 0 && state.objects[state.second]) {
      const p = objectPath(state.objects[state.second]);
      ctx.fillStyle = 'rgba(255, 160, 0, 0.25)'; ctx.fill(p, 'evenodd');
      ctx.strokeStyle = '#ffa000'; ctx.lineWidth = 2.5 * px; ctx.stroke(p);
    }
    const sel = state.objects[state.selected];
    if (sel) {
      const p = objectPath(sel);
      ctx.fillStyle = 'rgba(255, 60, 200, 0.22)'; ctx.fill(p, 'evenodd');
      ctx.strokeStyle = '#ff3cc8'; ctx.lineWidth = 2.5 * px; ctx.stroke(p);
      if (cfg.canEdit && state.mode === 'select') {
        ctx.fillStyle = '#fff'; ctx.strokeStyle = '#ff3cc8'; ctx.lineWidth = 1.5 * px;
        const h = (HANDLE_PX - 2) * px;
        const vertices = [...sel.exterior, ...sel.holes.flat()];
        if (vertices.length <= 4000) {
          for (const [x, y] of vertices) { ctx.fillRect(x - h / 2, y - h / 2, h, h); ctx.strokeRect(x - h / 2, y - h / 2, h, h); }
        }
      }
    }
  }
  if (state.drawing.length) {
    ctx.strokeStyle = state.mode === 'slice' ? '#ff5050' : '#7CFC00';
    ctx.lineWidth = 2 * px;
    ctx.setLineDash([6 * px, 4 * px]);
    ctx.beginPath();
    state.drawing.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    if (state.pointer) ctx.lineTo(state.pointer[0], state.pointer[1]);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = '#7CFC00';
    for (const [x, y] of state.drawing) ctx.fillRect(x - 3 * px, y - 3 * px, 6 * px, 6 * px);
  }
  const zoom = `${Math.round(state.view.scale * 100)}%`;
  const where = state.pointer ? ` · x ${Math.round(state.pointer[0])}, y ${Math.round(state.pointer[1])}` : '';
  const sel = state.selected >= 0 ? ` · #${state.selected + 1}` : '';
  statusEl.textContent = `${zoom}${where}${sel}`;
}

// ------------------------------------------------------------------ hit testing

function objectAt(x, y) {
  let best = -1; let bestArea = Infinity;
  state.objects.forEach((obj, i) => {
    const [x0, y0, x1, y1] = obj.box;
    if (x < x0 || x > x1 || y < y0 || y > y1) return;
    if (pointInObject(x, y, obj)) {
      const area = (x1 - x0) * (y1 - y0);
      if (area < bestArea) { best = i; bestArea = area; }
    }
  });
  return best;
}

// The vertex of the selected object under the pointer: {ring: -1 | hole index, index}.
function vertexAt(x, y) {
  const obj = state.objects[state.selected];
  if (!obj) return null;
  const tol = HANDLE_PX / state.view.scale;
  const rings = [obj.exterior, ...obj.holes];
  let best = null; let bestD = tol;
  rings.forEach((ring, r) => ring.forEach(([vx, vy], i) => {
    const d = Math.hypot(vx - x, vy - y);
    if (d <= bestD) { best = { ring: r - 1, index: i }; bestD = d; }
  }));
  return best;
}

function edgeAt(x, y) {
  const obj = state.objects[state.selected];
  if (!obj) return null;
  const tol = HANDLE_PX / state.view.scale;
  const rings = [obj.exterior, ...obj.holes];
  let best = null; let bestD = tol;
  rings.forEach((ring, r) => ring.forEach((a, i) => {
    const hit = segmentDistance([x, y], a, ring[(i + 1) % ring.length]);
    if (hit.d <= bestD) { best = { ring: r - 1, index: i, point: hit.point }; bestD = hit.d; }
  }));
  return best;
}

function ringOf(obj, r) { return r < 0 ? obj.exterior : obj.holes[r]; }

// ------------------------------------------------------------------ edit operations

function select(index, { additive = false } = {}) {
  if (additive && state.selected >= 0 && index >= 0 && index !== state.selected) {
    state.second = index;
  } else {
    state.selected = index;
    state.second = -1;
  }
  pathCache.key = null;
  highlightRow();
  requestRender();
}

function replaceObject(index, obj) {
  const next = state.objects.slice();
  next[index] = obj;
  commit(next, index);
}

function deleteSelected() {
  if (state.selected < 0) { say(S.selectFirst); return; }
  const next = state.objects.slice();
  next.splice(state.selected, 1);
  commit(next, -1);
}

function insertVertex(edge) {
  const obj = edited(state.objects[state.selected]);
  ringOf(obj, edge.ring).splice(edge.index + 1, 0, [edge.point[0], edge.point[1]]);
  replaceObject(state.selected, obj);
}

function deleteVertex(v) {
  const current = state.objects[state.selected];
  if (ringOf(current, v.ring).length <= 3) { say(S.tooFew); return; }
  const obj = edited(current);
  ringOf(obj, v.ring).splice(v.index, 1);
  obj.box = bbox(obj.exterior);
  replaceObject(state.selected, obj);
}

function clampPoint([x, y]) {
  return [Math.max(0, Math.min(cfg.width, x)), Math.max(0, Math.min(cfg.height, y))];
}

function finishDrawing() {
  const points = state.drawing.map(clampPoint);
  if (state.mode === 'draw') {
    if (points.length < 3) { say(S.tooFew); return; }
    const obj = prepare({ exterior: points, holes: [] });
    obj.dirty = true;
    state.drawing = [];
    commit([...state.objects, obj], state.objects.length);
  } else if (state.mode === 'hole') {
    const target = state.objects[state.selected];
    if (!target) { say(S.selectFirst); return; }
    if (points.length < 3) { say(S.tooFew); return; }
    if (!points.every(([x, y]) => pointInRing(x, y, target.exterior))) { say(S.holeOutside); return; }
    const obj = edited(target);
    obj.holes.push(points);
    state.drawing = [];
    replaceObject(state.selected, obj);
  }
  requestRender();
}

function sliceSelected(a, b) {
  const target = state.objects[state.selected];
  if (!target) { say(S.selectFirst); return; }
  const parts = sliceRing(target.exterior, a, b);
  if (!parts) { say(S.sliceFailed); return; }
  const pieces = parts.map((ring) => {
    const obj = prepare({ exterior: ring, holes: [] });
    obj.dirty = true;
    return obj;
  });
  for (const hole of target.holes) {
    const [hx, hy] = interiorPoint({ exterior: hole, holes: [] });
    const piece = pieces.find((p) => pointInRing(hx, hy, p.exterior));
    if (piece) piece.holes.push(hole.map((p) => [p[0], p[1]]));
  }
  const next = state.objects.slice();
  next.splice(state.selected, 1, ...pieces);
  commit(next, state.selected);
}

function mergeSelected() {
  const a = state.objects[state.selected];
  const b = state.objects[state.second];
  if (!a || !b) { say(S.needTwo); return; }
  if (!objectsTouch(a, b)) { say(S.notTouching); return; }
  const union = unionObjects(a, b);
  if (!union) { say(S.notTouching); return; }
  const obj = prepare(union);
  obj.dirty = true;
  const keep = Math.min(state.selected, state.second);
  const drop = Math.max(state.selected, state.second);
  const next = state.objects.slice();
  next[keep] = obj;
  next.splice(drop, 1);
  commit(next, keep);
}

// ------------------------------------------------------------------ pointer interaction

let gesture = null; // {kind: 'pan'|'vertex'|'click', ...}
let spaceDown = false;

canvas.addEventListener('pointerdown', (event) => {
  canvas.focus({ preventScroll: true }); // focusing must not scroll the page mid-click
  canvas.setPointerCapture(event.pointerId);
  const [sx, sy] = canvasPoint(event);
  const [x, y] = toImage(sx, sy);
  const panOnly = event.button === 1 || spaceDown;
  if (!panOnly && cfg.canEdit && state.mode === 'select' && state.selected >= 0) {
    const v = vertexAt(x, y);
    if (v) {
      if (event.altKey || event.ctrlKey || event.metaKey) { deleteVertex(v); return; }
      const obj = edited(state.objects[state.selected]);
      state.undo.push(snapshot());
      if (state.undo.length > HISTORY_LIMIT) state.undo.shift();
      state.redo = [];
      const next = state.objects.slice();
      next[state.selected] = obj;
      state.objects = next;
      gesture = { kind: 'vertex', vertex: v, obj, moved: false };
      return;
    }
  }
  gesture = { kind: 'press', sx, sy, tx: state.view.tx, ty: state.view.ty, moved: false, panOnly, shift: event.shiftKey };
});

canvas.addEventListener('pointermove', (event) => {
  const [sx, sy] = canvasPoint(event);
  state.pointer = toImage(sx, sy);
  if (gesture && gesture.kind === 'vertex') {
    const [x, y] = clampPoint(state.pointer);
    const ring = ringOf(gesture.obj, gesture.vertex.ring);
    ring[gesture.vertex.index] = [x, y];
    gesture.moved = true;
    gesture.obj.box = bbox(gesture.obj.exterior);
  } else if (gesture && gesture.kind === 'press') {
    const dx = sx - gesture.sx; const dy = sy - gesture.sy;
    if (gesture.moved || Math.hypot(dx, dy) > 4) {
      gesture.moved = true;
      state.view = { ...state.view, tx: gesture.tx + dx, ty: gesture.ty + dy };
    }
  }
  requestRender();
});

function endGesture(event) {
  if (!gesture) return;
  const g = gesture;
  gesture = null;
  if (g.kind === 'vertex') {
    if (!g.moved) { state.objects = state.undo.pop().objects; } // a click on a vertex changes nothing
    changed();
    return;
  }
  if (g.moved || g.panOnly || event.type === 'pointercancel') return;
  const [x, y] = toImage(g.sx, g.sy);
  if (state.mode === 'select') {
    select(objectAt(x, y), { additive: g.shift });
  } else if (state.mode === 'draw' || state.mode === 'hole') {
    state.drawing.push([x, y]);
  } else if (state.mode === 'slice') {
    state.drawing.push([x, y]);
    if (state.drawing.length === 2) {
      const [a, b] = state.drawing;
      state.drawing = [];
      sliceSelected(a, b);
    }
  }
  requestRender();
}
canvas.addEventListener('pointerup', endGesture);
canvas.addEventListener('pointercancel', endGesture);
canvas.addEventListener('pointerleave', () => { state.pointer = null; requestRender(); });

canvas.addEventListener('dblclick', (event) => {
  const [x, y] = toImage(...canvasPoint(event));
  if (state.mode === 'draw' || state.mode === 'hole') {
    // The two clicks of the double-click added the same point twice: drop the duplicate.
    const pts = state.drawing;
    while (pts.length >= 2 && Math.hypot(pts[pts.length - 1][0] - pts[pts.length - 2][0], pts[pts.length - 1][1] - pts[pts.length - 2][1]) < 3 / state.view.scale) pts.pop();
    finishDrawing();
    return;
  }
  if (cfg.canEdit && state.mode === 'select' && state.selected >= 0 && !vertexAt(x, y)) {
    const edge = edgeAt(x, y);
    if (edge) insertVertex(edge);
  }
});

canvas.addEventListener('wheel', (event) => {
  event.preventDefault();
  const [sx, sy] = canvasPoint(event);
  zoomAt(Math.exp(-event.deltaY * 0.0015), sx, sy);
}, { passive: false });

// ------------------------------------------------------------------ modes, buttons, keys

function setMode(mode) {
  if (!cfg.canEdit && mode !== 'select') return;
  state.mode = mode;
  state.drawing = [];
  document.querySelectorAll('[data-mode]').forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.mode === mode)));
  const help = { select: S.modeSelect, draw: S.modeDraw, hole: S.modeHole, slice: S.modeSlice }[mode];
  modeHelp.textContent = help || '';
  canvas.style.cursor = mode === 'select' ? 'default' : 'crosshair';
  requestRender();
}

function say(message) {
  if (message) flash(message, 'info');
}

function updateControls() {
  const set = (action, enabled) => {
    const b = document.querySelector(`[data-action="${action}"]`);
    if (b) b.disabled = !enabled;
  };
  set('undo', state.undo.length > 0);
  set('redo', state.redo.length > 0);
  set('save', state.dirty && !state.saving);
  if (dirtyEl) dirtyEl.textContent = state.dirty ? S.unsaved : (state.result ? S.allSaved : '');
  canvas.dataset.objects = String(state.objects.length);
  canvas.dataset.dirty = String(state.dirty);
  canvas.dataset.version = String(state.baseVersion ?? '');
}

const actions = {
  'zoom-in': () => zoomAt(1.25, canvas.clientWidth / 2, canvas.clientHeight / 2),
  'zoom-out': () => zoomAt(0.8, canvas.clientWidth / 2, canvas.clientHeight / 2),
  fit,
  'toggle-outlines': () => {
    state.showOutlines = !state.showOutlines;
    document.querySelector('[data-action="toggle-outlines"]').setAttribute('aria-pressed', String(state.showOutlines));
    requestRender();
  },
  merge: mergeSelected,
  delete: deleteSelected,
  undo,
  redo,
  save: () => save(state.baseVersion),
};

document.querySelectorAll('[data-action]').forEach((b) => b.addEventListener('click', () => actions[b.dataset.action]()));
document.querySelectorAll('[data-mode]').forEach((b) => b.addEventListener('click', () => setMode(b.dataset.mode)));

document.addEventListener('keydown', (event) => {
  const tag = (event.target.tagName || '').toLowerCase();
  if (['input', 'select', 'textarea'].includes(tag) || event.target.isContentEditable) return;
  if (document.querySelector('dialog[open]')) return;
  const key = event.key;
  const mod = event.ctrlKey || event.metaKey;
  const onCanvas = event.target === canvas;
  if (key === ' ' && onCanvas) { spaceDown = true; event.preventDefault(); return; }
  if (mod && (key === 'z' || key === 'Z')) { event.preventDefault(); if (event.shiftKey) redo(); else undo(); return; }
  if (mod && (key === 'y' || key === 'Y')) { event.preventDefault(); redo(); return; }
  if (mod && (key === 's' || key === 'S')) { event.preventDefault(); if (cfg.canEdit && state.dirty) save(state.baseVersion); return; }
  if (mod || event.altKey) return;
  const pan = 60;
  switch (key) {
    case '+': case '=': actions['zoom-in'](); break;
    case '-': case '_': actions['zoom-out'](); break;
    case 'f': case 'F': fit(); break;
    case 'o': case 'O': actions['toggle-outlines'](); break;
    case '?': document.getElementById('shortcuts').showModal(); break;
    case 'ArrowLeft': if (!onCanvas) return; state.view.tx += pan; requestRender(); break;
    case 'ArrowRight': if (!onCanvas) return; state.view.tx -= pan; requestRender(); break;
    case 'ArrowUp': if (!onCanvas) return; state.view.ty += pan; requestRender(); break;
    case 'ArrowDown': if (!onCanvas) return; state.view.ty -= pan; requestRender(); break;
    case 'Tab': {
      if (!onCanvas || !state.objects.length) return;
      const n = state.objects.length;
      const next = state.selected < 0 ? (event.shiftKey ? n - 1 : 0) : (state.selected + (event.shiftKey ? n - 1 : 1)) % n;
      select(next);
      centerOn(state.objects[next]);
      break;
    }
    case 'Escape':
      if (state.drawing.length) state.drawing = []; else select(-1);
      requestRender();
      break;
    case 'v': case 'V': setMode('select'); break;
    case 'n': case 'N': setMode('draw'); break;
    case 'h': case 'H': setMode('hole'); break;
    case 's': case 'S': setMode('slice'); break;
    case 'm': case 'M': if (cfg.canEdit) mergeSelected(); break;
    case 'Enter': if (state.mode === 'draw' || state.mode === 'hole') finishDrawing(); else return; break;
    case 'Delete': if (cfg.canEdit) deleteSelected(); break;
    case 'Backspace': {
      if (!cfg.canEdit) return;
      if (state.drawing.length) { state.drawing.pop(); requestRender(); break; }
      const v = state.pointer && vertexAt(...state.pointer);
      if (v) deleteVertex(v); else deleteSelected();
      break;
    }
    default: return;
  }
  event.preventDefault();
});
document.addEventListener('keyup', (event) => { if (event.key === ' ') spaceDown = false; });

// ------------------------------------------------------------------ metrics table

const units = document.querySelectorAll('input[name="units"]');
units.forEach((r) => r.addEventListener('change', () => { state.units = r.value; renderTable(); }));
const TABLE_KEYS = ['area_px', 'equivalent_diameter_px', 'circularity', 'solidity', 'feret_max_px', 'perimeter_px'];

function formatNumber(v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  return Number(v).toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

function renderTable() {
  const table = document.getElementById('metrics-table');
  const cols = cfg.metricColumns.filter((c) => TABLE_KEYS.includes(c.px));
  const um = state.units === 'um' && cfg.pixelSizeUm;
  const head = document.createElement('tr');
  const th0 = document.createElement('th'); th0.scope = 'col'; th0.textContent = S.id; head.append(th0);
  for (const c of cols) {
    const th = document.createElement('th');
    th.scope = 'col'; th.className = 'num';
    const unit = um && c.um ? c.unitUm : c.unitPx;
    th.textContent = unit ? `${c.label} (${unit})` : c.label;
    head.append(th);
  }
  table.tHead.replaceChildren(head);
  const rows = state.objects.map((obj, i) => {
    const tr = document.createElement('tr');
    tr.dataset.index = String(i);
    const th = document.createElement('th'); th.scope = 'row'; th.textContent = String(i + 1); tr.append(th);
    for (const c of cols) {
      const td = document.createElement('td');
      td.className = 'num';
      const key = um && c.um ? c.um : c.px;
      if (obj.metrics) td.textContent = formatNumber(obj.metrics[key], c.unitPx ? 1 : 3);
      else td.textContent = c.px === 'area_px' && !um ? `≈${formatNumber(objectArea(obj), 0)}*` : '…';
      tr.append(td);
    }
    if (i === state.selected) tr.classList.add('current');
    return tr;
  });
  table.tBodies[0].replaceChildren(...rows);
}

function highlightRow() {
  document.querySelectorAll('#metrics-table tbody tr').forEach((tr) => {
    const current = Number(tr.dataset.index) === state.selected;
    tr.classList.toggle('current', current);
    if (current) tr.scrollIntoView({ block: 'nearest' });
  });
}

document.querySelector('#metrics-table tbody').addEventListener('click', (event) => {
  const tr = event.target.closest('tr');
  if (!tr) return;
  const i = Number(tr.dataset.index);
  select(i);
  centerOn(state.objects[i]);
});

// ------------------------------------------------------------------ loading, saving, versions

function describeResult(result) {
  if (!result) return S.noResult;
  const source = { model: S.sourceModel, edit: S.sourceEdit, restore: S.sourceRestore }[result.source] || result.source;
  const model = result.model && result.model.name ? `${result.model.name} ${result.model.version} · ` : '';
  return `${model}${fmt(S.version, { v: result.version })} (${source}) · ${fmt(S.objects, { n: result.object_count })}`;
}

function applyResult(result) {
  state.result = result;
  state.baseVersion = result ? result.version : null;
  state.objects = result ? result.polygons.map(prepare) : [];
  state.undo = [];
  state.redo = [];
  state.selected = -1;
  state.second = -1;
  state.drawing = [];
  resultInfo.textContent = describeResult(result);
  changed();
}

async function loadResult(version) {
  resultInfo.textContent = S.loading;
  const url = version ? `${cfg.segmentationUrl}?version=${version}` : cfg.segmentationUrl;
  const result = await api(url);
  if (result.ok) applyResult(result.data);
  else if (result.status === 404) applyResult(null);
  else flash(errorText(result, S.saveFailed), 'error');
  loadVersions();
}

const conflictBox = document.getElementById('conflict');

async function save(baseVersion) {
  if (!cfg.canEdit || state.saving) return;
  state.saving = true;
  updateControls();
  const body = {
    base_version: baseVersion,
    polygons: state.objects.map((o) => ({ exterior: o.exterior, holes: o.holes, confidence: o.confidence })),
  };
  const result = await api(cfg.segmentationUrl, { method: 'PUT', body });
  state.saving = false;
  if (result.ok) {
    conflictBox.hidden = true;
    const keepSelected = state.selected;
    applyResult(result.data); // metrics come back from the server
    if (keepSelected < state.objects.length) select(keepSelected);
    flash(fmt(S.saved, { v: result.data.version }), 'ok');
    loadVersions();
  } else if (result.status === 409) {
    const latest = result.data && result.data.latest_version;
    document.getElementById('conflict-text').textContent = fmt(S.conflict, { latest, base: baseVersion });
    const load = document.getElementById('btn-load-latest');
    const overwrite = document.getElementById('btn-overwrite');
    load.textContent = S.reloadLatest;
    overwrite.textContent = S.overwrite;
    load.onclick = () => { conflictBox.hidden = true; loadResult(); };
    overwrite.onclick = () => { conflictBox.hidden = true; save(latest); };
    conflictBox.hidden = false;
    updateControls();
  } else {
    flash(`${S.saveFailed}: ${errorText(result, String(result.status))}`, 'error');
    updateControls();
  }
}

function timeAgo(iso) {
  const d = new Date(iso);
  return d.toLocaleString();
}

async function loadVersions() {
  const list = document.getElementById('versions');
  const result = await api(cfg.versionsUrl);
  if (!result.ok) { list.replaceChildren(); return; }
  const items = result.data.results.map((v) => {
    const li = document.createElement('li');
    if (v.version === state.baseVersion) li.classList.add('current');
    const text = document.createElement('span');
    const source = { model: S.sourceModel, edit: S.sourceEdit, restore: S.sourceRestore }[v.source] || v.source;
    const who = v.author ? (v.author.name || v.author.email) : '';
    text.textContent = `${fmt(S.version, { v: v.version })} · ${source}${v.based_on ? ` ← v${v.based_on}` : ''} · ${fmt(S.objects, { n: v.object_count })}${who ? ` · ${who}` : ''}`;
    const time = document.createElement('time');
    time.dateTime = v.created_at; time.className = 'muted small'; time.textContent = timeAgo(v.created_at);
    const left = document.createElement('div'); left.append(text, document.createElement('br'), time);
    li.append(left);
    if (cfg.canEdit && v.version !== state.baseVersion) {
      const btn = document.createElement('button');
      btn.type = 'button'; btn.className = 'btn secondary small-btn';
      btn.textContent = S.restore;
      btn.setAttribute('aria-label', `${btn.textContent} ${fmt(S.version, { v: v.version })}`);
      btn.addEventListener('click', () => restore(v.version));
      li.append(btn);
    }
    return li;
  });
  list.replaceChildren(...items);
}

async function restore(version) {
  if (state.dirty && !window.confirm(S.leaveWarning)) return;
  if (!window.confirm(fmt(S.restoreConfirm, { v: version }))) return;
  const result = await api(`${cfg.versionsUrl}${version}/restore/`, { method: 'POST' });
  if (result.ok) {
    applyResult(result.data);
    flash(fmt(S.restored, { v: version, n: result.data.version }), 'ok');
    loadVersions();
  } else {
    flash(errorText(result, S.saveFailed), 'error');
  }
}

// ------------------------------------------------------------------ segmentation and live status

const segState = document.getElementById('seg-state');
function showState(status, text) {
  segState.className = `badge status-${status}`;
  segState.textContent = text;
}

const segmentForm = document.getElementById('segment-form');
if (segmentForm) {
  segmentForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { model: document.getElementById('seg-model').value };
    const threshold = document.getElementById('seg-threshold').value;
    if (threshold) body.threshold = Number(threshold);
    const result = await api(cfg.segmentUrl, { method: 'POST', body });
    if (result.ok) showState('queued', S.queued);
    else flash(errorText(result, S.saveFailed), 'error');
  });
}

connectProjectSocket(cfg.wsPath, {
  onMessage(msg) {
    const jobs = msg.type === 'snapshot' ? msg.jobs : [msg];
    for (const job of jobs || []) {
      if (job.image_id !== cfg.imageId) continue;
      if (job.status === 'queued') showState('queued', S.queued);
      else if (job.status === 'running') showState('running', fmt(S.running, { pct: job.progress || 0 }));
      else if (job.status === 'succeeded') {
        showState('done', cfg.strings.segmentDone);
        if (!state.dirty) loadResult(); else flash(S.segmentDone, 'info');
      } else if (job.status === 'failed' || job.status === 'dead') {
        showState('failed', fmt(S.segmentFailed, { error: job.error || '' }));
      }
    }
  },
  onState() {},
});

window.addEventListener('beforeunload', (event) => {
  if (state.dirty) { event.preventDefault(); event.returnValue = S.leaveWarning; }
});

// Hooks for tests and power users (screen coordinates of geometry; read-only).
window.spheroseg = {
  get objectCount() { return state.objects.length; },
  get version() { return state.baseVersion; },
  get dirty() { return state.dirty; },
  get selected() { return state.selected; },
  get imageLoaded() { return Boolean(state.image); },
  get mode() { return state.mode; },
  get drawing() { return state.drawing.length; },
  holes: (i) => state.objects[i] && state.objects[i].holes.length,
  area: (i) => state.objects[i] && objectArea(state.objects[i]),
  metrics: (i) => state.objects[i] && state.objects[i].metrics,
  imageToScreen(x, y) {
    const [sx, sy] = toScreen(x, y);
    const rect = canvas.getBoundingClientRect();
    return [rect.left + sx, rect.top + sy];
  },
  // Milliseconds to draw one full frame (for the benchmark printed by the browser tests).
  timeFrames(n = 20, rebuild = false) {
    const t0 = performance.now();
    for (let k = 0; k < n; k++) { if (rebuild) pathCache.key = null; draw(); }
    return (performance.now() - t0) / n;
  },
  vertexOnScreen(i, k) {
    const [sx, sy] = toScreen(...state.objects[i].exterior[k]);
    const rect = canvas.getBoundingClientRect();
    return [rect.left + sx, rect.top + sy];
  },
  insideOnScreen(i) {
    const [sx, sy] = toScreen(...interiorPoint(state.objects[i]));
    const rect = canvas.getBoundingClientRect();
    return [rect.left + sx, rect.top + sy];
  },
};

// ------------------------------------------------------------------ start

setupDialogs();
setMode('select');
new ResizeObserver(() => { resize(); }).observe(viewerEl);
resize();
fit();
const img = new Image();
img.decoding = 'async';
img.addEventListener('load', () => {
  state.image = img;
  requestRender();
  // A half-size (at most 2048 px) copy is drawn while zoomed out: far cheaper per frame for huge images.
  const side = Math.max(img.naturalWidth, img.naturalHeight);
  if (side > 2048 && window.createImageBitmap) {
    const k = 2048 / side;
    createImageBitmap(img, {
      resizeWidth: Math.round(img.naturalWidth * k), resizeHeight: Math.round(img.naturalHeight * k), resizeQuality: 'medium',
    }).then((bitmap) => { state.small = bitmap; state.smallScale = 2048 / Math.max(cfg.width, cfg.height); requestRender(); })
      .catch(() => {});
  }
});
img.src = cfg.previewUrl;
loadResult();
