/**
 * roomquestions.js: a workshop room's questions, drawn for room.js.
 *
 * The presenter asks (the scenario's built-in question for the settings on
 * the page, or one of their own); attendees answer once each; everyone sees
 * the answers fill in, and once the presenter's run ends the measured answer
 * is drawn on the same chart (roomchart.js). Each function takes the Room of
 * room.js: its code, role, questions, this tab's answers and its boxes.
 */

import { postJSON } from './api.js';
import { readFields, runRequest } from './params.js';
import { questionLine, measuredText, formatAnswer } from './roomstate.js';
import { questionChart } from './roomchart.js';
import { el, chartElement } from './roomdom.js';

/** toggleAsk shows or hides the presenter's ask panel above the dock's question. */
export function toggleAsk(room) {
  const b = document.getElementById('room-ask-toggle');
  let panel = document.getElementById('room-ask');
  if (panel) {
    panel.remove();
    b?.setAttribute('aria-pressed', 'false');
    return;
  }
  panel = room.askPanel(false);
  room.questionBox.before(panel);
  b?.setAttribute('aria-pressed', 'true');
}

/**
 * askPanel is the presenter's form: the built-in question of the
 * scenario on the page with the settings in its form (or, on the room
 * page, of a scenario picked with its defaults), or a question of their own.
 */
export function askPanel(room, onRoomPage) {
  const msg = el('p', { class: 'room-message', role: 'alert', hidden: true });
  const send = async (body) => {
    msg.hidden = true;
    const { res, data } = await postJSON(`/api/rooms/${encodeURIComponent(room.code)}/questions`, body).catch((err) => ({ res: { ok: false }, data: { error: err.message } }));
    if (!res.ok) {
      msg.textContent = data.error || 'The question was not asked.';
      msg.hidden = false;
      return;
    }
    room.hiddenQuestion = '';
    if (!onRoomPage) room.toggleAsk();
  };
  const panel = el('section', { id: 'room-ask', class: 'room-ask', 'aria-label': 'Ask the room' });
  const root = room.page.root;
  const scenario = root?.dataset.page === 'scenario' ? root.dataset.scenario : '';
  const builtins = room.state?.builtin || [];
  if (scenario && builtins.includes(scenario)) {
    panel.append(el('button', {
      type: 'button', id: 'room-ask-builtin', class: 'primary',
      onclick: () => {
        const body = runRequest(scenario, readFields(document.getElementById('params')));
        send({ scenario, engine: body.engine, params: body.params });
      },
      text: 'Ask the room to predict these settings',
    }), ' ', el('span', { class: 'hint', text: 'The question comes from the claim; your next Run measures the answer.' }));
  } else if (onRoomPage && builtins.length > 0) {
    const pick = el('select', { id: 'room-builtin-scenario', 'aria-label': 'Scenario' }, ...builtins.map((id) => el('option', { value: id, text: id })));
    panel.append(el('label', { text: 'Predict a scenario (its default settings): ' }, pick), ' ',
      el('button', { type: 'button', id: 'room-ask-builtin', onclick: () => send({ scenario: pick.value, params: {} }), text: 'Ask' }));
  }
  const text = el('input', { id: 'room-ask-text', type: 'text', maxlength: '300', placeholder: 'Your own question', 'aria-label': 'Question' });
  const kind = el('select', { id: 'room-ask-kind', 'aria-label': 'Answer' }, el('option', { value: 'number', text: 'a number' }), el('option', { value: 'choice', text: 'a choice' }));
  const choices = el('input', { id: 'room-ask-choices', type: 'text', placeholder: 'choices, separated by |', 'aria-label': 'Choices', hidden: true });
  kind.addEventListener('change', () => { choices.hidden = kind.value !== 'choice'; });
  const own = el('form', {
    class: 'room-ask-own',
    onsubmit: (e) => {
      e.preventDefault();
      const body = { text: text.value, kind: kind.value };
      if (kind.value === 'choice') body.choices = choices.value.split('|').map((c) => c.trim()).filter(Boolean);
      send(body);
    },
  }, text, ' answered with ', kind, ' ', choices, ' ', el('button', { type: 'submit', text: 'Ask' }));
  panel.append(own, msg);
  return panel;
}

/**
 * drawQuestions shows the questions: all of them on the room page, the
 * latest in the dock. A card that is shown already is updated in place,
 * so that an answer being typed survives other people's answers.
 */
