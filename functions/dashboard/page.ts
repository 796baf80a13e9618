/*
 * The dashboard page: hand-written HTML, CSS and JS served as they are (no framework, no build
 * step, no request to any other host). The script reads everything through the same API the CLI
 * uses, with the owner token the user typed once, kept in this tab's sessionStorage and sent as
 * a bearer header; never in a URL. Every piece of stored text is put in the page as text nodes.
 */

/** The page shell; the script fills it. */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Switchyard dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard/app.css">
</head>
<body>
<header class="top">
  <h1>Switchyard</h1>
  <div id="dispatch" class="banner muted">dispatch: …</div>
  <div class="right">
    <span id="live" class="live off" title="live updates">offline</span>
    <button id="signout" class="link" hidden>Sign out</button>
  </div>
</header>
<section id="signin" class="signin" hidden>
  <form id="signin-form">
    <h2>Sign in</h2>
    <p>Paste the owner token (<code>cat .switchyard/owner.token</code>). It stays in this tab only.</p>
    <input id="token" type="password" autocomplete="off" placeholder="owner token" aria-label="owner token">
    <button type="submit">Sign in</button>
    <p id="signin-error" class="error" role="alert"></p>
  </form>
</section>
<main id="main" hidden>
  <div class="col wide">
    <section class="card">
      <div class="card-head"><h2>Tasks</h2><label class="muted">show <select id="task-state"><option value="active">active</option><option value="finished">finished</option></select></label></div>
      <table id="tasks"><thead><tr><th>task</th><th>worker</th><th>manager</th><th>last cycle</th><th>pane</th><th>inbox</th></tr></thead><tbody></tbody></table>
      <button id="more-tasks" class="link" hidden>more tasks</button>
    </section>
    <section class="card" id="timeline-card" hidden>
      <div class="card-head"><h2>Timeline <span id="timeline-task"></span></h2><button id="timeline-close" class="link">close</button></div>
      <ol id="timeline" class="timeline"></ol>
      <button id="more-timeline" class="link" hidden>later entries…</button>
    </section>
    <section class="card">
      <h2>Activity</h2>
      <ol id="activity" class="activity"></ol>
    </section>
  </div>
  <div class="col">
    <section class="card">
      <h2>Approvals</h2>
      <div id="approvals"></div>
      <p id="approvals-more" class="muted" hidden></p>
      <p id="receipt" class="receipt" role="status"></p>
    </section>
    <section class="card">
      <h2>Command queue</h2>
      <p id="queue-counts"></p>
      <ul id="dead" class="list"></ul>
    </section>
    <section class="card">
      <h2>Patrol</h2>
      <p id="patrol"></p>
      <h3>Gates</h3><ul id="gates" class="list"></ul>
      <h3>Convoys</h3><ul id="convoys" class="list"></ul>
    </section>
  </div>
