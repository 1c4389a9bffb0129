/// The dashboard's one page: HTML, CSS and a little JavaScript, embedded in the binary (no build step, no CDN).
/// It renders from the JSON API and polls it every two seconds; the URL's fragment says what it shows:
/// `#` the overview (accounts busiest first, filtered by name, 50 a page), `#account=NAME` its last 15 minutes as
/// an inline SVG chart (`&minutes=1|5|15|60`), `#run=ID` (with `&state=` and `&code=`) a run's calls, `#call=ID` one call and its tries.
enum DashboardPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Pacer</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2329; background: #f6f7f9; }
  header { background: #1d2329; color: #fff; padding: 10px 20px; display: flex; gap: 16px; align-items: baseline; }
  header a { color: #fff; text-decoration: none; font-weight: 600; font-size: 18px; }
  header .now { opacity: .7; font-size: 12px; margin-left: auto; }
  main { padding: 16px 20px; max-width: 1200px; }
  h2 { font-size: 16px; margin: 20px 0 8px; }
  table { border-collapse: collapse; width: 100%; background: #fff; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
  th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #e8eaee; vertical-align: top; }
  th { font-size: 12px; text-transform: uppercase; color: #5b6570; background: #fafbfc; }
  .bar { width: 160px; height: 10px; background: #e8eaee; border-radius: 5px; overflow: hidden; display: inline-block; vertical-align: middle; }
  .bar span { display: block; height: 100%; background: #2e9e5b; }
  .bar span.bad { background: #d9534f; }
  .paused { color: #b03a2e; font-weight: 600; }
  .cool { color: #a66d00; }
  button { font: inherit; padding: 2px 10px; border: 1px solid #b9c0c8; background: #fff; border-radius: 4px; cursor: pointer; }
  button:hover { background: #eef1f4; }
  .muted { color: #7b8590; }
  .error { background: #fdecea; color: #8a1f17; padding: 8px 12px; border-radius: 4px; margin: 8px 0; }
  code, pre { font: 12px ui-monospace, monospace; }
  pre { white-space: pre-wrap; word-break: break-all; margin: 0; }
  .filters { margin: 8px 0; display: flex; gap: 8px; align-items: center; }
  svg.chart { background: #fff; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
  svg.chart rect.sent { fill: #2e9e5b; }
  svg.chart rect.cooldown { fill: #f0ad4e; opacity: .55; }
  svg.chart circle.refused { fill: #d9534f; }
  svg.chart line.limit { stroke: #b03a2e; stroke-dasharray: 4 3; }
  svg.chart text { font-size: 11px; fill: #5b6570; }
</style>
</head>
<body>
<header><a href="#">Pacer</a><span id="where"></span><span class="now" id="now"></span></header>
<main id="main"><p class="muted">Loading…</p></main>
<script>
"use strict";
const stateOrder = ["queued","in_flight","retrying","succeeded","failed","dead","uncertain","duplicate","cancelled"];
const finalStates = ["succeeded","failed","dead","uncertain","duplicate","cancelled"];

function decode(text) {
  try { return decodeURIComponent(text); } catch (e) { return ""; }
}
function params() {
  const out = {};
  for (const part of location.hash.replace(/^#/, "").split("&")) {
    const [k, v] = part.split("=");
    if (k) out[decode(k)] = decode(v || "");
  }
  return out;
}
/** A token in the address (at load, or pasted into an open tab) goes to session storage, out of the history. */
function keepToken() {
  const p = params();
  if (p.token) {
    sessionStorage.setItem("pacer-token", p.token);
    delete p.token;
    history.replaceState(null, "", location.pathname + "#" + fragment(p));
  }
}
keepToken();
/** A fragment from known keys only, each value encoded. */
function fragment(p) {
  return ["account", "minutes", "run", "call", "state", "code", "after"].filter(k => p[k]).map(k => k + "=" + encodeURIComponent(p[k])).join("&");
}
function headers() {
  const token = sessionStorage.getItem("pacer-token");
  return token ? { "Authorization": "Bearer " + token } : {};
}
async function api(path, options) {
  const response = await fetch("/api/" + path, Object.assign({ headers: headers(), cache: "no-store" }, options || {}));
  const body = await response.json().catch(() => ({ error: "HTTP " + response.status }));
  if (!response.ok) throw new Error(body.error || ("HTTP " + response.status));
  return body;
}
function esc(text) {
  return String(text == null ? "" : text).replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}
function total(counts) { return Object.values(counts).reduce((a, b) => a + b, 0); }
function done(counts) { return finalStates.reduce((a, s) => a + (counts[s] || 0), 0); }
function statesText(counts) {
  return stateOrder.filter(s => counts[s] > 0).map(s => `<span class="state-${s}">${s}=${counts[s]}</span>`).join(" ") || "-";
}
function bar(counts) {
  const all = total(counts), finished = done(counts);
  const bad = (counts.failed || 0) + (counts.dead || 0) + (counts.uncertain || 0);
  const pct = all ? Math.round(100 * finished / all) : 100;
  return `<span class="bar"><span class="${bad ? "bad" : ""}" style="width:${pct}%"></span></span> ${finished}/${all}`;
}
async function act(path, body, confirmText) {
  if (confirmText && !confirm(confirmText)) return;
  try {
    await api(path, { method: "POST", body: body ? JSON.stringify(body) : undefined,
                      headers: Object.assign({ "Content-Type": "application/json" }, headers()) });
    render();
  } catch (e) { showError(e); }
}
function showError(e) {
  const box = document.getElementById("error") || document.createElement("div");
  box.id = "error"; box.className = "error"; box.textContent = e.message;
  document.getElementById("main").prepend(box);
}

// The accounts table: the busiest first (calls finished in the last minute, then most work left), filtered by
// name, 50 a page; the server sorts, filters and pages, and reads buckets for the page's accounts only.
let accountFilter = "", accountPage = 0;
const accountsPerPage = 50;
async function overview() {
  const s = await api(`status?runs=200&accounts=${accountsPerPage}&offset=${accountPage * accountsPerPage}` +
                      `&filter=${encodeURIComponent(accountFilter)}`);
  document.getElementById("now").textContent = s.now || "";
  document.getElementById("where").textContent = "";
  const pages = Math.max(1, Math.ceil(s.accounts_matching / accountsPerPage));
  if (accountPage > pages - 1) { accountPage = pages - 1; return overview(); }
  let html = `<h2>Accounts <span class="muted">${s.accounts_matching} of ${s.accounts_total}, busiest first</span></h2>`;
  html += `<div class="filters">Name <input id="account-filter" size="20" value="${esc(accountFilter)}">` +
          (pages > 1 ? ` <button data-action="page" data-page="${accountPage - 1}" ${accountPage ? "" : "disabled"}>←</button>` +
           ` page <span id="account-page">${accountPage + 1}</span> of ${pages} ` +
           `<button data-action="page" data-page="${accountPage + 1}" ${accountPage + 1 < pages ? "" : "disabled"}>→</button>` : "") +
          `</div>`;
  html += "<table id=\"accounts\"><tr><th>Account</th><th>Tokens</th><th>Rate</th><th>State</th><th>Calls</th><th></th></tr>";
  // Each pool's fill where an account has more than one window (docs/pools.md).
  const fill = p => p.windows.map(w => `${w.capacity - w.spent}/${w.capacity} free <span class="muted">per ${esc(w.limit.split("/")[1])}</span>`).join(", ") +
                    (p.cooldown_until ? ` <span class="cool">cooling down until ${esc(p.cooldown_until)}</span>` : "");
  for (const a of s.accounts) {
    const b = a.bucket, own = (s.pools || []).filter(p => p.account === a.account);
    const tokens = own.length > 1 || (own[0] && own[0].windows.length > 1)
      ? own.map(p => `<div class="pool"><b>${esc(p.pool)}</b> ${fill(p)}</div>`).join("")
      : b ? `${b.capacity - b.spent}/${b.capacity} free <span class="muted">per ${b.window_ms} ms</span>` : "-";
    const state = a.paused ? `<span class="paused">paused: ${esc(a.reason)}</span>`
      : (b && b.cooldown_until ? `<span class="cool">cooling down until ${esc(b.cooldown_until)}</span>` : "active");
    const resume = a.paused ? `<button data-action="resume" data-account="${esc(a.account)}">Resume</button>` : "";
    html += `<tr class="account" data-account="${esc(a.account)}"><td><a href="#account=${encodeURIComponent(a.account)}">${esc(a.account)}</a></td><td>${tokens}</td>` +
            `<td>${b ? esc(b.rate_per_second) + "/s" : "-"}</td><td>${state}</td><td>${statesText(a.counts)}</td><td>${resume}</td></tr>`;
  }
  html += "</table>";
  const shared = (s.pools || []).filter(p => p.account === null);
  if (shared.length) {
    html += "<h2>Shared pools</h2><table id=\"shared-pools\"><tr><th>Pool</th><th>Tokens</th></tr>" +
            shared.map(p => `<tr><td>${esc(p.pool)}</td><td>${fill(p)}</td></tr>`).join("") + "</table>";
  }
  html += "<h2>Runs</h2><table id=\"runs\"><tr><th>Run</th><th>Job</th><th>Account</th><th>Progress</th><th>States</th><th></th></tr>";
  for (const r of s.runs.slice().reverse()) {
    const c = r.counts, running = (c.queued || 0) + (c.retrying || 0) + (c.in_flight || 0) > 0;
    const failed = (c.failed || 0) + (c.dead || 0);
    const buttons = (running ? `<button data-action="cancel" data-run="${r.run}">Cancel</button>` : "") +
                    (!running && failed ? ` <button data-action="retry" data-run="${r.run}">Retry ${failed} failed</button>` : "");
    html += `<tr class="run" data-run="${r.run}"><td><a href="#run=${r.run}">${r.run}</a></td><td class="job">${esc(r.job)}</td>` +
            `<td>${esc(r.account)}</td><td>${bar(c)}</td><td>${statesText(c)}</td><td>${buttons}</td></tr>`;
  }
  html += "</table>";
  if (s.runs_total > s.runs.length) {
    html += `<p class="muted">… ${s.runs_total - s.runs.length} older runs (pacer status --all)</p>`;
  }
  if (s.schedules && s.schedules.length) {
    html += "<h2>Schedules</h2><table id=\"schedules\"><tr><th>Job</th><th>Schedule</th><th>Next tick</th><th>Last tick</th><th>Error</th></tr>";
    for (const x of s.schedules) {
      html += `<tr><td>${esc(x.job)}</td><td><code>${esc(x.schedule)}</code></td><td>${esc(x.next_tick || "-")}</td>` +
              `<td>${esc(x.last_tick || "-")}</td><td>${esc(x.error || "")}</td></tr>`;
    }
    html += "</table>";
  }
  return html;
}

/** One account's last 15 minutes: weight sent per window against the limit, refusals, cool-downs (inline SVG). */
async function accountHistory(p) {
  const minutes = Math.max(1, Math.min(1440, Number(p.minutes) || 15));
  const h = await api(`accounts/${encodeURIComponent(p.account)}/history?minutes=${minutes}`);
  document.getElementById("where").textContent = "account " + h.account;
  const from = Date.parse(h.from), to = Date.parse(h.to), W = 900, H = 180, top = 20;
  const x = t => Math.max(0, Math.min(W, (t - from) / (to - from) * W));
  const spans = [1, 5, 15, 60].map(m => m === minutes ? `<b>${m} min</b>`
    : `<a href="#${esc(fragment(Object.assign({}, p, { minutes: String(m) })))}">${m} min</a>`).join(" · ");
  let html = `<h2>${esc(h.account)} <span class="muted">the last ${minutes} minute${minutes === 1 ? "" : "s"}, ${esc(h.from)} to ${esc(h.to)}</span></h2><p>${spans}</p>`;
  for (const pool of h.pools) {
    const limit = Number(pool.limit.split("/")[0]), width = Math.max(1, pool.width_ms / (to - from) * W);
    const y = n => top + H - Math.min(1.25, n / limit) * H / 1.25; // the limit at 80% of the height
    let svg = `<svg class="chart" id="history-${esc(pool.pool)}" width="${W}" height="${H + top + 20}" viewBox="0 0 ${W} ${H + top + 20}">`;
    for (const b of pool.buckets) {
      const bx = x(Date.parse(b.at));
      if (b.sent > 0) svg += `<rect class="sent" data-at="${esc(b.at)}" data-sent="${b.sent}" x="${bx}" y="${y(b.sent)}" width="${width}" height="${top + H - y(b.sent)}"><title>${esc(b.at)}: ${b.sent} sent</title></rect>`;
      if (b.refused > 0) svg += `<circle class="refused" data-at="${esc(b.at)}" data-refused="${b.refused}" cx="${bx + width / 2}" cy="${top - 8}" r="4"><title>${esc(b.at)}: ${b.refused} refused</title></circle>`;
    }
    // Cool-downs over the bars, translucent: the calls they held back are the gap that follows.
    for (const c of h.cooldowns.filter(c => c.pool === pool.pool)) {
      const x0 = x(Date.parse(c.from)), x1 = x(Date.parse(c.until));
      svg += `<rect class="cooldown" data-from="${esc(c.from)}" data-until="${esc(c.until)}" x="${x0}" y="${top}" width="${Math.max(1, x1 - x0)}" height="${H}"><title>cool-down ${esc(c.from)} to ${esc(c.until)}</title></rect>`;
    }
    svg += `<line class="limit" x1="0" x2="${W}" y1="${y(limit)}" y2="${y(limit)}"></line><text x="4" y="${y(limit) - 4}">limit ${esc(pool.limit)}</text>`;
    svg += `<text x="4" y="${H + top + 14}">${esc(h.from.slice(11, 16))}</text><text x="${W - 40}" y="${H + top + 14}">${esc(h.to.slice(11, 16))}</text></svg>`;
    const sent = pool.buckets.reduce((a, b) => a + b.sent, 0), refused = pool.buckets.reduce((a, b) => a + b.refused, 0);
    html += `<p>Pool <b>${esc(pool.pool)}</b>, limit ${esc(pool.limit)}: <span id="sent-total">${sent}</span> sent, ` +
            `<span id="refused-total">${refused}</span> refused, <span id="cooldown-count">${h.cooldowns.length}</span> cool-downs ` +
            `<span class="muted">(green: weight sent per window; red dots: refusals; orange: cool-downs)</span></p>` + svg;
  }
  const refusals = h.pools.flatMap(pool => pool.buckets.filter(b => b.refused > 0));
  if (refusals.length || h.cooldowns.length) {
    html += "<h2>Refusals and cool-downs</h2><table id=\"events\"><tr><th>When</th><th>What</th></tr>";
    for (const b of refusals) html += `<tr class="refusal"><td>${esc(b.at)}</td><td>${b.refused} refused (rate limit)</td></tr>`;
    for (const c of h.cooldowns) html += `<tr class="cooldown"><td>${esc(c.from)}</td><td>cool-down until ${esc(c.until)}</td></tr>`;
    html += "</table>";
  }
  return html;
}

async function runPage(p) {
  const q = ["limit=50"];
  if (p.state) q.push("state=" + encodeURIComponent(p.state));
  if (p.code) q.push("code=" + encodeURIComponent(p.code));
  if (p.after) q.push("after=" + encodeURIComponent(p.after));
  const page = await api(`runs/${encodeURIComponent(p.run)}/calls?` + q.join("&"));
  const progress = await api(`runs/${encodeURIComponent(p.run)}/progress`);
  document.getElementById("where").textContent = "run " + p.run;
  const eta = progress.eta_seconds == null ? "?" : progress.eta_seconds + " s";
  let head = `<p id="run-progress"><span class="bar"><span style="width:${progress.total ? Math.round(100 * progress.done / progress.total) : 100}%"></span></span> ` +
             `${progress.done}/${progress.total} done, ${progress.rate_per_second}/s over the last minute, ETA ${eta}</p>`;
  if (progress.buckets.length) {
    const W = 600, H = 50, first = Date.parse(progress.buckets[0].at), last = Date.parse(progress.buckets[progress.buckets.length - 1].at);
    const span = Math.max(progress.width_ms, last - first + progress.width_ms), most = Math.max(...progress.buckets.map(b => b.finished));
    head += `<svg class="chart" id="run-chart" width="${W}" height="${H}">` + progress.buckets.map(b => {
      const h = Math.max(1, b.finished / most * (H - 4));
      return `<rect class="sent" data-at="${esc(b.at)}" data-finished="${b.finished}" x="${(Date.parse(b.at) - first) / span * W}" y="${H - h}" width="${Math.max(1, progress.width_ms / span * W - 1)}" height="${h}"><title>${esc(b.at)}: ${b.finished} finished</title></rect>`;
    }).join("") + `</svg><p class="muted">calls finished per 10 s</p>`;
  }
  const options = ["", ...stateOrder].map(s => `<option ${s === (p.state || "") ? "selected" : ""}>${s}</option>`).join("");
  let html = head + `<div class="filters">State <select id="state-filter">${options}</select> Code <input id="code-filter" size="8" value="${esc(p.code || "")}"></div>`;
  html += "<table id=\"calls\"><tr><th>Call</th><th>Request</th><th>State</th><th>Tries</th><th>Code</th><th>Error</th></tr>";
  for (const c of page.calls) {
    const r = c.result || {};
    html += `<tr class="call"><td><a href="#call=${c.call}">${c.call}</a></td><td><code>${esc(c.method)} ${esc(c.path)}</code></td>` +
            `<td>${esc(c.state)}</td><td>${c.attempt_count}</td><td>${esc(r.code || "")}</td><td>${esc(r.error || "")}</td></tr>`;
  }
  html += "</table>";
  if (page.next_after) {
    const next = Object.assign({}, p, { after: page.next_after });
    html += `<p><a href="#${esc(fragment(next))}">Next page →</a></p>`;
  }
  return html;
}

async function callPage(p) {
  const c = await api("calls/" + encodeURIComponent(p.call));
  document.getElementById("where").textContent = "call " + c.call;
  let html = `<h2>Call ${c.call} <span class="muted">run <a href="#run=${c.run}">${c.run}</a>, ${esc(c.job)}, ${esc(c.account)}</span></h2>`;
  html += `<table id="call"><tr><th>Request</th><td><code>${esc(c.method)} ${esc(c.path)}</code><pre>${esc(JSON.stringify(c.params))}</pre></td></tr>`;
  html += `<tr><th>State</th><td class="call-state">${esc(c.state)}</td></tr>`;
  if (c.result) html += `<tr><th>Result</th><td><pre>${esc(JSON.stringify(c.result, null, 1))}</pre></td></tr>`;
  html += "</table><h2>Tries</h2><table id=\"attempts\"><tr><th>#</th><th>Started</th><th>Latency</th><th>HTTP</th><th>Code</th><th>Class</th><th>Message</th></tr>";
  for (const a of c.attempts) {
    html += `<tr><td>${a.attempt}</td><td>${esc(a.started_at)}</td><td>${a.latency_ms == null ? "-" : a.latency_ms + " ms"}</td>` +
            `<td>${esc(a.http_status)}</td><td>${esc(a.code)}</td><td>${esc(a.classification)}</td><td>${esc(a.message)}</td></tr>`;
  }
  return html + "</table>";
}

let rendering = false;
async function render(fromTimer) {
  if (rendering) return;
  // The two-second refresh waits while someone is typing in a filter.
  if (fromTimer === true && document.activeElement && ["INPUT", "SELECT"].includes(document.activeElement.tagName)) return;
  rendering = true;
  const p = params();
  try {
    const html = p.call ? await callPage(p) : p.run ? await runPage(p) : p.account ? await accountHistory(p) : await overview();
    document.getElementById("main").innerHTML = html;
  } catch (e) {
    document.getElementById("main").innerHTML = "";
    showError(e);
  } finally {
    rendering = false;
  }
}
document.addEventListener("click", e => {
  const b = e.target.closest("button[data-action]");
  if (!b) return;
  if (b.dataset.action === "retry") act(`runs/${b.dataset.run}/retry`, { states: ["failed", "dead"] }, `Retry run ${b.dataset.run}'s failed and dead calls?`);
  if (b.dataset.action === "cancel") act(`runs/${b.dataset.run}/cancel`, null, `Cancel run ${b.dataset.run}'s waiting calls?`);
  if (b.dataset.action === "page") { accountPage = Math.max(0, Number(b.dataset.page)); render(); return; }
  if (b.dataset.action === "resume") act(`accounts/${encodeURIComponent(b.dataset.account)}/resume`, null, null);
});
document.addEventListener("input", e => {
  if (e.target.id !== "account-filter") return;
  accountFilter = e.target.value;
  accountPage = 0;
  render().then(() => {
    const box = document.getElementById("account-filter");
    if (box) { box.focus(); box.setSelectionRange(box.value.length, box.value.length); }
  });
});
document.addEventListener("change", e => {
  if (e.target.id !== "state-filter" && e.target.id !== "code-filter") return;
  const p = params();
  delete p.after;
  p.state = document.getElementById("state-filter").value;
  p.code = document.getElementById("code-filter").value;
  location.hash = fragment(p);
});
window.addEventListener("hashchange", () => { keepToken(); render(); });
render();
setInterval(() => render(true), 2000);
</script>
</body>
</html>
"""#
}