export function drawQuestions(room) {
  const box = room.questionBox;
  if (!box) return;
  let list = [...room.questions.values()];
  if (!room.onRoomPage) {
    // The dock shows the latest question, unless it is about another
    // scenario than the one on this page.
    const here = room.page.root?.dataset.scenario;
    list = list.slice(-1).filter((q) => q.id !== room.hiddenQuestion && !(here && q.measure && q.measure.scenario !== here));
  }
  else list.reverse();
  room.cards = room.cards || new Map();
  const cards = list.map((q) => {
    let c = room.cards.get(q.id);
    if (!c) {
      c = questionCard(room, q);
      room.cards.set(q.id, c);
    }
    updateCard(room, c, q);
    return c.card;
  });
  for (const [id, c] of room.cards) if (!list.some((q) => q.id === id)) room.cards.delete(id) && c.card.remove();
  const same = cards.length === box.children.length && cards.every((c, i) => box.children[i] === c);
  if (!same) box.replaceChildren(...cards);
}

/** questionCard makes a question's card: its parts are filled by updateCard. */
function questionCard(room, q) {
  const card = el('article', { class: 'question', 'data-question': q.id, 'data-kind': q.kind });
  const head = el('div', { class: 'q-head' }, el('h3', { class: 'q-text', text: q.text }));
  if (!room.onRoomPage) {
    head.append(el('button', { type: 'button', class: 'q-hide', title: 'Hide this question on this screen', 'aria-label': 'Hide', onclick: () => { room.hiddenQuestion = q.id; room.drawQuestions(); }, text: '×' }));
  }
  const parts = {
    line: el('p', { class: 'q-line' }),
    form: null,
    yours: el('p', { class: 'q-yours', hidden: true }),
    chart: el('div', { class: 'q-chart' }),
    measured: el('p', { class: 'q-measured', hidden: true }),
    note: el('p', { class: 'q-note', hidden: true }),
    close: null,
  };
  card.append(head, parts.line, parts.yours, parts.chart, parts.measured, parts.note);
  return { card, parts, key: '' };
}

/** updateCard brings a card up to date with q (and this tab's answer). */
function updateCard(room, c, q) {
  const mine = room.answered[q.id];
  const key = JSON.stringify([q, mine]);
  if (key === c.key) return;
  c.key = key;
  const p = c.parts;
  c.card.dataset.measured = String(!!q.measured);
  p.line.textContent = questionLine(q);
  const wantForm = room.role !== 'presenter' && q.open && mine === undefined;
  if (wantForm && !p.form) {
    p.form = answerForm(room, q);
    p.line.after(p.form);
  } else if (!wantForm && p.form) {
    p.form.remove();
    p.form = null;
  }
  p.yours.hidden = mine === undefined;
  if (mine !== undefined) p.yours.textContent = `Your answer: ${q.kind === 'choice' ? q.choices[mine] : formatAnswer(mine)}`;
  p.chart.replaceChildren(chartElement(questionChart(q, mine)));
  p.measured.hidden = !q.measured;
  p.measured.textContent = measuredText(q);
  p.note.hidden = !!q.measured || !q.note;
  p.note.textContent = q.note || '';
  const wantClose = room.role === 'presenter' && q.open;
  if (wantClose && !p.close) {
    p.close = el('button', {
      type: 'button', class: 'q-close', onclick: () => postJSON(`/api/rooms/${encodeURIComponent(room.code)}/questions/${encodeURIComponent(q.id)}/close`, {}),
      text: 'Close answers',
    });
    c.card.append(p.close);
  } else if (!wantClose && p.close) {
    p.close.remove();
    p.close = null;
  }
}

/** answerForm is an attendee's answer to q: a button per choice, or a number. */
function answerForm(room, q) {
  const msg = el('p', { class: 'room-message', role: 'alert', hidden: true });
  const answer = async (value) => {
    const { res, data } = await postJSON(`/api/rooms/${encodeURIComponent(room.code)}/questions/${encodeURIComponent(q.id)}/answers`, { value })
      .catch((err) => ({ res: { ok: false }, data: { error: err.message } }));
    if (res.ok || res.status === 409) {
      if (res.ok) room.answered[q.id] = value;
      room.drawQuestions();
      return;
    }
    msg.textContent = data.error || 'Your answer was not taken.';
    msg.hidden = false;
  };
  if (q.kind === 'choice') {
    return el('div', { class: 'q-answer', role: 'group', 'aria-label': 'Your answer' },
      ...q.choices.map((c, i) => el('button', { type: 'button', class: 'q-choice', 'data-choice': i, onclick: () => answer(i), text: c })), msg);
  }
  const input = el('input', {
    type: 'number', class: 'q-number', inputmode: 'numeric', 'aria-label': 'Your answer', required: true,
    min: q.min ?? null, max: q.max ?? null, step: 'any',
  });
  return el('form', { class: 'q-answer', onsubmit: (e) => { e.preventDefault(); answer(Number(input.value)); } },
    input, q.unit ? ` ${q.unit} ` : ' ', el('button', { type: 'submit', class: 'primary', text: 'Answer' }), msg);
}
