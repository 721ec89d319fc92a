import { TONE_FILL } from './tones.js';

/**
 * The dashboard: one HTML page with its styles and script inline (nothing fetched from anywhere
 * but the server that served it). The script listens to `/events` (Server-Sent Events), keeps the
 * tree, each instance's recent states and the recent events (all sent first, so a page opened
 * late shows what happened before), highlights the current state in the generated lifecycle
 * diagram, and posts demo faults to `/api/fault` and requests to `/api/request`.
 */

/** What the page is built with. */
export interface DashboardPageInput {
  /** The instance lifecycle diagram (from `machineToSvg`), each state a `g[data-state]`. */
  instanceSvg: string;
  /** The supervisor machine diagram. */
  supervisorSvg: string;
}

/**
 * The page's HTML.
 *
 * @example
 * ```ts
 * const html = dashboardPage({ instanceSvg: machineToSvg(builtinGraph('instance')), supervisorSvg: machineToSvg(builtinGraph('supervisor')) });
 * ```
 */
export function dashboardPage(input: DashboardPageInput): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>umdkit dashboard</title>
<style>${STYLE}</style>
</head>
<body>
<header>
  <h1>umdkit</h1>
  <span id="root-state" class="state">…</span>
  <span id="conn" class="conn">connecting…</span>
</header>
<main>
  <section id="diagram-panel">
    <h2>Lifecycle of <span id="selected-name">—</span> <small>(click an instance to follow it)</small></h2>
    <div id="instance-diagram" class="diagram">${input.instanceSvg}</div>
  </section>
  <section id="tree-panel">
    <h2>Supervision tree</h2>
    <div id="tree"></div>
  </section>
  <div id="side">
    <section id="events-panel">
      <h2>Events <small>(newest first)</small> <span id="dropped"></span></h2>
      <ol id="events"></ol>
    </section>
    <section id="supervisor-panel">
      <h2>Root supervisor</h2>
      <div id="supervisor-diagram" class="diagram">${input.supervisorSvg}</div>
    </section>
  </div>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

// Laid out for a laptop window (1400 x 900 and up): the lifecycle diagram across the whole width,
// at close to its natural size so its labels stay readable; the tree beside the events below it.
const STYLE = `
:root { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1f2328; }
body { margin: 0; background: #f6f8fa; }
header { display: flex; gap: 1em; align-items: baseline; padding: .6em 1.2em; background: #24292f; color: #fff; }
header h1 { font-size: 1.2em; margin: 0; }
.conn { margin-left: auto; font-size: .85em; opacity: .8; }
main { display: grid; grid-template-columns: minmax(540px, 1fr) minmax(420px, 1fr); gap: 1em; padding: 1em; align-items: start; }
#diagram-panel { grid-column: 1 / span 2; }
#side { display: grid; gap: 1em; min-width: 0; }
section { background: #fff; border: 1px solid #d0d7de; border-radius: 6px; padding: .6em 1em; overflow: auto; min-width: 0; }
h2 { font-size: 1em; margin: .3em 0 .6em; }
h2 small { font-weight: normal; color: #57606a; }
.node { margin-left: 1.2em; }
#tree > .node { margin-left: 0; }
.line { display: flex; flex-wrap: wrap; gap: .3em .6em; align-items: center; padding: .25em .3em; border-radius: 4px; }
.instance { border-radius: 4px; margin-top: .2em; }
.instance > .line { cursor: pointer; flex-wrap: nowrap; }
.instance.selected { background: #ddf4ff; }
.name { font-weight: 600; font-family: ui-monospace, monospace; white-space: nowrap; }
.state { padding: 0 .5em; border-radius: 999px; font-size: .85em; border: 1px solid #0002; color: #1f2328; white-space: nowrap; }
.state[data-tone=ok] { background: ${TONE_FILL.ok}; }
.state[data-tone=starting] { background: ${TONE_FILL.starting}; }
.state[data-tone=bad] { background: ${TONE_FILL.bad}; }
.state[data-tone=off] { background: ${TONE_FILL.off}; }
.facts { display: flex; flex-wrap: wrap; gap: 0 .9em; padding: 0 .3em 0 1.6em; }
.fact { font-size: .85em; color: #57606a; font-family: ui-monospace, monospace; white-space: nowrap; }
.last-exit { font-size: .85em; color: #cf222e; }
.history { padding: .1em .3em .3em 1.6em; font-size: .8em; color: #57606a; }
.history .h + .h::before { content: " → "; color: #8c959f; }
.actions { display: flex; gap: .4em; margin-left: auto; flex: none; }
button { font-size: .8em; padding: .15em .7em; border-radius: 4px; border: 1px solid #d0d7de; background: #f6f8fa; cursor: pointer; white-space: nowrap; }
button.kill { border-color: #cf222e; color: #cf222e; }
form.request { display: flex; flex-wrap: wrap; gap: .3em .8em; align-items: end; padding: .2em .3em .4em 1.6em; }
form.request label { display: flex; flex-direction: column; font-size: .75em; color: #57606a; }
input { font-size: 1.05em; font-family: ui-monospace, monospace; width: 9em; margin-top: .1em; }
input.timeout { width: 5.5em; }
.result { flex-basis: 100%; font-size: .8em; font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
.result:empty { display: none; }
.result.ok { color: #1a7f37; } .result.bad { color: #cf222e; }
.diagram svg { display: block; max-width: 100%; height: auto; margin: 0 auto; }
#events { font-family: ui-monospace, monospace; font-size: .8em; max-height: 19em; overflow: auto; margin: 0; padding: 0; list-style: none; }
#events li { padding: .1em 0; border-bottom: 1px solid #f0f2f4; }
#events li.empty { color: #57606a; font-family: system-ui, sans-serif; border: none; }
#dropped { font-weight: normal; color: #9a6700; font-size: .85em; }
`;

