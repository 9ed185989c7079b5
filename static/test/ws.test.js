import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectRun, closeReason, eventsURL, parseMessage } from '../ws.js';

/** FakeSocket stands in for WebSocket: the test sends messages and closes. */
class FakeSocket extends EventTarget {
  static last = null;
  constructor(url) { super(); this.url = url; FakeSocket.last = this; }
  send() {}
  close() { this.closed = true; }
  message(obj) { const e = new Event('message'); e.data = JSON.stringify(obj); this.dispatchEvent(e); }
  end(code, reason = '') { const e = new Event('close'); e.code = code; e.reason = reason; this.dispatchEvent(e); }
}

test('eventsURL uses the page origin and ws or wss', () => {
  assert.equal(eventsURL({ protocol: 'http:', host: 'h:1' }, 'ab'), 'ws://h:1/api/runs/ab/events');
  assert.equal(eventsURL({ protocol: 'https:', host: 'h' }, 'a/b'), 'wss://h/api/runs/a%2Fb/events');
});

test('messages are handed over in order, decoded by parseMessage, and the close is explained', () => {
  const seen = [];
  connectRun('r1', {
    onMessage: (raw) => {
      const m = parseMessage(raw);
      seen.push(m.events ? ['events', m.events.length] : ['status', m.status, m.position]);
    },
    onClose: (c) => seen.push(['close', c.kind, c.reconnect]),
  }, { location: { protocol: 'http:', host: 'x' }, WebSocketImpl: FakeSocket });
  const s = FakeSocket.last;
  s.message({ type: 'status', status: 'queued', position: 2 });
  s.message({ type: 'events', events: [{ t: 0, k: 'lane' }, { t: 1, k: 'state' }] });
  s.message({ type: 'status', status: 'done' });
  s.end(1006); // lost after the final status: nothing to worry about
  assert.deepEqual(seen, [['status', 'queued', 2], ['events', 2], ['status', 'done', 0], ['close', 'normal', false]]);
  assert.equal(parseMessage('not json'), null);
  assert.equal(parseMessage('{"type":"hello"}'), null);
});

test('a viewer dropped as too slow is told so and offered a reconnect', () => {
  const r = closeReason(1008, 'too slow', false);
  assert.equal(r.kind, 'slow');
  assert.ok(r.reconnect);
  assert.match(r.message, /behind/);
  assert.equal(closeReason(1006, '', false).kind, 'lost');
  assert.equal(closeReason(1001, '', false).kind, 'shutdown');
  assert.equal(closeReason(1006, '', true).kind, 'normal', 'after the final status a lost socket does not matter');
});

test('a replay cut by a damaged recording says so and offers no reconnect', () => {
  const r = closeReason(4001, 'damaged from event 51200 on', false);
  assert.equal(r.kind, 'damaged');
  assert.equal(r.reconnect, false, 'reconnecting would meet the same damage');
  assert.match(r.message, /recording of this run is damaged \(damaged from event 51200 on\)/);
  assert.match(r.message, /not the whole run/);
});
