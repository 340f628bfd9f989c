// SPDX-License-Identifier: GPL-2.0
// phloem dashboard: live figures by server-sent events (/api/live), changes
// by POST with the access token (docs/web.md). No library, no build step.
'use strict';

const $ = (id) => document.getElementById(id);
const live = [];			// [time ms, site W], last 10 minutes
const LIVE_MS = 10 * 60 * 1000;
const SVGNS = 'http://www.w3.org/2000/svg';

function fmt(x, unit, digits) {
	if (x === undefined || x === null || Number.isNaN(x)) return '–';
	return `${Number(x).toFixed(digits === undefined ? 1 : digits)} ${unit}`;
}

function el(tag, attrs, text) {
	const e = tag.startsWith('svg:') ? document.createElementNS(SVGNS, tag.slice(4)) :
		document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
	if (text !== undefined) e.textContent = text;
	return e;
}

function clearSvg(svg) {
	for (const c of [...svg.childNodes])
		if (c.nodeName !== 'title' && c.nodeName !== 'desc') svg.removeChild(c);
}

// grid, PV, battery, circuits and community around the house; lines
// first, boxes over them. PV and battery appear when a device reports them.
function drawFlow(st) {
	const svg = $('flow-svg');
	const site = st.status && st.status.ok ? st.status.site_p_w : 0;
	const ss = st.site || {};
	const peers = ss.community_net_w === undefined ? null : ss.community_net_w;
	const circuits = (st.channels && st.channels.channels || []).filter((c) => c.circuit && c.circuit !== 'site');
	const nodes = [], lines = [];
	const W = (w) => `${Math.abs(w).toFixed(0)} W`;
	const add = (x, y, label, value) => { lines.push([x, y]); nodes.push([x, y, label, value]); };
	add(50, 30, 'Grid', `${site >= 0 ? 'in' : 'out'} ${W(site)}`);
	if (ss.pv_w !== null && ss.pv_w !== undefined) add(160, 30, 'PV', W(ss.pv_w));
	if (peers !== null) add(270, 30, 'Community', `${peers} W`);
	if (ss.battery_w !== null && ss.battery_w !== undefined)
		add(270, 90, 'Battery', `${ss.battery_w >= 0 ? 'out' : 'in'} ${W(ss.battery_w)}`);
	circuits.slice(0, 3).forEach((c, i) => add(50 + i * 110, 150, c.circuit, fmt(c.irms_ma / 1000, 'A')));
	clearSvg(svg);
	for (const [x, y] of lines) svg.appendChild(el('svg:line', { x1: x, y1: y, x2: 160, y2: 90, class: 'flow' }));
	const box = (x, y, label, value) => {
		svg.appendChild(el('svg:rect', { x: x - 45, y: y - 18, width: 90, height: 36, rx: 6, class: 'node' }));
		svg.appendChild(el('svg:text', { x, y: y - 3, 'text-anchor': 'middle' }, label));
		svg.appendChild(el('svg:text', { x, y: y + 12, 'text-anchor': 'middle' }, value));
	};
	box(160, 90, 'House', `${circuits.length} circuits`);
	for (const n of nodes) box(...n);
	svg.querySelector('desc').textContent = nodes.map((n) => `${n[2]} ${n[3]}`).join(', ');
	if (ss.ledger_balance_wh !== undefined) $('ledger').textContent = fmt(ss.ledger_balance_wh / 1000, 'kWh', 3);
}

