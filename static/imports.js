/**
 * imports.js: the recent-runs page (/runs).
 *
 * The upload form sends a Go execution trace (runtime/trace) to POST
 * /api/imports as the "trace" field of a multipart form. On 201 the page
 * goes to the new run's permalink; on 400 or 413 it shows the server's
 * message (which says what is wrong with the file) next to the form. The
 * form also works without JavaScript (the server answers with JSON).
 *
 * The filter form submits itself when a choice changes.
 */

import { formatBytes } from './format.js';

const $ = (id) => document.getElementById(id);

/** startRunsPage wires the upload and filter forms of /runs. */
export function startRunsPage(root) {
  const form = $('import-form');
  if (form) new TraceUpload(form);
  const filter = document.querySelector('form.runs-filter');
  for (const select of filter?.querySelectorAll('select') || []) {
    select.addEventListener('change', () => filter.requestSubmit());
  }
  return root;
}

/** TraceUpload sends the chosen trace with fetch and shows the outcome. */
class TraceUpload {
  constructor(form) {
    this.form = form;
    this.file = $('import-file');
    this.button = $('import-submit');
    this.error = $('import-error');
    this.status = $('import-status');
    this.limit = Number(form.dataset.maxBytes) || 0;
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.send();
    });
    this.file?.addEventListener('change', () => this.showError(''));
  }

  /** showError shows the server's (or our) message; '' hides it. */
  showError(text) {
    if (!this.error) return;
    this.error.textContent = text;
    this.error.hidden = !text;
    if (text) this.file?.setAttribute('aria-invalid', 'true');
    else this.file?.removeAttribute('aria-invalid');
  }

  /** setBusy shows that an upload is under way. */
  setBusy(busy, text = '') {
    if (this.button) this.button.disabled = busy;
    if (this.status) this.status.textContent = text;
    this.form.setAttribute('aria-busy', String(busy));
  }

  async send() {
    const file = this.file?.files?.[0];
    if (!file) {
      this.showError('trace: choose a file written by runtime/trace (go test -trace, or trace.Start).');
      this.file?.focus();
      return;
    }
    if (this.limit && file.size > this.limit) {
      this.showError(`trace: ${file.name} is ${formatBytes(file.size)}; the largest trace this server reads is ${formatBytes(this.limit)}.`);
      return;
    }
    this.showError('');
    this.setBusy(true, `Reading ${file.name} (${formatBytes(file.size)})…`);
    const body = new FormData();
    body.append('trace', file, file.name);
    let res;
    let data = {};
    try {
      res = await fetch(this.form.action, { method: 'POST', body, headers: { Accept: 'application/json' } });
      data = await res.json().catch(() => ({}));
    } catch (err) {
      this.setBusy(false);
      this.showError(`Could not reach the server: ${err.message}`);
      return;
    }
    if (res.status === 201 && data.id) {
      this.setBusy(true, `Imported ${(data.events || 0).toLocaleString('en')} events; opening the run…`);
      location.assign(data.url || `/r/${encodeURIComponent(data.id)}`);
      return;
    }
    this.setBusy(false);
    if (res.status === 429) {
      this.showError(`Too many uploads: retry in ${res.headers.get('Retry-After') || 'a few'} s.`);
      return;
    }
    this.showError(data.error || `${res.status} ${res.statusText}`);
    this.file?.focus();
  }
}
