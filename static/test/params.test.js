import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fieldValue, runRequest, shareQuery, fieldOfError } from '../params.js';

const fields = [
  { name: 'engine', type: 'engine', value: 'go' },
  { name: 'workers', type: 'int', value: '8' },
  { name: 'increments', type: 'int', value: ' 10000 ' },
  { name: 'lock', type: 'bool', value: 'true' },
  { name: 'yield', type: 'bool', value: 'false' },
  { name: 'ratio', type: 'float', value: '0.25' },
  { name: 'mode', type: 'enum', value: 'parallel' },
];

test('runRequest types params: ints and floats as numbers, bools as booleans, enums as strings', () => {
  assert.deepEqual(runRequest('locks', fields), {
    scenario: 'locks',
    engine: 'go',
    params: { workers: 8, increments: 10000, lock: true, yield: false, ratio: 0.25, mode: 'parallel' },
  });
});

test('values that do not parse are sent as typed, for the server to name the field', () => {
  const cases = [
    ['int', 'abc', 'abc'], ['int', '1.5', '1.5'], ['int', '', ''], ['int', '-3', -3],
    ['float', '1e3', 1000], ['float', 'x', 'x'], ['bool', 'maybe', 'maybe'], ['enum', 'io', 'io'],
  ];
  for (const [type, raw, want] of cases) assert.deepEqual(fieldValue(type, raw), want, `${type} ${raw}`);
});

test('shareQuery writes the engine first and every field', () => {
  assert.equal(shareQuery(fields), 'engine=go&workers=8&increments=10000&lock=true&yield=false&ratio=0.25&mode=parallel');
  assert.equal(shareQuery([{ name: 'mode', type: 'enum', value: 'a b&c' }]), 'mode=a+b%26c');
});

test('fieldOfError finds the field an API error names', () => {
  assert.equal(fieldOfError('workers: 99 is not allowed; want a whole number from 1 to 64'), 'workers');
  assert.equal(fieldOfError('body: want a JSON object'), 'body');
  assert.equal(fieldOfError('queue is full'), '');
});