function drawLine(svg, pts) {
	clearSvg(svg);
	if (pts.length < 2) return;
	const t0 = pts[0][0], t1 = pts[pts.length - 1][0] || t0 + 1;
	let lo = Math.min(0, ...pts.map((p) => p[1])), hi = Math.max(1, ...pts.map((p) => p[1]));
	const X = (t) => 30 + 285 * (t - t0) / Math.max(1, t1 - t0);
	const Y = (v) => 110 - 100 * (v - lo) / (hi - lo);
	svg.appendChild(el('svg:line', { x1: 30, y1: Y(0), x2: 315, y2: Y(0), class: 'axis' }));
	svg.appendChild(el('svg:text', { x: 0, y: 14 }, hi.toFixed(0)));
	svg.appendChild(el('svg:text', { x: 0, y: 112 }, lo.toFixed(0)));
	svg.appendChild(el('svg:polyline', { points: pts.map((p) => `${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(' '), class: 'line' }));
}

function drawBars(svg, rows) {
	clearSvg(svg);
	const by = new Map();
	for (const r of rows) by.set(r.ts, (by.get(r.ts) || 0) + r.import_mwh / 1000);
	const pts = [...by.entries()].sort((a, b) => a[0] - b[0]);
	if (!pts.length) {
		svg.appendChild(el('svg:text', { x: 30, y: 60 }, 'No minutes recorded yet'));
		return;
	}
	const hi = Math.max(0.001, ...pts.map((p) => p[1]));
	const w = 285 / Math.max(pts.length, 1);
	svg.appendChild(el('svg:text', { x: 0, y: 14 }, hi.toFixed(1)));
	pts.forEach(([, v], i) => {
		const h = 100 * v / hi;
		svg.appendChild(el('svg:rect', { x: 30 + i * w, y: 110 - h, width: Math.max(1, w - 1), height: h, class: 'bar' }));
	});
}

function row(cells) {
	const tr = el('tr');
	cells.forEach((c, i) => {
		const td = el(i === 0 ? 'th' : 'td', i === 0 ? { scope: 'row' } : {});
		if (c instanceof Node) td.appendChild(c); else td.textContent = c;
		tr.appendChild(td);
	});
	return tr;
}

function render(st) {
	const s = st.status || {};
	if (s.ok) {
		$('site-p').textContent = fmt(s.site_p_w, 'W', 0);
		$('vrms').textContent = fmt(s.vrms_v, 'V');
		$('freq').textContent = fmt(s.freq_hz, 'Hz', 2);
		$('site-limit').textContent = s.site_import_limit_w ? fmt(s.site_import_limit_w, 'W', 0) : 'none';
		$('state').textContent = (s.state || []).join(', ') || 'normal';
		live.push([Date.now(), s.site_p_w]);
		while (live.length && live[0][0] < Date.now() - LIVE_MS) live.shift();
		drawLine($('live-chart'), live);
	}
	drawFlow(st);
	const limits = new Map(((st.limits && st.limits.circuits) || []).map((c) => [c.name, c]));
	const cb = $('circuit-rows');
	cb.replaceChildren(...((st.channels && st.channels.channels) || []).filter((c) => c.circuit).map((c) => {
		const l = limits.get(c.circuit) || {};
		return row([c.circuit, fmt(c.irms_ma / 1000, 'A'), fmt(c.limit_ma / 1000, 'A'),
			fmt(c.rating_ma / 1000, 'A', 0), `${(c.heat_permille / 10).toFixed(1)} %`,
			l.operator ? 'operator' : 'policy']);
	}));
	// relay rows are kept and updated in place: a button keeps its focus
	// (keyboard users) and is never swapped under a click
	const rb = $('relay-rows');
	const relays = (st.relays && st.relays.relays) || [];
	if (rb.dataset.names !== relays.map((r) => r.name).join(' ')) {
		rb.dataset.names = relays.map((r) => r.name).join(' ');
		rb.replaceChildren(...relays.map((r) => {
			const btns = el('span', { class: 'btns' });
			for (const m of ['on', 'off', 'auto']) {
				const b = el('button', { type: 'button', 'data-relay': r.name, 'data-mode': m,
					'aria-label': `${r.name}: ${m === 'auto' ? 'back to automatic' : 'force ' + m}` }, m);
				b.addEventListener('click', () => change('/api/relay', { name: r.name, mode: m, for_s: forSeconds() }));
				btns.appendChild(b);
			}
			const tr = row([r.name, '', '', '', '', '', btns]);
			tr.dataset.relay = r.name;
			return tr;
		}));
	}
	relays.forEach((r, i) => {
		const tr = rb.children[i];
		const cells = [r.circuit, r.on ? 'on' : 'off', r.reason, r.override, String(r.shed_count)];
		cells.forEach((v, j) => { if (tr.children[j + 1].textContent !== v) tr.children[j + 1].textContent = v; });
		tr.children[2].className = r.on ? 'on' : 'off';
		tr.dataset.on = r.on ? '1' : '0';
	});
	if (st.peers && st.peers.enabled) {
		$('community-p').textContent = fmt(st.peers.community_net_w, 'W', 0);
		$('peer-figures').replaceChildren(...[
			['Community', st.peers.community], ['Members', st.peers.members],
			['Counted in net power', st.peers.community_counted],
			['Ledger entries appended', s.meter ? s.meter.appended : '–'],
			['Ledger pending', s.meter ? s.meter.pending : '–'],
		].map(([k, v]) => { const d = el('div'); d.append(el('dt', {}, k), el('dd', {}, String(v))); return d; }));
	}
}

function addEvent(e, atTop) {
	const list = $('event-list');
	const t = new Date(e.ts_ms).toLocaleTimeString();
	const what = [e.kind, e.cause, e.relay && `relay ${e.relay}`, e.circuit && `circuit ${e.circuit}`,
		e.measure].filter(Boolean).join(' · ');
	const li = el('li', { class: e.kind, 'data-kind': e.kind, 'data-relay': e.relay || '' }, `${t} ${what}`);
	if (atTop) list.prepend(li); else list.append(li);
	while (list.children.length > 200) list.lastChild.remove();
}

function forSeconds() {
	const m = Number($('for-min').value);
	return Number.isInteger(m) && m >= 1 && m <= 1440 ? m * 60 : 3600;
}

async function change(url, body) {
	const out = $('change-result');
	const token = $('token').value;
	if (!token) { out.textContent = 'Enter the access token to make changes.'; $('token').focus(); return; }
	try {
		const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
		const j = await r.json();
		out.textContent = r.ok ? `Done: ${body.name || 'limits'} ${body.mode || ''}` : `Refused (${r.status}): ${j.error}` + (j.retry_after_s ? `; try again in ${j.retry_after_s} s` : '');
	} catch (err) {
		out.textContent = `Failed: ${err}`;
	}
}

async function loadOnce() {
	try {
		const ev = await (await fetch('/api/events?since_ms=-86400000&limit=50')).json();
		(ev.events || []).slice().reverse().forEach((e) => addEvent(e, true));
		const h = await (await fetch('/api/history?since=-3600')).json();
		drawBars($('hist-chart'), h.rows || []);
	} catch (err) { /* the live stream reports the connection */ }
}

function connect() {
	const es = new EventSource('/api/live');
	es.addEventListener('open', () => { $('conn').textContent = 'Live'; });
	es.addEventListener('error', () => { $('conn').textContent = 'Disconnected, retrying…'; });
	es.addEventListener('state', (m) => render(JSON.parse(m.data)));
	es.addEventListener('event', (m) => addEvent(JSON.parse(m.data), true));
}

document.addEventListener('DOMContentLoaded', () => {
	$('auth').addEventListener('submit', (e) => e.preventDefault());
	loadOnce();
	setInterval(() => fetch('/api/history?since=-3600').then((r) => r.json()).then((h) => drawBars($('hist-chart'), h.rows || [])).catch(() => {}), 60000);
	connect();
});
