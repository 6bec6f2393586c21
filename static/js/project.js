// Project page: gallery with live status badges (websocket), drag-and-drop upload with per-file
// progress, selection with segment / delete / export, members dialog.
import {
  api, connectProjectSocket, downloadExport, errorText, flash, fmt, readJSON, setupDialogs,
} from './common.js';

const cfg = readJSON('page-config');
const S = cfg.strings || {};
const gallery = document.getElementById('gallery');
const tiles = new Map();
document.querySelectorAll('#gallery .tile').forEach((tile) => tiles.set(tile.dataset.imageId, tile));

// ------------------------------------------------------------------ status badges

const JOB_TO_IMAGE = { queued: 'queued', running: 'running', succeeded: 'done', failed: 'failed', dead: 'failed' };

function part(tile, role) { return tile.querySelector(`[data-role="${role}"]`); }

function renderTile(tile, state) {
  const status = state.status;
  tile.dataset.status = status;
  const badge = part(tile, 'badge');
  badge.className = `badge status-${status}`;
  let text = cfg.statusLabels[status] || status;
  if (status === 'queued' && state.queue_position) text = fmt(S.queuedAt, { pos: state.queue_position });
  else if (status === 'running') text = fmt(S.running, { pct: state.progress || 0 });
  badge.textContent = text;
  badge.title = state.stage && status === 'running' ? state.stage : (state.error || '');
  const progress = part(tile, 'progress');
  progress.hidden = !(status === 'running' || status === 'queued');
  progress.value = status === 'running' ? (state.progress || 0) : 0;
  const error = part(tile, 'error');
  error.hidden = status !== 'failed' || !state.error;
  error.textContent = status === 'failed' ? (state.error || '') : '';
  const count = part(tile, 'count');
  if (status === 'done' && state.object_count !== undefined && state.object_count !== null) {
    count.textContent = fmt(S.objects, { n: state.object_count });
  } else if (status !== 'done') {
    count.textContent = '';
  }
}

// The header's "n images · d of t segmented" is rendered (and translated, plurals included) by the
// server: after uploads and finished jobs, take it from a fresh copy of this page (debounced).
const projectCounts = document.getElementById('project-counts');
let countsTimer = null;
function refreshCounts() {
  if (!projectCounts) return;
  clearTimeout(countsTimer);
  countsTimer = setTimeout(async () => {
    try {
      const response = await fetch(window.location.href, { headers: { Accept: 'text/html' }, credentials: 'same-origin' });
      if (!response.ok) return;
      const fresh = new DOMParser().parseFromString(await response.text(), 'text/html').getElementById('project-counts');
      if (fresh) projectCounts.textContent = fresh.textContent;
    } catch { /* offline: the next change retries */ }
  }, 800);
}

async function refreshImage(imageId) {
  refreshCounts();
  const tile = tiles.get(imageId);
  if (!tile) return;
  const result = await api(`${cfg.imageApi}${imageId}/`);
  if (result.ok) renderTile(tile, result.data);
  else if (result.status === 404) { tile.remove(); tiles.delete(imageId); }
}

function onJobMessage(job) {
  if (!job.image_id || !tiles.has(job.image_id)) return;
  const status = JOB_TO_IMAGE[job.status];
  if (status === 'queued' || status === 'running') {
    renderTile(tiles.get(job.image_id), { ...job, status });
  } else {
    // Finished (done / failed / cancelled): the image's derived state (object count, error) is the truth.
    refreshImage(job.image_id);
  }
}

function onSnapshot(snapshot) {
  const active = new Set();
  for (const job of snapshot.jobs || []) {
    if (job.image_id) active.add(job.image_id);
    onJobMessage(job);
  }
  // Tiles that showed activity but have no active job any more finished while we were away.
  tiles.forEach((tile, imageId) => {
    if ((tile.dataset.status === 'queued' || tile.dataset.status === 'running') && !active.has(imageId)) {
      refreshImage(imageId);
    }
  });
}

