/**
 * rerun.js: "Run again" — start a finished run's scenario again with the
 * same engine and the same params, as offered beside a caveat that the
 * machine was busy while it ran.
 */

import { postJSON } from './api.js';

/** runAgainRequest is the body of POST /api/runs that starts the run described by info (GET /api/runs/{id}) again. */
export function runAgainRequest(info) {
  return { scenario: info.scenario, engine: info.engine, params: { ...(info.params || {}) } };
}

/**
 * runAgain starts run id again and returns the new run ({id, status,
 * position}); it throws an Error saying why when the server refuses.
 */
export async function runAgain(id, fetchImpl = globalThis.fetch) {
  const res = await fetchImpl(`/api/runs/${encodeURIComponent(id)}`, { headers: { Accept: 'application/json' } });
  const info = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(info.error || `${res.status} ${res.statusText}`);
  const { res: started, data } = await postJSON('/api/runs', runAgainRequest(info));
  if (started.status !== 201) throw new Error(data.error || `${started.status} ${started.statusText}`);
  return data;
}
