/**
 * ws.js: the client of a run's event socket, GET /api/runs/{id}/events.
 *
 * The server sends {"type":"status",...} and {"type":"events","events":[...]}
 * messages; a viewer joining late first receives the whole history. The
 * socket closes with 1000 when the run is over, 1008 when this viewer fell
 * too far behind and was dropped, 1001 when the server shuts down, 4001 when
 * a replay met a damaged part of the run's recording.
 */

/** Close codes the page reacts to. */
export const CLOSE_NORMAL = 1000;
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_TOO_SLOW = 1008;
/** CLOSE_DAMAGED is server/ws.go's CloseRecordingDamaged. */
export const CLOSE_DAMAGED = 4001;

/** eventsURL is the WebSocket URL of run id on the page's own origin. */
export function eventsURL(location, id) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/api/runs/${encodeURIComponent(id)}/events`;
}

/**
 * closeReason explains a close in words: {kind, message, reconnect} where
 * reconnect says whether offering to reconnect makes sense.
 */
export function closeReason(code, reason, sawFinal) {
  if (code === CLOSE_NORMAL || (sawFinal && code !== CLOSE_TOO_SLOW)) {
    return { kind: 'normal', message: '', reconnect: false };
  }
  if (code === CLOSE_TOO_SLOW) {
    return {
      kind: 'slow',
      message: 'This page fell too far behind the run and was dropped (the run goes on). Reconnect to load everything recorded so far.',
      reconnect: true,
    };
  }
  if (code === CLOSE_DAMAGED) {
    return {
      kind: 'damaged',
      message: `The recording of this run is damaged${reason ? ` (${reason})` : ''}: the replay stops there, so what is shown is not the whole run.`,
      reconnect: false,
    };
  }
  if (code === CLOSE_GOING_AWAY) {
    return { kind: 'shutdown', message: 'The server is shutting down; what was recorded is kept.', reconnect: true };
  }
  return {
    kind: 'lost',
    message: `The connection to the run was lost${reason ? ` (${reason})` : ''}.`,
    reconnect: true,
  };
}

/**
 * parseMessage decodes one socket message: {status, position} for a
 * status, {events} for a batch of events, or null for anything else.
 */
export function parseMessage(raw) {
  let msg;
  try {
    msg = JSON.parse(raw);
  } catch {
    return null;
  }
  if (msg && msg.type === 'events' && Array.isArray(msg.events)) return { events: msg.events };
  if (msg && msg.type === 'status' && typeof msg.status === 'string') return { status: msg.status, position: msg.position || 0 };
  return null;
}

/** FINAL lists the statuses after which the server closes the socket normally. */
const FINAL = ['done', 'failed', 'cancelled', 'timeout'];

/**
 * connectRun opens the event socket of run id. handlers.onMessage(raw) is
 * called with each message's text, in order, and does no more than queue
 * it: decoding (parseMessage) is left to the caller's frame loop, so that a
 * burst of history never blocks the socket. handlers.onClose({code, reason,
 * kind, message, reconnect}) is called once at the end. It returns
 * {close()} to stop watching.
 */
export function connectRun(id, handlers, { location = globalThis.location, WebSocketImpl = globalThis.WebSocket } = {}) {
  const ws = new WebSocketImpl(eventsURL(location, id));
  let sawFinal = false;
  let closedByUs = false;
  ws.addEventListener('message', (ev) => {
    const raw = ev.data;
    // Status messages are short; only they can be final.
    if (!sawFinal && raw.length < 200) {
      const m = parseMessage(raw);
      if (m && FINAL.includes(m.status)) sawFinal = true;
    }
    handlers.onMessage?.(raw);
  });
  ws.addEventListener('close', (ev) => {
    if (closedByUs) return;
    handlers.onClose?.({ code: ev.code, reason: ev.reason, ...closeReason(ev.code, ev.reason, sawFinal) });
  });
  return {
    close() {
      closedByUs = true;
      ws.close(CLOSE_NORMAL);
    },
  };
}
