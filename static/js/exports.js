// Exports page: every download goes through downloadExport (streamed file or background job).
import { downloadExport, flash } from './common.js';

document.querySelectorAll('a[data-format]').forEach((link) => {
  link.addEventListener('click', async (event) => {
    event.preventDefault();
    const label = link.textContent;
    link.setAttribute('aria-busy', 'true');
    const ok = await downloadExport(link.href, {
      onState: (status, progress) => { link.textContent = `${label} · ${status}${progress ? ` ${progress}%` : ''}`; },
    });
    link.textContent = label;
    link.removeAttribute('aria-busy');
    if (ok) flash(link.dataset.done || '', 'ok');
  });
});