const liveState = document.getElementById('live-state');
connectProjectSocket(cfg.wsPath, {
  onMessage(msg) {
    if (msg.type === 'snapshot') onSnapshot(msg);
    else if (msg.type === 'job') onJobMessage(msg);
  },
  onState(state) {
    liveState.textContent = state === 'open' ? S.live : S.offline;
    liveState.dataset.state = state;
  },
});

// ------------------------------------------------------------------ tiles made in the browser

function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') node.textContent = v;
    else if (k === 'hidden') node.hidden = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

function makeTile(image) {
  const checkbox = el('input', { type: 'checkbox', class: 'select-image', value: image.id });
  const tile = el('li', { class: 'tile', 'data-image-id': image.id, 'data-status': 'new' }, [
    el('label', { class: 'tile-select' }, [checkbox, el('span', { class: 'visually-hidden', text: image.original_name })]),
    el('a', { class: 'tile-link', href: `${cfg.imagePage}${image.id}/` }, [
      el('img', { class: 'thumb', src: image.thumbnail_url, alt: '', loading: 'lazy', width: '256', height: '256' }),
      el('span', { class: 'tile-name', text: image.original_name }),
    ]),
    el('div', { class: 'tile-meta' }, [
      el('span', { class: 'badge status-new', 'data-role': 'badge', text: cfg.statusLabels.new }),
      el('span', { class: 'muted small', 'data-role': 'count' }),
    ]),
    el('progress', { class: 'tile-progress', max: '100', value: '0', 'data-role': 'progress', hidden: true }),
    el('p', { class: 'tile-error small', 'data-role': 'error', hidden: true }),
    el('p', { class: 'muted small', text: `${image.width} × ${image.height} · ${image.bit_depth}-bit ${image.format}` }),
  ]);
  checkbox.addEventListener('change', updateSelection);
  return tile;
}

function addTile(image) {
  if (tiles.has(image.id)) return tiles.get(image.id);
  const tile = makeTile(image);
  gallery.prepend(tile);
  tiles.set(image.id, tile);
  const empty = document.getElementById('gallery-empty');
  if (empty) empty.remove();
  return tile;
}

// ------------------------------------------------------------------ upload

const dropzone = document.getElementById('dropzone');
const fileInput = document.getElementById('file-input');
const uploadList = document.getElementById('upload-list');
const rowTemplate = document.getElementById('upload-row-template');
const UPLOAD_CONCURRENCY = 2;

function uploadOne(file, row) {
  return new Promise((resolve) => {
    const bar = row.querySelector('progress');
    const state = row.querySelector('.upload-state');
    const form = new FormData();
    form.append('files', file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', cfg.imagesUrl);
    xhr.setRequestHeader('X-CSRFToken', readCsrf());
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) bar.value = Math.round((100 * event.loaded) / event.total);
    });
    xhr.addEventListener('load', () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { data = null; }
      const result = data && data.results && data.results[0];
      if (xhr.status < 300 && result && result.outcome === 'accepted') {
        bar.value = 100;
        row.classList.add('ok');
        state.textContent = S.uploaded;
        resolve(result.image);
      } else {
        row.classList.add('failed');
        const detail = (result && result.detail) || (data && data.detail) || `HTTP ${xhr.status}`;
        state.textContent = `${S.uploadFailed}: ${detail}`;
        state.setAttribute('role', 'alert');
        resolve(null);
      }
    });
    xhr.addEventListener('error', () => {
      row.classList.add('failed');
      state.textContent = `${S.uploadFailed}: ${S.networkError}`;
      resolve(null);
    });
    state.textContent = S.uploading;
    xhr.send(form);
  });
}

function readCsrf() {
  const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  if (m) return decodeURIComponent(m[1]);
  const input = document.querySelector('input[name="csrfmiddlewaretoken"]');
  return input ? input.value : '';
}