// Plain ES2017 in a string: no build step, no framework, nothing loaded from elsewhere. Text from
// the server goes through textContent only, never innerHTML.
const SCRIPT = String.raw`
(function () {
  'use strict';
  var HISTORY_SHOWN = 14;
  var EVENTS_SHOWN = 150;
  // Event times are the manager's monotonic clock (ms); the server says how to turn them into wall time.
  var data = { snapshot: null, history: {}, selected: null, shape: '', clockOffsetMs: 0 };
  function wall(at) { return new Date(at + data.clockOffsetMs).toLocaleTimeString(); }

  function tone(state) {
    var parts = String(state).split('+');
    function any(list) { return parts.some(function (p) { return list.indexOf(p) >= 0; }); }
    if (any(['crashed', 'failed'])) return 'bad';
    if (any(['extracting', 'spawning', 'backoff', 'restarting', 'recycling', 'starting'])) return 'starting';
    if (any(['stopping', 'stopped'])) return 'off';
    return 'ok';
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function setState(span, state) {
    span.textContent = state;
    span.setAttribute('data-tone', tone(state));
  }

  function post(path, body) {
    return fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      .then(function (r) { return r.json(); });
  }

  function shapeOf(node) {
    return node.kind + ':' + (node.id || node.name) + '[' + (node.children || []).map(shapeOf).join(',') + ']';
  }

  function build(node, index) {
    var box = el('div', 'node ' + node.kind);
    var line = el('div', 'line');
    box.appendChild(line);
    if (node.kind === 'supervisor') {
      box.setAttribute('data-supervisor', node.name);
      line.appendChild(el('span', 'name', node.name + ' (' + node.strategy + ')'));
      line.appendChild(el('span', 'state'));
      line.appendChild(el('span', 'fact restarts'));
    } else if (node.kind === 'driver') {
      box.setAttribute('data-driver', node.name);
      line.appendChild(el('span', 'name', node.name));
      line.appendChild(el('span', 'state'));
      line.appendChild(el('span', 'fact queued'));
      line.appendChild(el('span', 'fact inflight'));
      // A labelled form of its own under the driver: what each box is for is written next to it.
      var form = el('form', 'request');
      function field(text, cls, value, placeholder) {
        var label = el('label', null, text);
        var input = el('input', cls);
        input.value = value; if (placeholder) input.placeholder = placeholder;
        label.appendChild(input);
        form.appendChild(label);
        return input;
      }
      var method = field('method', 'method', '', 'none');
      var payload = field('payload (JSON)', 'payload', '"ping"');
      var timeout = field('timeout (ms)', 'timeout', '2000');
      timeout.inputMode = 'numeric';
      var send = el('button', 'send', 'send request');
      send.type = 'submit';
      var result = el('div', 'result');
      form.appendChild(send);
      form.appendChild(result);
      form.addEventListener('submit', function (ev) {
        ev.preventDefault();
        var body = { driver: node.name, timeoutMs: Number(timeout.value) || 2000 };
        if (method.value) body.method = method.value;
        try { body.payload = payload.value === '' ? null : JSON.parse(payload.value); } catch (err) { body.payload = payload.value; }
        result.className = 'result'; result.textContent = '…';
        post('/api/request', body).then(function (answer) {
          result.className = 'result ' + (answer.ok ? 'ok' : 'bad');
          result.textContent = answer.ok ? 'OK ' + JSON.stringify(answer.value) : answer.code + ': ' + answer.message;
        }, function (err) { result.className = 'result bad'; result.textContent = String(err); });
      });
      box.appendChild(form);
    } else {
      box.setAttribute('data-instance', node.id);
      line.appendChild(el('span', 'name', '#' + index + ' ' + node.id));
      line.appendChild(el('span', 'state'));
      // The fault buttons stay together at the right end of the instance's first line.
      var actions = el('span', 'actions');
      [['kill', 'SIGKILL'], ['hang', 'SIGSTOP'], ['resume', 'SIGCONT']].forEach(function (pair) {
        var b = el('button', pair[0], pair[0]);
        b.type = 'button';
        b.title = 'send ' + pair[1] + ' to the handler process';
        b.addEventListener('click', function (ev) {
          ev.stopPropagation();
          post('/api/fault', { instance: node.id, action: pair[0] }).then(function (answer) {
            logLine(answer.ok ? 'fault: ' + pair[1] + ' sent to pid ' + answer.pid : 'fault refused: ' + answer.message);
          });
        });
        actions.appendChild(b);
      });
      line.appendChild(actions);
      var facts = el('div', 'facts');
      ['pid', 'gen', 'restarts', 'inflight'].forEach(function (f) { facts.appendChild(el('span', 'fact ' + f)); });
      facts.appendChild(el('span', 'last-exit'));
      box.appendChild(facts);
      box.addEventListener('click', function () { select(node.id); });
      box.appendChild(el('div', 'history'));
    }
    (node.children || []).forEach(function (child, i) { box.appendChild(build(child, i)); });
    return box;
  }

  function update(node, scope) {
    var box = node.kind === 'instance' ? scope.querySelector('[data-instance="' + node.id + '"]')
      : node.kind === 'driver' ? scope.querySelector('[data-driver="' + node.name + '"]')
      : scope.querySelector('[data-supervisor="' + node.name + '"]');
    if (!box) return;
    var line = box.firstChild;
    setState(line.querySelector('.state'), node.state);
    var facts = node.kind === 'instance' ? box.querySelector(':scope > .facts') : line;
    if (node.kind === 'supervisor') {
      line.querySelector('.restarts').textContent = 'restarts ' + node.restarts;
    } else if (node.kind === 'driver') {
      line.querySelector('.queued').textContent = 'queued ' + node.queued;
      line.querySelector('.inflight').textContent = 'in flight ' + node.inFlight;
    } else {
      facts.querySelector('.pid').textContent = 'pid ' + (node.pid === null ? '-' : node.pid);
      facts.querySelector('.gen').textContent = 'gen ' + node.generation;
      facts.querySelector('.restarts').textContent = 'restarts ' + node.restarts;
      facts.querySelector('.inflight').textContent = 'in flight ' + node.inFlight;
      facts.querySelector('.last-exit').textContent = node.lastExit ? 'last: ' + node.lastExit.reason : '';
      renderHistory(node.id);
    }
    (node.children || []).forEach(function (child) { update(child, box); });
  }

  function instances(node, out) {
    out = out || [];
    if (node.kind === 'instance') out.push(node);
    (node.children || []).forEach(function (c) { instances(c, out); });
    return out;
  }

  function render() {
    var snap = data.snapshot;
    if (!snap) return;
    var tree = document.getElementById('tree');
    var shape = shapeOf(snap);
    if (shape !== data.shape) {
      tree.textContent = '';
      tree.appendChild(build(snap, 0));
      data.shape = shape;
    }
    update(snap, tree);
    setState(document.getElementById('root-state'), snap.gaveUp ? 'failed' : snap.state);
    var all = instances(snap);
    if (!all.some(function (i) { return i.id === data.selected; })) data.selected = all.length ? all[0].id : null;
    select(data.selected);
    highlight('supervisor-diagram', snap.state);
  }

  function renderHistory(id) {
    var box = document.querySelector('[data-instance="' + id + '"] .history');
    if (!box) return;
    box.textContent = '';
    (data.history[id] || []).slice(-HISTORY_SHOWN).forEach(function (h) {
      var s = el('span', 'h', h.state);
      s.title = 'generation ' + h.generation + ' at ' + wall(h.at);
      box.appendChild(s);
    });
  }

  function select(id) {
    data.selected = id;
    Array.prototype.forEach.call(document.querySelectorAll('.instance'), function (e) {
      e.classList.toggle('selected', e.getAttribute('data-instance') === id);
    });
    var node = data.snapshot && instances(data.snapshot).filter(function (i) { return i.id === id; })[0];
    document.getElementById('selected-name').textContent = node ? node.name + ' ' + node.id : '—';
    highlight('instance-diagram', node ? node.state : null);
  }

  function highlight(diagram, state) {
    var svg = document.getElementById(diagram);
    Array.prototype.forEach.call(svg.querySelectorAll('[data-state]'), function (g) {
      g.classList.toggle('current', g.getAttribute('data-state') === state);
    });
  }

  function describe(e) {
    switch (e.type) {
      case 'state': return e.driver + ' ' + e.instance + ' g' + e.generation + ': ' + e.from + ' → ' + e.to;
      case 'spawn': return e.driver + ' ' + e.instance + ' g' + e.generation + ': spawned pid ' + e.pid;
      case 'exit': return e.driver + ' ' + e.instance + ' g' + e.generation + ': pid ' + e.pid + ' exited (' + (e.signal || 'code ' + e.code) + ')';
      case 'fault': return e.driver + ' ' + e.instance + ' g' + e.generation + ': fault: ' + e.reason;
      case 'restart': return e.supervisor + ' restarts ' + e.child + ' in ' + Math.round(e.delayMs) + ' ms: ' + e.reason;
      case 'escalate': return e.supervisor + ' escalates: ' + e.reason;
      case 'gave-up': return e.supervisor + ' GAVE UP: ' + e.reason;
      case 'request': return e.driver + ' request ' + e.request + ': ' + e.outcome + ' in ' + Math.round(e.latencyMs) + ' ms' + (e.message ? ': ' + e.message : '');
      case 'log': return e.driver + ' ' + e.instance + ' stderr: ' + e.line;
      case 'sandbox': return e.driver + ' sandbox dropped ' + e.dropped.join(', ') + ': ' + e.reason;
      default: return e.type;
    }
  }

  function logLine(text, at) {
    var list = document.getElementById('events');
    var empty = list.querySelector('.empty');
    if (empty) list.removeChild(empty);
    var item = el('li', null, (at === undefined ? new Date().toLocaleTimeString() : wall(at)) + '  ' + text);
    list.insertBefore(item, list.firstChild);
    while (list.childNodes.length > EVENTS_SHOWN) list.removeChild(list.lastChild);
  }

  function findInstance(node, id) {
    if (node.kind === 'instance' && node.id === id) return node;
    var kids = node.children || [];
    for (var i = 0; i < kids.length; i++) { var hit = findInstance(kids[i], id); if (hit) return hit; }
    return null;
  }

  function onManagerEvent(e) {
    logLine(describe(e), e.at);
    if (e.type !== 'state') return;
    var list = data.history[e.instance] || (data.history[e.instance] = []);
    list.push({ state: e.to, generation: e.generation, at: e.at });
    if (list.length > 50) list.splice(0, list.length - 50);
    // Shown at once: the next snapshot may come after the instance has already moved on.
    var node = data.snapshot && findInstance(data.snapshot, e.instance);
    if (node) { node.state = e.to; node.generation = e.generation; node.pid = e.pid; update(node, document.getElementById('tree')); }
    if (e.instance === data.selected) select(e.instance);
  }

  var conn = document.getElementById('conn');
  var source = new EventSource('/events');
  source.addEventListener('init', function (m) {
    var d = JSON.parse(m.data);
    data.snapshot = d.snapshot;
    data.history = d.history || {};
    data.clockOffsetMs = d.clockOffsetMs || 0;
    // What happened before this page opened (a reconnect gets the whole list again: start afresh).
    var list = document.getElementById('events');
    list.textContent = '';
    var recent = d.recent || [];
    if (recent.length === 0) list.appendChild(el('li', 'empty', 'nothing has happened since the dashboard started'));
    recent.forEach(function (e) { logLine(describe(e), e.at); });
    conn.textContent = 'live';
    render();
  });
  source.addEventListener('snapshot', function (m) { data.snapshot = JSON.parse(m.data); render(); });
  source.addEventListener('manager', function (m) { onManagerEvent(JSON.parse(m.data)); });
  source.addEventListener('dropped', function (m) {
    document.getElementById('dropped').textContent = '(' + JSON.parse(m.data).total + ' dropped: this page read too slowly)';
  });
  source.addEventListener('end', function (m) {
    data.snapshot = JSON.parse(m.data).snapshot;
    render();
    conn.textContent = 'manager stopped';
    source.close();
  });
  source.onerror = function () { if (source.readyState !== 2) conn.textContent = 'reconnecting…'; };
})();
`;
