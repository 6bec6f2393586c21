// Shared helpers of the Spheroseg pages: configuration, CSRF, JSON requests, dialogs, messages.
// Plain ES module (no build step); data comes from <script type="application/json"> blocks.

export function readJSON(id) {
  const el = document.getElementById(id);
  return el ? JSON.parse(el.textContent) : {};
}

export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  if (match) return decodeURIComponent(match[1]);
  const input = document.querySelector('input[name="csrfmiddlewaretoken"]');
  return input ? input.value : '';
}

// fmt("Running · %(pct)s%%", {pct: 40}) -> "Running · 40%" (Django's %-style placeholders).
export function fmt(template, params = {}) {
  return String(template)
    .replace(/%\((\w+)\)s/g, (_, key) => (key in params ? String(params[key]) : ''))
    .replace(/%%/g, '%');
}

// JSON request with the session cookie and the CSRF header; never throws for HTTP errors.
export async function api(url, { method = 'GET', body } = {}) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRFToken'] = csrfToken();
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(url, {
      method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    return { ok: false, status: 0, data: { detail: String(err) } };
  }
  let data = null;
  if (response.status !== 204) {
    try { data = await response.json(); } catch { data = null; }
  }
  return { ok: response.ok, status: response.status, data };
}

// A readable message from the project's JSON error shape {detail, code, errors}.
export function errorText(result, fallback) {
  const data = result && result.data;
  if (!data) return fallback;
  const parts = [];
  if (data.detail) parts.push(data.detail);
  if (data.errors && typeof data.errors === 'object') {
    for (const [field, msgs] of Object.entries(data.errors)) {
      parts.push(`${field}: ${Array.isArray(msgs) ? msgs.join(' ') : msgs}`);
    }
  }
  return parts.join(' ') || fallback;
}

let flashTimer = null;
export function flash(message, kind = 'info') {
  const box = document.getElementById('flash');
  if (!box) return;
  box.textContent = message;
  box.className = `flash flash-${kind}`;
  clearTimeout(flashTimer);
  if (kind !== 'error') flashTimer = setTimeout(() => { box.textContent = ''; box.className = 'flash'; }, 6000);
}

// <button data-open-dialog="id">, <button data-close-dialog>, <form data-confirm="question">.
export function setupDialogs() {
  document.querySelectorAll('[data-open-dialog]').forEach((btn) => {
    btn.addEventListener('click', () => {
      const dialog = document.getElementById(btn.dataset.openDialog);
      if (dialog && !dialog.open) dialog.showModal();
    });
  });
  document.querySelectorAll('[data-close-dialog]').forEach((btn) => {
    btn.addEventListener('click', () => btn.closest('dialog').close());
  });
  document.querySelectorAll('form[data-confirm]').forEach((form) => {
    form.addEventListener('submit', (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
  const hash = window.location.hash.slice(1);
  if (hash) {
    const dialog = document.getElementById(hash);
    if (dialog && dialog.tagName === 'DIALOG') dialog.showModal();
  }
}

// The project websocket with reconnection; every (re)connect brings a fresh snapshot.
export function connectProjectSocket(path, { onMessage, onState }) {
  let delay = 1000;
  let stopped = false;
  let socket = null;
  function open() {
    const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
    socket = new WebSocket(`${scheme}://${window.location.host}${path}`);
    socket.addEventListener('open', () => { delay = 1000; onState('open'); });
    socket.addEventListener('message', (event) => {
      try { onMessage(JSON.parse(event.data)); } catch (err) { console.error(err); }
    });
    socket.addEventListener('close', (event) => {
      if (event.code === 4403 || stopped) { onState('refused'); return; }
      onState('closed');
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 15000);
    });
  }
  open();
  window.addEventListener('beforeunload', () => { stopped = true; if (socket) socket.close(); });
  return { send: (msg) => socket && socket.readyState === 1 && socket.send(JSON.stringify(msg)) };
}

// Download an export: small exports stream at once (saved from a blob), large ones answer 202
// with a background job that is polled until its file can be downloaded. Errors are shown.
export async function downloadExport(url, { onState = () => {} } = {}) {
  let response;
  try {
    response = await fetch(url, { credentials: 'same-origin' });
  } catch (err) {
    flash(String(err), 'error');
    return false;
  }
  if (response.status === 202) {
    const body = await response.json();
    onState('queued');
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const job = await api(`/api/v1/jobs/${body.job.id}/`);
      if (!job.ok) { flash(errorText(job, 'Export failed'), 'error'); return false; }
      onState(job.data.status, job.data.progress);
      if (job.data.status === 'succeeded') { window.location.assign(body.download_url); return true; }
      if (['failed', 'dead', 'cancelled'].includes(job.data.status)) { flash(job.data.error || 'Export failed', 'error'); return false; }
    }
  }
  if (!response.ok) {
    let data = null;
    try { data = await response.json(); } catch { data = null; }
    flash(errorText({ data }, `HTTP ${response.status}`), 'error');
    return false;
  }
  const blob = await response.blob();
  const disposition = response.headers.get('Content-Disposition') || '';
  const match = disposition.match(/filename\*?=(?:UTF-8'')?"?([^";]+)"?/i);
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = match ? decodeURIComponent(match[1]) : 'export';
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 30000);
  return true;
}