async function uploadFiles(fileList) {
  const files = Array.from(fileList);
  if (!files.length) return;
  const queue = files.map((file) => {
    const row = rowTemplate.content.firstElementChild.cloneNode(true);
    row.querySelector('.upload-name').textContent = file.name;
    uploadList.append(row);
    return { file, row };
  });
  const accepted = [];
  async function worker() {
    while (queue.length) {
      const { file, row } = queue.shift();
      const image = await uploadOne(file, row);
      if (image) { addTile(image); accepted.push(image.id); }
    }
  }
  await Promise.all(Array.from({ length: Math.min(UPLOAD_CONCURRENCY, files.length) }, worker));
  if (accepted.length) refreshCounts();
  if (accepted.length && document.getElementById('auto-segment').checked) {
    await segment(accepted, {});
  }
}

if (dropzone) {
  fileInput.addEventListener('change', () => { uploadFiles(fileInput.files); fileInput.value = ''; });
  ['dragenter', 'dragover'].forEach((type) => dropzone.addEventListener(type, (event) => {
    event.preventDefault();
    dropzone.classList.add('dragging');
  }));
  ['dragleave', 'drop'].forEach((type) => dropzone.addEventListener(type, (event) => {
    event.preventDefault();
    dropzone.classList.remove('dragging');
  }));
  dropzone.addEventListener('drop', (event) => uploadFiles(event.dataTransfer.files));
  dropzone.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' || event.key === ' ') { event.preventDefault(); fileInput.click(); }
  });
}

// ------------------------------------------------------------------ selection and actions

const selectAll = document.getElementById('select-all');
const selectedCount = document.getElementById('selected-count');

function selectedIds() {
  return Array.from(document.querySelectorAll('#gallery .select-image:checked')).map((c) => c.value);
}

function updateSelection() {
  const ids = selectedIds();
  selectedCount.textContent = ids.length ? fmt(S.selected, { n: ids.length }) : '';
  document.querySelectorAll('[data-needs-selection]').forEach((b) => { b.disabled = ids.length === 0; });
  document.querySelectorAll('#gallery .tile').forEach((t) => {
    t.classList.toggle('selected', t.querySelector('.select-image').checked);
  });
}

document.querySelectorAll('#gallery .select-image').forEach((c) => c.addEventListener('change', updateSelection));
selectAll.addEventListener('change', () => {
  document.querySelectorAll('#gallery .select-image').forEach((c) => { c.checked = selectAll.checked; });
  updateSelection();
});

async function segment(ids, options) {
  const body = { image_ids: ids, ...options };
  const result = await api(cfg.segmentUrl, { method: 'POST', body });
  if (!result.ok) { flash(errorText(result, S.requestFailed), 'error'); return; }
  for (const job of result.data.jobs || []) onJobMessage({ ...job, image_id: job.image_id });
  flash(fmt(S.segmentStarted, { n: ids.length }), 'ok');
}

const btnSegment = document.getElementById('btn-segment');
if (btnSegment) {
  btnSegment.addEventListener('click', () => {
    const options = {};
    const model = document.getElementById('seg-model').value;
    const threshold = document.getElementById('seg-threshold').value;
    if (model) options.model = model;
    if (threshold) options.threshold = Number(threshold);
    segment(selectedIds(), options);
  });
  document.getElementById('btn-delete').addEventListener('click', async () => {
    const ids = selectedIds();
    if (!ids.length || !window.confirm(fmt(S.confirmDelete, { n: ids.length }))) return;
    let deleted = 0;
    for (const id of ids) {
      const result = await api(`${cfg.imageApi}${id}/`, { method: 'DELETE' });
      if (result.ok || result.status === 404) {
        deleted += 1;
        tiles.get(id)?.remove();
        tiles.delete(id);
      } else {
        flash(errorText(result, S.requestFailed), 'error');
      }
    }
    if (deleted) { flash(fmt(S.deleted, { n: deleted }), 'ok'); refreshCounts(); }
    updateSelection();
  });
}

document.getElementById('btn-export').addEventListener('click', () => {
  // The option values are query fragments ("csv", "csv&table=summary"), written by the server.
  let url = `${cfg.exportUrl}?format=${document.getElementById('export-format').value}`;
  const ids = selectedIds();
  if (ids.length) url += `&images=${ids.join(',')}`;
  downloadExport(url);
});

setupDialogs();
updateSelection();
document.getElementById('selection-bar').addEventListener('submit', (event) => event.preventDefault());
