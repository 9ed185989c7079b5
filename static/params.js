/**
 * params.js: the scenario form as run parameters and as a share link.
 *
 * The form is a plain GET form, so its fields are strings; POST /api/runs
 * wants typed JSON: ints and floats as numbers, bools as booleans, enums as
 * strings. A value that does not parse is sent as typed by the user, so the
 * server's message (which names the field and the allowed range) explains it.
 */

/** fieldValue converts one form value to the JSON value of a param of type. */
export function fieldValue(type, raw) {
  const text = String(raw ?? '').trim();
  switch (type) {
    case 'int':
      return /^[-+]?\d+$/.test(text) ? Number(text) : text;
    case 'float': {
      const f = Number(text);
      return text !== '' && Number.isFinite(f) ? f : text;
    }
    case 'bool':
      if (text === 'true') return true;
      if (text === 'false') return false;
      return text;
    default:
      return String(raw ?? '');
  }
}

/**
 * runRequest builds the body of POST /api/runs from the form's fields
 * ([{name, type, value}]; the engine field has type "engine").
 */
export function runRequest(scenario, fields) {
  let engine = '';
  const params = {};
  for (const f of fields) {
    if (f.type === 'engine' || f.name === 'engine') {
      engine = String(f.value);
      continue;
    }
    params[f.name] = fieldValue(f.type, f.value);
  }
  return { scenario, engine, params };
}

/** shareQuery is the query string of the scenario page for these fields, engine first. */
export function shareQuery(fields) {
  const q = new URLSearchParams();
  const engine = fields.find((f) => f.type === 'engine' || f.name === 'engine');
  if (engine) q.set('engine', String(engine.value));
  for (const f of fields) {
    if (f === engine) continue;
    q.set(f.name, String(f.value ?? '').trim());
  }
  return q.toString();
}

/** readFields lists the named controls of a form as [{name, type, value}]. */
export function readFields(form) {
  const out = [];
  for (const el of form.elements) {
    if (!el.name || el.disabled) continue;
    out.push({ name: el.name, type: el.dataset.paramType || 'string', value: el.value });
  }
  return out;
}

/** fieldOfError returns the field an API error message names ("workers: ..."), or "". */
export function fieldOfError(message) {
  const m = /^([A-Za-z_][\w-]*): /.exec(String(message || ''));
  return m ? m[1] : '';
}
