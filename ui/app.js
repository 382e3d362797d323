// zretry dashboard: plain JS, no build step. Talks to the admin API with the
// token the operator typed (kept in sessionStorage, sent as a bearer header,
// never written into the page). Everything shown is set with textContent.
'use strict';
(() => {
  const TOKEN_KEY = 'zretry-token';
  const THEME_KEY = 'zretry-theme';
  const POLL_MS = 2000;
  const $ = (id) => document.getElementById(id);
  let token = sessionStorage.getItem(TOKEN_KEY);
  let timer = null;
  let charts = null;
  let lastBreakdown = 0;

  // ---------- helpers ----------
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return el;
  }
  const fmtInt = (n) => (n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US'));
  function duration(ms) {
    if (ms < 1000) return `${Math.round(ms)}ms`;
    if (ms < 60000) return `${(ms / 1000).toFixed(1)}s`;
    const m = Math.floor(ms / 60000);
    if (m < 60) return `${m}m${String(Math.floor((ms % 60000) / 1000)).padStart(2, '0')}s`;
    return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
  }
  /** A lateness for an axis: 0.5ms, 12ms, 1.5s. */
  const ms = (v) => (v < 1000 ? `${+v.toPrecision(3)}ms` : duration(v));
  function when(t) {
    if (t.state === 'waiting' || !t.at) return '–';
    const d = t.at - Date.now();
    return d > 0 ? `in ${duration(d)}` : `${duration(-d)} ago`;
  }
  const count = (n) => `${n} task${n === 1 ? '' : 's'}`;

  class ApiError extends Error {
    constructor(status, message, body) {
      super(message);
      this.status = status;
      this.body = body;
    }
  }

  async function api(path, body) {
    const init = { method: body ? 'POST' : 'GET', cache: 'no-store', headers: { authorization: `Bearer ${token}` } };
    if (body) {
      init.headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      setLive(false, 'server unreachable');
      throw new ApiError(0, `the server does not answer (${e.message})`);
    }
    let data = null;
    try {
      data = await res.json();
    } catch {
      // not JSON: reported by status below
    }
    if (res.status === 401) {
      signOut(data && data.error ? data.error : 'the token was refused');
      throw new ApiError(401, data ? data.error : 'unauthorized');
    }
    if (!res.ok) throw new ApiError(res.status, data && data.error ? data.error : `HTTP ${res.status}`, data);
    return data;
  }

  function toast(text, bad) {
    const t = $('toast');
    t.textContent = text;
    t.className = bad ? 'toast bad' : 'toast';
    t.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => (t.hidden = true), bad ? 9000 : 5000);
  }

  function setLive(ok, text) {
    const el = $('live');
    el.hidden = false;
    el.classList.toggle('stale', !ok);
    $('live-text').textContent = text;
  }

  /** Asks in a dialog; resolves true on OK. */
  function ask({ title, text, ok, danger, items }) {
    const d = $('confirm');
    $('confirm-title').textContent = title;
    $('confirm-text').textContent = text;
    const list = $('confirm-list');
    list.replaceChildren(...(items || []).map((i) => h('li', { text: i })));
    const okBtn = $('confirm-ok');
    okBtn.textContent = ok;
    okBtn.className = danger ? 'danger primary' : 'primary';
    return new Promise((resolve) => {
      const done = (v) => {
        okBtn.onclick = null;
        $('confirm-cancel').onclick = null;
        d.onclose = null;
        if (d.open) d.close();
        resolve(v);
      };
      okBtn.onclick = () => done(true);
      $('confirm-cancel').onclick = () => done(false);
      d.onclose = () => done(false);
      d.showModal();
    });
  }

  // ---------- theme ----------
  function applyTheme(theme) {
    if (theme) document.documentElement.dataset.theme = theme;
    else delete document.documentElement.dataset.theme;
  }
  applyTheme(localStorage.getItem(THEME_KEY));
  $('theme').addEventListener('click', () => {
    const dark = getComputedStyle(document.documentElement).colorScheme.includes('dark');
    const next = dark ? 'light' : 'dark';
    localStorage.setItem(THEME_KEY, next);
    applyTheme(next);
    if (charts) {
      for (const c of Object.values(charts)) c.destroy();
      charts = null;
      go(location.hash);
    }
  });

  /** Goes to a view (a hash that is already there is routed again). */
  function go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  }

  // ---------- sign in ----------
  function signOut(reason) {
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    $('login-error').textContent = reason || '';
    go('#/login');
  }
  $('signout').addEventListener('click', () => signOut(''));
  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    token = $('token').value.trim();
    $('token').value = '';
    try {
      await api('/api/stats');
      sessionStorage.setItem(TOKEN_KEY, token);
      $('login-error').textContent = '';
      go('#/overview');
    } catch (err) {
      if (err.status !== 401) $('login-error').textContent = err.message;
    }
  });

  // ---------- overview ----------
  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }
  function makeChart(el, series, opts) {
    const axis = { stroke: css('--muted'), grid: { stroke: css('--line'), width: 1 }, ticks: { stroke: css('--line') } };
    const width = Math.max(300, el.clientWidth || el.parentElement.clientWidth - 24);
    return new uPlot(
      {
        width,
        height: 210,
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(opts.minMax || 1, max * 1.1)] } },
        axes: [axis, { ...axis, size: 60, values: (u, vals) => vals.map((v) => (opts.ms ? ms(v) : fmtInt(v))) }],
        series: [{}, ...series.map(([label, color]) => ({ label, stroke: css(color), width: 2, spanGaps: false, value: (u, v) => (v === null || v === undefined ? '–' : opts.ms ? ms(v) : fmtInt(v)) }))],
      },
      [[], ...series.map(() => [])],
      el,
    );
  }
  function ensureCharts() {
    if (charts) return;
    charts = {
      throughput: makeChart($('chart-throughput'), [['succeeded', '--c1'], ['retried', '--c2'], ['dead', '--c3']], {}),
      lateness: makeChart($('chart-lateness'), [['p50', '--c4'], ['p90', '--c2'], ['p99', '--c3']], { ms: true }),
      depth: makeChart($('chart-depth'), [['due now', '--c4'], ['due later', '--c5'], ['in flight', '--c1'], ['queued', '--c2'], ['dead', '--c3']], {}),
    };
  }
  window.addEventListener('resize', () => {
    if (!charts) return;
    for (const [name, c] of Object.entries(charts)) c.setSize({ width: Math.max(300, $(`chart-${name}`).clientWidth), height: 210 });
  });

  function statsTable(el, headers, rows) {
    el.replaceChildren(
      h('thead', {}, h('tr', {}, headers.map((x, i) => h('th', { class: i > 0 ? 'num' : '', text: x })))),
      h('tbody', {}, rows.map((r) => h('tr', { class: r.total ? 'total' : '' }, r.cells.map((c, i) => h('td', { class: i > 0 ? 'num' : '', text: c }))))),
    );
  }

  function showStats(s) {
    $('ns').textContent = s.namespace;
    for (const card of document.querySelectorAll('#cards .card')) {
      const k = card.dataset.stat;
      const v = s.total[k];
      card.querySelector('.value').textContent = k === 'oldestDueAgeMs' ? (s.total.dueNow === 0 ? '–' : duration(v)) : fmtInt(v);
      card.classList.toggle('nonzero', v > 0);
    }
    const rows = s.control ?? [];
    const stopped = rows.filter((r) => r.stopped).map((r) => `${r.scope} ${r.breaker}`);
    const banner = $('banner');
    const notes = [s.pauses.length ? `Dispatch paused: ${s.pauses.join(', ')}` : '', stopped.length ? `Stopped by dispatch control: ${stopped.join(', ')}` : ''].filter(Boolean);
    banner.hidden = notes.length === 0;
    banner.textContent = notes.join(' · ');
    const row = (name, x, total) => ({ total, cells: [name, fmtInt(x.dueNow), fmtInt(x.dueLater), fmtInt(x.inflight), fmtInt(x.queued), fmtInt(x.blockedAggregates), fmtInt(x.paused), fmtInt(x.held), fmtInt(x.dead)] });
    statsTable($('shard-table'), ['shard', 'due', 'later', 'in flight', 'queued', 'blocked', 'paused', 'held', 'dead'], [...s.shards.map((x, i) => row(String(i), x)), row('total', s.total, true)]);
    showDispatch(rows, s.dispatch?.log ?? []);
  }

  /** Limits, breakers and forced states per scope, and the last transitions; hidden while nothing is under control. */
  function showDispatch(rows, log) {
    $('dispatch-box').hidden = rows.length === 0 && log.length === 0;
    statsTable($('dispatch-table'), ['scope', 'limit', 'breaker', 'forced'], rows.map((r) => ({ cells: [r.scope, r.limit, r.breaker, r.forced] })));
    $('dispatch-log').textContent = log.length ? `Last: ${log.slice(0, 3).map((t) => `${new Date(t.at).toLocaleTimeString()} ${t.scope} ${t.to}${t.by ? ` by ${t.by}` : ''}`).join(' · ')}` : '';
  }

  function showBreakdown(b) {
    const rows = (o) =>
      Object.entries(o)
        .sort((a, c) => total(c[1]) - total(a[1]))
        .slice(0, 12)
        .map(([k, v]) => ({ cells: [k, fmtInt(v.due), fmtInt(v.inflight), fmtInt(v.waiting), fmtInt(v.paused), fmtInt(v.held ?? 0), fmtInt(v.dead)] }));
    const total = (v) => v.due + v.inflight + v.waiting + v.paused + (v.held ?? 0) + v.dead;
    const head = ['', 'due', 'in flight', 'queued', 'paused', 'held', 'dead'];
    statsTable($('topic-table'), ['topic', ...head.slice(1)], rows(b.byTopic));
    statsTable($('error-table'), ['error class', ...head.slice(1)], rows(b.byErrorClass));
    const at = new Date().toLocaleTimeString();
    $('breakdown-note').textContent = `By topic and error class: ${b.complete ? `all ${fmtInt(b.scanned)} tasks` : `the first ${fmtInt(b.scanned)} tasks only`}, counted at ${at} (every 10 s).`;
  }

  function showHistory(hs) {
    ensureCharts();
    const x = hs.t.map((t) => t / 1000);
    charts.throughput.setData([x, hs.succeeded, hs.retried, hs.dead]);
    charts.lateness.setData([x, hs.latencyP50, hs.latencyP90, hs.latencyP99]);
    charts.depth.setData([x, hs.dueNow, hs.dueLater, hs.inflight, hs.queued, hs.deadTotal]);
    for (const n of ['throughput', 'lateness']) {
      const note = $(`note-${n}`);
      note.hidden = hs.hasEvents;
      note.textContent = 'Drawn where a worker serves this page: this process runs no worker (zretry dashboard).';
    }
  }

  async function refreshOverview() {
    const [s, hs] = await Promise.all([api('/api/stats'), api('/api/history')]);
    showStats(s);
    showHistory(hs);
    if (Date.now() - lastBreakdown > 10000) {
      lastBreakdown = Date.now();
      showBreakdown(await api('/api/breakdown?limit=20000'));
    }
  }

  // ---------- tasks ----------
  let listState = { state: '', topic: '', aggregate: '', errorClass: '', offset: 0, limit: 50 };
  const hashQuery = () => new URLSearchParams(location.hash.split('?')[1] || '');
  function filterQuery(extra) {
    const q = new URLSearchParams();
    for (const k of ['state', 'topic', 'aggregate', 'errorClass']) if (listState[k]) q.set(k, listState[k]);
    for (const [k, v] of Object.entries(extra || {})) q.set(k, String(v));
    return q;
  }

  function taskRow(t) {
    const r = t.record;
    return h(
      'tr',
      { 'data-task': t.id },
      h('td', {}, h('a', { href: `#/task/${encodeURIComponent(t.id)}`, text: t.id })),
      h('td', {}, h('span', { class: `state ${t.state}`, text: t.state + (t.doomed ? ' (doomed)' : '') })),
      h('td', { text: when(t) }),
      h('td', { class: 'num', text: String(t.attempt) }),
      h('td', { text: t.aggregateId ?? '–' }),
      h('td', { text: r ? `${r.topic}/${r.partition}@${r.offset}` : '(unreadable)' }),
      h('td', { class: 'err', text: t.lastError ? `${t.lastError.class}: ${t.lastError.message}`.slice(0, 120) : '–' }),
    );
  }

  async function refreshTasks() {
    const q = filterQuery({ limit: listState.limit, offset: listState.offset });
    const page = await api(`/api/tasks?${q}`);
    const table = $('task-table');
    table.replaceChildren(
      h('thead', {}, h('tr', {}, ['task', 'state', 'when', 'attempts', 'aggregate', 'record', 'last error'].map((x) => h('th', { text: x, class: x === 'attempts' ? 'num' : '' })))),
      h('tbody', {}, page.tasks.length ? page.tasks.map(taskRow) : h('tr', {}, h('td', { colspan: 7, class: 'muted', text: 'No tasks match.' }))),
    );
    $('page-info').textContent = page.count ? `${listState.offset + 1}–${listState.offset + page.count}` : '';
    $('prev').disabled = listState.offset === 0;
    $('next').disabled = !page.more;
    for (const b of document.querySelectorAll('#state-tabs button')) b.classList.toggle('on', b.dataset.state === listState.state);
  }

  function readListHash() {
    const q = hashQuery();
    listState = { state: q.get('state') || '', topic: q.get('topic') || '', aggregate: q.get('aggregate') || '', errorClass: q.get('errorClass') || '', offset: Number(q.get('offset') || 0), limit: 50 };
    const f = $('filter-form');
    for (const k of ['topic', 'aggregate', 'errorClass']) f.elements[k].value = listState[k];
  }
  function goList(changes) {
    Object.assign(listState, changes);
    location.hash = `#/tasks?${filterQuery(listState.offset ? { offset: listState.offset } : {})}`;
  }
  $('filter-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const f = e.target.elements;
    goList({ topic: f.topic.value.trim(), aggregate: f.aggregate.value.trim(), errorClass: f.errorClass.value.trim(), offset: 0 });
  });
  $('filter-clear').addEventListener('click', () => goList({ topic: '', aggregate: '', errorClass: '', offset: 0 }));
  for (const b of document.querySelectorAll('#state-tabs button')) b.addEventListener('click', () => goList({ state: b.dataset.state, offset: 0 }));
  $('prev').addEventListener('click', () => goList({ offset: Math.max(0, listState.offset - listState.limit) }));
  $('next').addEventListener('click', () => goList({ offset: listState.offset + listState.limit }));

  const EFFECT = { 'retry-now': 'made due now', replay: 'put back with fresh attempts', kill: 'sent to the dead-letter topic', skip: 'deleted without running or dead-lettering' };
  const LABEL = { 'retry-now': 'Retry now', replay: 'Replay', kill: 'Kill', skip: 'Skip' };
  const DANGER = { kill: true, skip: true };

  function resultText(action, r) {
    return `${LABEL[action]}: ${Object.entries(r.counts).map(([k, v]) => `${k} ${v}`).join(', ') || 'nothing selected'}`;
  }

  for (const b of document.querySelectorAll('#bulk button')) {
    b.addEventListener('click', async () => {
      const action = b.dataset.bulk;
      const sel = {};
      for (const k of ['topic', 'aggregate', 'errorClass']) if (listState[k]) sel[k] = listState[k];
      if (Object.keys(sel).length === 0) sel.all = true;
      try {
        const dry = await api(`/api/actions/${action}`, { ...sel, dryRun: true });
        if (dry.count === 0) return toast(`${LABEL[action]}: no tasks selected`);
        const named = Object.entries(sel).map(([k, v]) => `${k === 'errorClass' ? 'error class' : k} ${v}`).join(', ');
        const go = await ask({
          title: `${LABEL[action]} ${count(dry.count)}?`,
          text: `Dry run: ${sel.all ? `all ${count(dry.count)}` : `${count(dry.count)} selected by ${named}`} would be ${EFFECT[action]}.`,
          items: dry.tasks.slice(0, 8).map((t) => `${t.id} (${t.state})`).concat(dry.count > 8 ? [`… and ${dry.count - 8} more`] : []),
          ok: `${LABEL[action]} ${count(dry.count)}`,
          danger: DANGER[action],
        });
        if (!go) return toast(`${LABEL[action]} cancelled; nothing changed`);
        const r = await api(`/api/actions/${action}`, { ...sel, confirm: true });
        toast(resultText(action, r));
        await refreshTasks();
      } catch (err) {
        toast(err.message, true);
      }
    });
  }

  // ---------- one task ----------
  let current = null;
  async function refreshTask(id) {
    let r;
    try {
      r = await api(`/api/tasks/${encodeURIComponent(id)}`);
    } catch (err) {
      if (err.status !== 404) throw err;
      $('task-title').textContent = id;
      $('task-fields').replaceChildren(h('tr', {}, h('td', { class: 'error', text: err.message })));
      $('task-error').textContent = '';
      $('task-headers').replaceChildren();
      $('task-actions').hidden = true;
      current = null;
      return;
    }
    const t = r.task;
    current = t;
    $('task-actions').hidden = false;
    $('task-title').textContent = t.id;
    const rec = t.record;
    const iso = (ms) => (ms ? new Date(ms).toISOString() : '–');
    const q = r.queue;
    const fields = [
      ['State', h('span', { class: `state ${t.state}`, text: t.state + (t.doomed ? ` (doomed: ${t.doomed})` : '') })],
      [t.state === 'dead' ? 'Died' : t.state === 'inflight' ? 'Lease until' : 'Due', t.state === 'waiting' ? 'behind the head of its aggregate' : `${iso(t.at)} (${when(t)})`],
      ['Attempts made', String(t.attempt)],
      ['First failure', iso(t.firstFailureAt)],
      ['Aggregate', t.aggregateId ?? '– (no ordering)'],
      ['Position in aggregate', q ? (q.position === 0 ? `head of ${count(q.length)}` : `${q.position} of ${q.length - 1} waiting behind ${q.head}`) : '–'],
      ['Shard', String(t.shard)],
      ['Record', rec ? `${rec.topic} / partition ${rec.partition} / offset ${rec.offset}` : '(unreadable)'],
      ['Record time', rec ? iso(Number(rec.timestamp)) : '–'],
      ['Payload', rec ? `key ${rec.keyBytes === null ? 'null' : `${fmtInt(rec.keyBytes)} bytes`}, value ${rec.valueBytes === null ? 'null (tombstone)' : `${fmtInt(rec.valueBytes)} bytes`}` : '–'],
    ];
    $('task-fields').replaceChildren(...fields.map(([k, v]) => h('tr', {}, h('th', { text: k }), h('td', {}, v))));
    const e = t.lastError;
    const head = e ? `${e.class}: ${e.message}` : '';
    $('task-error').textContent = !e ? '–' : !e.stack ? head : e.stack.startsWith(head) ? e.stack : `${head}\n\n${e.stack}`;
    $('task-headers').replaceChildren(
      h('thead', {}, h('tr', {}, h('th', { text: 'name' }))),
      h('tbody', {}, rec && rec.headers.length ? rec.headers.map((n) => h('tr', {}, h('td', { class: 'mono', text: n }))) : h('tr', {}, h('td', { class: 'muted', text: 'none' }))),
    );
    const can = { 'retry-now': t.state === 'due', replay: t.state === 'dead', kill: t.state === 'due' || t.state === 'waiting', skip: t.state !== 'inflight', unhold: t.aggregateId !== null && t.state !== 'dead' };
    for (const b of document.querySelectorAll('#task-actions button')) b.disabled = !can[b.dataset.act];
  }

  for (const b of document.querySelectorAll('#task-actions button')) {
    b.addEventListener('click', async () => {
      if (!current) return;
      const action = b.dataset.act;
      const t = current;
      try {
        if (action === 'unhold') {
          const r = await api('/api/actions/unhold', { aggregates: [t.aggregateId] });
          toast(`Unhold ${t.aggregateId}: ${r.results[0].outcome}`);
        } else {
          if (DANGER[action]) {
            const go = await ask({
              title: `${LABEL[action]} ${t.id}?`,
              text: `The task will be ${EFFECT[action]}${action === 'kill' ? ' by a worker, without another handler call' : ''}. This cannot be undone.`,
              ok: LABEL[action],
              danger: true,
            });
            if (!go) return toast(`${LABEL[action]} cancelled; nothing changed`);
          }
          const r = await api(`/api/actions/${action}`, { ids: [t.id] });
          toast(`${LABEL[action]} ${t.id}: ${r.results[0].outcome}`);
        }
        await refreshTask(t.id);
      } catch (err) {
        toast(err.message, true);
      }
    });
  }

  // ---------- controls ----------
  async function refreshControls() {
    const s = await api('/api/stats');
    showStats(s);
    $('pause-list').replaceChildren(
      ...(s.pauses.length
        ? s.pauses.map((p) =>
            h('li', {}, h('span', { class: 'mono', text: p }), h('button', { type: 'button', text: 'Resume', onclick: () => resumeWhat(p) })),
          )
        : [h('li', { class: 'muted', text: 'none' })]),
    );
  }
  function target(form) {
    const topic = form.elements.topic.value.trim();
    const errorClass = form.elements.errorClass.value.trim();
    return topic ? { topic } : errorClass ? { errorClass } : {};
  }
  async function resumeWhat(p) {
    const body = p === 'all' ? {} : p.startsWith('topic:') ? { topic: p.slice(6) } : { errorClass: p.slice(6) };
    try {
      const r = await api('/api/actions/resume', body);
      toast(`Resumed ${r.resumed}: ${count(r.moved)} due again`);
      await refreshControls();
    } catch (err) {
      toast(err.message, true);
    }
  }
  $('pause-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const r = await api('/api/actions/pause', target(e.target));
      toast(`Paused ${r.paused}${r.fresh ? '' : ' (it already was)'}`);
      await refreshControls();
    } catch (err) {
      toast(err.message, true);
    }
  });
  $('resume-btn').addEventListener('click', () => {
    const t = target($('pause-form'));
    resumeWhat(t.topic ? `topic:${t.topic}` : t.errorClass ? `error:${t.errorClass}` : 'all');
  });
  $('shift-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const d = e.target.elements.duration.value.trim();
    try {
      const dry = await api('/api/actions/shift', { duration: d, dryRun: true });
      const go = await ask({ title: `Shift due times by ${d}?`, text: `Dry run: ${count(dry.moved)} (due now and due later) would be pushed back by ${duration(dry.shiftedMs)}.`, ok: `Shift ${count(dry.moved)}`, danger: true });
      if (!go) return toast('Shift cancelled; nothing changed');
      const r = await api('/api/actions/shift', { duration: d });
      toast(`Pushed ${count(r.moved)} back by ${duration(r.shiftedMs)}`);
    } catch (err) {
      toast(err.message, true);
    }
  });
  $('unhold-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const agg = e.target.elements.aggregate.value.trim();
    try {
      const r = await api('/api/actions/unhold', { aggregates: [agg] });
      toast(`Unhold ${agg}: ${r.results[0].outcome}`);
    } catch (err) {
      toast(err.message, true);
    }
  });

  // ---------- routing and polling ----------
  const VIEWS = ['login', 'overview', 'tasks', 'task', 'controls'];
  async function route() {
    clearInterval(timer);
    timer = null;
    let [path, rest] = location.hash.replace(/^#\/?/, '').split(/\/(.*)/s);
    path = (path || 'overview').split('?')[0];
    if (!token) path = 'login';
    else if (path === 'login') path = 'overview';
    if (!VIEWS.includes(path)) path = 'overview';
    for (const v of VIEWS) $(`view-${v}`).hidden = v !== path;
    $('nav').hidden = !token;
    $('signout').hidden = !token;
    for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('on', a.dataset.view === path || (path === 'task' && a.dataset.view === 'tasks'));
    if (path === 'login') {
      $('live').hidden = true;
      $('token').focus();
      return;
    }
    const refresh =
      path === 'overview' ? refreshOverview : path === 'tasks' ? refreshTasks : path === 'task' ? () => refreshTask(decodeURIComponent(rest || '')) : refreshControls;
    if (path === 'tasks') readListHash();
    const tick = async () => {
      try {
        await refresh();
        setLive(true, `live · ${new Date().toLocaleTimeString()}`);
      } catch (err) {
        if (err.status === 401) return;
        setLive(false, err.message);
      }
    };
    await tick();
    // lists and a task refresh less often: a person reads them
    timer = setInterval(tick, path === 'overview' ? POLL_MS : 5 * POLL_MS);
  }
  window.addEventListener('hashchange', route);
  route();
})();