</main>
<script src="/dashboard/app.js"></script>
</body>
</html>
`;

/** Styles: a two-column layout that fits a laptop screen, one column on a narrow one. */
export const DASHBOARD_CSS = `:root { --bg:#f6f7f9; --card:#fff; --ink:#1d2330; --muted:#6b7280; --line:#e4e7ec; --ok:#1a7f37; --warn:#b35900; --bad:#c62828; --accent:#2457c5; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--ink); background:var(--bg); }
.top { display:flex; align-items:center; gap:16px; padding:10px 18px; background:#1d2330; color:#fff; }
.top h1 { font-size:17px; margin:0; letter-spacing:.2px; }
.top .right { margin-left:auto; display:flex; gap:12px; align-items:center; }
.banner { padding:3px 10px; border-radius:12px; font-size:13px; background:#2c3445; }
.banner.ok { background:#184d2b; } .banner.warn { background:#6b3b00; }
.live { font-size:12px; padding:2px 8px; border-radius:10px; background:#3b4252; }
.live.on { background:#1a7f37; }
main { display:grid; grid-template-columns: minmax(0, 1.7fr) minmax(320px, 1fr); gap:14px; padding:14px 18px; max-width:1500px; margin:0 auto; }
@media (max-width: 900px) { main { grid-template-columns: 1fr; } }
.col { display:flex; flex-direction:column; gap:14px; min-width:0; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 14px; }
.card h2 { font-size:15px; margin:0 0 8px; } .card h3 { font-size:13px; margin:10px 0 4px; color:var(--muted); }
.card-head { display:flex; align-items:baseline; justify-content:space-between; }
table { width:100%; border-collapse:collapse; }
th, td { text-align:left; padding:5px 6px; border-bottom:1px solid var(--line); font-size:13px; vertical-align:top; }
th { color:var(--muted); font-weight:600; }
tbody tr { cursor:pointer; } tbody tr:hover { background:#f0f4ff; } tr.selected { background:#e6eeff; }
.dot { display:inline-block; width:8px; height:8px; border-radius:50%; margin-right:5px; background:#9aa3b2; }
.dot.ok { background:var(--ok); } .dot.warn { background:var(--warn); } .dot.bad { background:var(--bad); }
.badge { display:inline-block; padding:0 7px; border-radius:9px; font-size:12px; background:#eef1f6; }
.badge.alert { background:#fdecea; color:var(--bad); }
.muted { color:var(--muted); } .error { color:var(--bad); min-height:1em; }
.timeline, .activity { list-style:none; margin:0; padding:0; max-height:360px; overflow:auto; font:12px/1.5 ui-monospace, SFMono-Regular, Menlo, monospace; }
.timeline li, .activity li { padding:2px 0; border-bottom:1px dotted var(--line); white-space:pre-wrap; word-break:break-word; }
.activity li.failed { color:var(--bad); }
.list { list-style:none; margin:0; padding:0; } .list li { padding:4px 0; border-bottom:1px solid var(--line); font-size:13px; }
.advice { border:1px solid var(--line); border-radius:6px; padding:8px; margin-bottom:8px; }
.advice .meta { font-size:12px; color:var(--muted); margin-bottom:4px; }
.advice .req { font-size:13px; margin:4px 0; white-space:pre-wrap; }
.advice textarea { width:100%; min-height:70px; font:13px/1.4 system-ui, sans-serif; padding:6px; border:1px solid var(--line); border-radius:4px; }
.advice .actions { display:flex; gap:6px; margin-top:6px; flex-wrap:wrap; }
button { font:inherit; padding:4px 10px; border-radius:5px; border:1px solid #b9c2d0; background:#fff; cursor:pointer; }
button.primary { background:var(--accent); border-color:var(--accent); color:#fff; }
button.danger { color:var(--bad); border-color:#e5b4b4; }
button.link { border:none; background:none; color:var(--accent); padding:2px 0; }
.top button.link { color:#cfd8ea; }
.receipt { font-size:12px; color:var(--muted); white-space:pre-wrap; min-height:1em; }
.receipt.ok { color:var(--ok); } .receipt.bad { color:var(--bad); }
.signin { display:flex; justify-content:center; padding:60px 16px; }
.signin form { background:#fff; border:1px solid var(--line); border-radius:8px; padding:20px 24px; width:420px; }
.signin input { width:100%; padding:7px; margin:8px 0; border:1px solid #b9c2d0; border-radius:5px; }
code { background:#eef1f6; padding:0 4px; border-radius:3px; }
`;

/** The behaviour: sign-in, the overview, the live stream, the timeline and the owner's actions. */
export const DASHBOARD_JS = `"use strict";
(function () {
  var KEY = "switchyard.owner";
  var token = sessionStorage.getItem(KEY);
  var taskState = "active";
  var taskCursor = null;
  var selected = null;
  var timelineCursor = null;
  var lastMark = null;
  var refreshTimer = null;
  var streamAbort = null;
  // Reconnect delay after the stream drops: doubles from 1 s to 30 s, back to 1 s once a stream opens.
  var streamRetryMs = 1000;
  var drafts = {};

  function $(id) { return document.getElementById(id); }
  function el(tag, attrs) {
    var node = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "cls") node.className = attrs[k];
      else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), attrs[k]);
      else node.setAttribute(k, attrs[k]);
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined) continue;
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function age(s) { return s === null || s === undefined ? "-" : s < 60 ? s + "s" : s < 3600 ? Math.round(s / 60) + "m" : Math.round(s / 3600) + "h"; }

  function api(method, path, body) {
    var headers = { Authorization: "Bearer " + token, Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch("/v1" + path, { method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body) }).then(function (res) {
      return res.text().then(function (text) {
        var json = text ? JSON.parse(text) : null;
        if (!res.ok) {
          var err = new Error(json && json.error ? json.error.code + ": " + json.error.message : "HTTP " + res.status);
          err.status = res.status;
          throw err;
        }
        return json;
      });
    });
  }

  function showSignin(message) {
    $("main").hidden = true;
    $("signout").hidden = true;
    $("signin").hidden = false;
    $("signin-error").textContent = message || "";
    setLive(false);
  }

  function signedIn() {
    $("signin").hidden = true;
    $("main").hidden = false;
    $("signout").hidden = false;
    refresh();
    openStream();
  }

  function setLive(on) {
    var l = $("live");
    l.textContent = on ? "live" : "offline";
    l.className = "live " + (on ? "on" : "off");
  }

  function livenessDot(s) {
    if (!s) return el("span", { cls: "dot" });
    var cls = s.state !== "active" ? "bad" : s.heartbeat_age_seconds !== null && s.heartbeat_age_seconds > 600 ? "warn" : "ok";
    return el("span", { cls: "dot " + cls, title: s.state + (s.heartbeat_age_seconds !== null ? ", heartbeat " + age(s.heartbeat_age_seconds) + " ago" : "") });
  }
  function sessionCell(s) { return s ? el("td", null, livenessDot(s), s.name) : el("td", { cls: "muted", text: "-" }); }

  function renderTasks(tasks, append) {
    var body = $("tasks").tBodies[0];
    if (!append) clear(body);
    if (!tasks.length && !append) body.appendChild(el("tr", null, el("td", { colspan: "6", cls: "muted", text: "No " + taskState + " tasks." })));
    tasks.forEach(function (t) {
      var c = t.last_cycle;
      var row = el(
        "tr",
        { "data-task": t.name, cls: selected === t.name ? "selected" : "", onclick: function () { openTimeline(t.name); } },
        el("td", null, el("strong", { text: t.name })),
        sessionCell(t.worker),
        sessionCell(t.manager),
        el("td", null, c ? "#" + c.id + " " + (c.state === "ok" ? c.worker_state || "-" : "failed") + " · " + age(c.age_seconds) + " ago" : el("span", { cls: "muted", text: "none" })),
        el("td", null, c && c.pane_pattern ? el("span", { cls: "badge alert", text: c.pane_pattern }) : el("span", { cls: "muted", text: "-" })),
        el("td", { title: "pending / consumed" }, t.inbox.pending + " / " + t.inbox.consumed)
      );
      body.appendChild(row);
    });
  }

  function renderDispatch(list) {
    var b = $("dispatch");
    if (!list.length) {
      b.className = "banner warn";
      b.textContent = "dispatch: no dispatcher running";
      return;
    }
    var d = list[0];
    var stale = d.heartbeat_age_seconds !== null && d.heartbeat_age_seconds > 120;
    b.className = "banner " + (stale ? "warn" : "ok");
    b.textContent = "dispatch " + (stale ? "STALE" : "active") + ": " + d.id + " · heartbeat " + age(d.heartbeat_age_seconds) + " ago · iteration " + d.iteration + " · processed " + d.processed + (d.dry_run ? " · dry run" : "") + (list.length > 1 ? " (+" + (list.length - 1) + " more)" : "");
  }

  function receipt(text, ok) {
    var r = $("receipt");
    r.textContent = text;
    r.className = "receipt " + (ok ? "ok" : "bad");
  }

  function act(label, method, path, body) {
    return api(method, path, body).then(
      function (res) { receipt(label + ": " + summarize(res), true); refresh(); return res; },
      function (e) { receipt(label + " failed: " + e.message, false); }
    );
  }
  function summarize(res) {
    if (!res) return "ok";
    var keys = ["state", "advice_id", "message_id", "command_id", "previous_state"];
    var parts = [];
    keys.forEach(function (k) { if (res[k] !== undefined && res[k] !== null) parts.push(k + "=" + res[k]); });
    if (res.advice && res.advice.state) parts.push("state=" + res.advice.state);
    return parts.join(" ") || "ok";
  }

  /*
   * A refresh arrives whenever anything changes (a heartbeat is enough), often while the owner is
   * typing in a draft. Rebuilding the card then would swap the textarea under the keyboard: the
   * caret, the selection and focus go, and text typed in between lands in a detached node. So a
   * card is kept as it is while its advice's state and text are unchanged, and only rebuilt when
   * they change.
   */
  function adviceKey(a) { return a.state + "|" + (a.state === "approved" ? a.approved_text || "" : a.draft_text || ""); }

  function adviceCard(a) {
    var text = a.state === "approved" ? a.approved_text || "" : a.draft_text || "";
    var editable = a.state === "draft_ready" || a.state === "owner_input_required";
    var area = el("textarea", { "data-advice": a.id, "aria-label": "draft for " + a.id });
    // An approved text is what will be sent: it is shown as the server holds it, not edited.
    area.value = editable && drafts[a.id] !== undefined ? drafts[a.id] : text;
    area.readOnly = !editable;
    area.addEventListener("input", function () { drafts[a.id] = area.value; });
    var actions = el("div", { cls: "actions" });
    if (editable) {
      actions.appendChild(el("button", { cls: "primary", "data-action": "approve", onclick: function () {
        var edited = area.value.trim() && area.value !== text ? area.value : undefined;
        act("approve " + a.id, "POST", "/broker/advice/" + encodeURIComponent(a.id) + "/approve", edited ? { edit: edited } : {});
      } }, "Approve"));
    }
    if (a.state === "approved") {
      actions.appendChild(el("button", { cls: "primary", "data-action": "send", onclick: function () {
        act("send " + a.id, "POST", "/broker/advice/" + encodeURIComponent(a.id) + "/send-approved", {});
      } }, "Send approved"));
    }
    if (a.state !== "sent" && a.state !== "rejected") {
      actions.appendChild(el("button", { cls: "danger", "data-action": "reject", onclick: function () {
        var reason = window.prompt("Why reject " + a.id + "?", "not needed");
        if (reason) act("reject " + a.id, "POST", "/broker/advice/" + encodeURIComponent(a.id) + "/reject", { reason: reason });
      } }, "Reject"));
    }
    var card = el("div", { cls: "advice", "data-advice-card": a.id, "data-key": adviceKey(a) },
      el("div", { cls: "meta", text: a.id + " · " + a.state + " · " + (a.requester || "?") + " → " + (a.to || "?") }),
      el("div", { cls: "req", text: a.request_text }),
      a.policy_reason ? el("div", { cls: "meta", text: "policy: " + a.policy_reason }) : null,
      area,
      actions);
    return card;
  }

  function renderApprovals(list, open) {
    var box = $("approvals");
    var more = $("approvals-more");
    more.hidden = !(open > list.length);
    more.textContent = more.hidden ? "" : (open - list.length) + " more open: switchyard broker queue";
    var focused = document.activeElement && document.activeElement.getAttribute("data-advice");
    var old = {};
    Array.prototype.forEach.call(box.querySelectorAll("[data-advice-card]"), function (c) { old[c.getAttribute("data-advice-card")] = c; });
    var cards = list.map(function (a) {
      var kept = old[a.id];
      return kept && kept.getAttribute("data-key") === adviceKey(a) ? kept : adviceCard(a);
    });
    Array.prototype.slice.call(box.childNodes).forEach(function (n) { if (cards.indexOf(n) < 0) box.removeChild(n); });
    if (!cards.length) { box.appendChild(el("p", { cls: "muted", text: "Nothing waiting for you." })); return; }
    // Only nodes out of place move: moving the card being typed in would blur it.
    cards.forEach(function (c, i) { if (box.childNodes[i] !== c) box.insertBefore(c, box.childNodes[i] || null); });
    // A card rebuilt under the caret (its advice changed) gets the focus back.
    var now = document.activeElement;
    if (focused && (!now || now.getAttribute("data-advice") !== focused)) {
      Array.prototype.forEach.call(box.querySelectorAll("textarea"), function (t) { if (t.getAttribute("data-advice") === focused) t.focus(); });
    }
  }

  function renderQueue(q) {
    $("queue-counts").textContent = q.pending + " pending · " + q.running + " running · " + q.dead + " dead";
    var ul = $("dead");
    clear(ul);
    q.dead_letters.forEach(function (d) {
      ul.appendChild(el("li", null,
        el("strong", { text: d.type }), " " + (d.task || "-") + " · " + d.attempts + " attempts · ",
        el("span", { cls: "muted", text: d.error || "" }), " ",
        el("button", { "data-requeue": d.id, onclick: function () { act("requeue " + d.id, "POST", "/commands/" + encodeURIComponent(d.id) + "/requeue"); } }, "Requeue")));
    });
  }

  function renderPatrol(p) {
    $("patrol").textContent = (p.running ? "running · heartbeat " + age(p.heartbeat_age_seconds) + " ago" : "NOT RUNNING" + (p.problem ? " — " + p.problem : "")) + " · " + p.unhealthy + " unhealthy · " + p.owner_notices_pending + " notices";
    var g = $("gates"); clear(g);
    if (!p.gates.length) g.appendChild(el("li", { cls: "muted", text: "none open" }));
    p.gates.forEach(function (x) { g.appendChild(el("li", { text: x.type + " " + (x.title || x.id) + (x.due_at ? " · due " + x.due_at : "") })); });
    if (p.gates_open > p.gates.length) g.appendChild(el("li", { cls: "muted", "data-more": "gates", text: "and " + (p.gates_open - p.gates.length) + " more open (switchyard gate list)" }));
    var c = $("convoys"); clear(c);
    if (!p.convoys.length) c.appendChild(el("li", { cls: "muted", text: "none open" }));
    p.convoys.forEach(function (x) { c.appendChild(el("li", { text: x.title })); });
    if (p.convoys_open > p.convoys.length) c.appendChild(el("li", { cls: "muted", "data-more": "convoys", text: "and " + (p.convoys_open - p.convoys.length) + " more open (switchyard convoy list)" }));
  }

  function refresh() {
    return api("GET", "/dashboard/overview?state=" + taskState).then(function (o) {
      lastMark = o.watermark;
      taskCursor = o.next_cursor;
      $("more-tasks").hidden = !taskCursor;
      renderTasks(o.tasks, false);
      renderDispatch(o.dispatch);
      renderApprovals(o.broker, o.broker_open);
      renderQueue(o.queue);
      renderPatrol(o.patrol);
      document.body.setAttribute("data-watermark", o.watermark);
      if (selected) loadTimeline(false);
    }, function (e) {
      if (e.status === 401 || e.status === 403) refused(e.message);
      else receipt("refresh failed: " + e.message, false);
    });
  }

  function scheduleRefresh() {
    if (refreshTimer) return;
    refreshTimer = setTimeout(function () { refreshTimer = null; refresh(); }, 150);
  }

  function addActivity(items) {
    var ol = $("activity");
    items.slice().reverse().forEach(function (r) {
      ol.insertBefore(el("li", { cls: r.outcome === "failed" ? "failed" : "", text: r.created_at.slice(11, 19) + " " + r.summary }), ol.firstChild);
    });
    while (ol.childNodes.length > 200) ol.removeChild(ol.lastChild);
  }

  function openStream() {
    if (streamAbort) streamAbort.abort();
    var ctrl = new AbortController();
    streamAbort = ctrl;
    fetch("/v1/dashboard/stream", { headers: { Authorization: "Bearer " + token, Accept: "text/event-stream" }, signal: ctrl.signal }).then(function (res) {
      if (res.status === 401 || res.status === 403) { refused("the live stream refused this token (HTTP " + res.status + ")"); return; }
      if (!res.ok || !res.body) throw new Error("stream refused: HTTP " + res.status);
      setLive(true);
      streamRetryMs = 1000;
      var reader = res.body.getReader();
      var decoder = new TextDecoder();
      var buf = "";
      function pump() {
        return reader.read().then(function (r) {
          if (r.done) throw new Error("stream ended");
          buf += decoder.decode(r.value, { stream: true });
          var i;
          while ((i = buf.indexOf("\\n\\n")) >= 0) {
            var chunk = buf.slice(0, i);
            buf = buf.slice(i + 2);
            var event = "message", data = "";
            chunk.split("\\n").forEach(function (line) {
              if (line.indexOf("event:") === 0) event = line.slice(6).trim();
              else if (line.indexOf("data:") === 0) data += line.slice(5).trim();
            });
            if (event === "change" && data) {
              var change = JSON.parse(data);
              if (change.recent && change.recent.length) addActivity(change.recent);
              if (change.watermark !== lastMark) scheduleRefresh();
            } else if (event === "error") {
              // The server ends the stream because the token died: reconnecting cannot help.
              var err = {};
              // The error envelope; a bare {code,…} too, as a server older than this page sends it.
              try { var parsed = JSON.parse(data); err = (parsed && parsed.error) || parsed || {}; } catch (ignored) {}
              if (err.code === "UNAUTHENTICATED" || err.code === "FORBIDDEN") { refused(err.message || "the token is no longer live"); return; }
            }
          }
          return pump();
        });
      }
      return pump();
    }).catch(function () {
      if (ctrl.signal.aborted || !token) return;
      setLive(false);
      var wait = streamRetryMs;
      streamRetryMs = Math.min(30000, streamRetryMs * 2);
      setTimeout(function () { if (token && streamAbort === ctrl) openStream(); }, wait);
    });
  }

  /** The token was refused: forget it and ask for another instead of retrying with it. */
  function refused(why) {
    if (streamAbort) streamAbort.abort();
    setLive(false);
    sessionStorage.removeItem(KEY);
    token = null;
    showSignin("That token was refused (" + why + ").");
  }

  function openTimeline(name) {
    selected = name;
    timelineCursor = null;
    $("timeline-card").hidden = false;
    $("timeline-task").textContent = name;
    Array.prototype.forEach.call($("tasks").tBodies[0].rows, function (r) { r.className = r.getAttribute("data-task") === name ? "selected" : ""; });
    loadTimeline(false);
  }

  function loadTimeline(more) {
    var path = "/tasks/" + encodeURIComponent(selected) + "/replay?format=timeline&limit=200" + (more && timelineCursor ? "&cursor=" + encodeURIComponent(timelineCursor) : "");
    var name = selected;
    api("GET", path).then(function (r) {
      if (name !== selected) return;
      var ol = $("timeline");
      if (!more) clear(ol);
      r.entries.forEach(function (e) {
        ol.appendChild(el("li", { "data-source": e.source, text: e.at.replace("T", " ").slice(0, 19) + "  " + e.source.padEnd(9) + " " + (e.session ? e.session + " " : "") + e.summary }));
      });
      timelineCursor = r.next_cursor;
      $("more-timeline").hidden = !timelineCursor;
    }, function (e) { receipt("timeline failed: " + e.message, false); });
  }

  $("signin-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var t = $("token").value.trim();
    if (!t) return;
    token = t;
    api("GET", "/dashboard/overview?limit=1").then(function () {
      sessionStorage.setItem(KEY, t);
      $("token").value = "";
      signedIn();
    }, function (e) { token = null; showSignin("Sign-in refused: " + e.message); });
  });
  $("signout").addEventListener("click", function () {
    sessionStorage.removeItem(KEY);
    token = null;
    if (streamAbort) streamAbort.abort();
    showSignin("Signed out.");
  });
  $("task-state").addEventListener("change", function (ev) { taskState = ev.target.value; refresh(); });
  $("more-tasks").addEventListener("click", function () {
    api("GET", "/dashboard/overview?state=" + taskState + "&cursor=" + encodeURIComponent(taskCursor)).then(function (o) {
      taskCursor = o.next_cursor;
      $("more-tasks").hidden = !taskCursor;
      renderTasks(o.tasks, true);
    });
  });
  $("timeline-close").addEventListener("click", function () { selected = null; $("timeline-card").hidden = true; });
  $("more-timeline").addEventListener("click", function () { loadTimeline(true); });

  if (token) signedIn(); else showSignin("");
})();
`;
