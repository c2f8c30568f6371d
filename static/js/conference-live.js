/* Otagai live conference page. Protocol: docs/live-protocol.md.
 * Everything from the server is inserted with textContent (never innerHTML): notes are text.
 * Unsent operations stay in an outbox (also in sessionStorage) and are re-sent with the same
 * id on reconnect; the server applies each id once. */
(function () {
  "use strict";

  var root = document.getElementById("live");
  if (!root) return;
  var i18n = document.getElementById("live-i18n").dataset;
  var conferenceId = root.dataset.conference;
  var isChair = root.dataset.chair === "1";
  var seq = parseInt(root.dataset.seq || "0", 10);
  var state = root.dataset.state;
  var storeKey = "otagai-outbox-" + conferenceId;
  var outbox = loadOutbox();
  var ws = null;
  var retry = 0;
  var synced = false;
  var counter = 0;
  var pendingEdits = {}; // op id -> {kind, id, text, tier}
  var pendingTexts = {}; // op id -> {field, text}: what a form sent, put back if refused
  var lastFrameAt = 0;
  // A socket whose network is gone may stay "open" for minutes: when nothing has come for
  // IDLE_MS the page pings, and a socket that answers nothing within DEAD_MS is given up.
  var IDLE_MS = 15000, DEAD_MS = 5000;

  function $(id) { return document.getElementById(id); }
  function t(key) { return i18n[key] || key; }

  function loadOutbox() {
    try { return JSON.parse(sessionStorage.getItem(storeKey) || "[]"); } catch (e) { return []; }
  }
  function saveOutbox() {
    try { sessionStorage.setItem(storeKey, JSON.stringify(outbox)); } catch (e) { /* private mode */ }
    var n = outbox.length;
    $("outbox").textContent = n ? t("unsent") + ": " + n : "";
  }

  function newId() {
    counter += 1;
    var rand = (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Math.random()).slice(2);
    return rand + "-" + counter;
  }

  function setConn(kind) {
    var el = $("conn");
    el.className = "conn conn--" + kind;
    el.textContent = t(kind);
    root.dataset.conn = kind;
  }

  function showError(message) {
    var box = $("live-errors");
    var p = document.createElement("p");
    p.className = "message message--error";
    p.textContent = message;
    box.replaceChildren(p);
  }
  function clearErrors() { $("live-errors").replaceChildren(); }

  // A refused operation loses nothing typed: the text goes back in its field (if the person
  // has not started another meanwhile), an edit's form opens again with it.
  function restoreRefused(id) {
    var sent = pendingTexts[id];
    delete pendingTexts[id];
    if (sent) {
      var field = $(sent.field);
      if (field && !field.value) { field.value = sent.text; field.focus(); }
    }
    var edit = pendingEdits[id];
    if (edit && edit.text !== undefined) {
      var li = document.querySelector('.record[data-kind="' + edit.kind + '"][data-id="' + edit.id + '"]');
      if (li && state === "live") {
        startEdit(li);
        var area = li.querySelector(".record__edit textarea");
        var tier = li.querySelector(".record__edit select");
        if (area) area.value = edit.text;
        if (tier && edit.tier) tier.value = String(edit.tier);
      }
    }
  }

  // --- rendering (text only) -------------------------------------------------------------

  function tierLabel(tier) { return i18n["tier-" + tier] || String(tier); }

  function recordNode(kind, r) {
    var li = document.createElement("li");
    li.className = "record record--tier-" + r.tier;
    li.dataset.kind = kind;
    li.dataset.id = r.id;
    li.dataset.version = r.version;
    li.dataset.tier = r.tier;
    li.dataset.item = r.item || "";
    li.dataset.case = r.case || "";
    li.dataset.author = r.author || "";
    var text = document.createElement("p");
    text.className = "record__text";
    var meta = document.createElement("p");
    meta.className = "record__meta";
    var badge = document.createElement("span");
    badge.className = "tier tier--" + r.tier;
    badge.textContent = tierLabel(r.tier);
    meta.appendChild(badge);
    if (kind === "action") {
      text.textContent = r.title;
      var owners = [r.owner_user, r.owner_agency].filter(Boolean).join(" / ");
      meta.appendChild(document.createTextNode(" " + t("owner") + ": " + owners + " · " + t("due") + ": " + r.due_on));
    } else {
      text.textContent = r.text;
      meta.appendChild(document.createTextNode(" " + (r.author || "") + (r.agency ? "（" + r.agency + "）" : "")));
    }
    li.appendChild(text);
    li.appendChild(meta);
    decorate(li);
    return li;
  }

  function decorate(li) {
    if (li.querySelector(".record__actions") || state !== "live") return;
    var kind = li.dataset.kind;
    if (!canWrite(li.dataset.case)) return;
    var bar = document.createElement("div");
    bar.className = "record__actions";
    if (kind !== "action") {
      var edit = document.createElement("button");
      edit.type = "button";
      edit.className = "link-button";
      edit.textContent = t("edit");
      edit.addEventListener("click", function () { startEdit(li); });
      bar.appendChild(edit);
    }
    var del = document.createElement("button");
    del.type = "button";
    del.className = "link-button";
    del.textContent = t("delete");
    del.addEventListener("click", function () {
      sendOp(kind + ".delete", withKey(kind, li.dataset.id, { base_version: parseInt(li.dataset.version, 10) }));
    });
    bar.appendChild(del);
    li.appendChild(bar);
  }

  function withKey(kind, id, args) { args[kind] = parseInt(id, 10); return args; }

  var writable = null;
  function canWrite(caseId) {
    if (!writable) return false;
    if (!caseId) return writable.general;
    return writable.cases.indexOf(parseInt(caseId, 10)) !== -1;
  }

  function startEdit(li) {
    if (li.querySelector("textarea")) return;
    var kind = li.dataset.kind;
    var textEl = li.querySelector(".record__text");
    var form = document.createElement("div");
    form.className = "record__edit";
    var label = document.createElement("label");
    var area = document.createElement("textarea");
    area.id = "edit-" + kind + "-" + li.dataset.id;
    label.htmlFor = area.id;
    label.textContent = t("edit");
    area.value = textEl.textContent;
    area.rows = 3;
    var tier = document.createElement("select");
    tier.setAttribute("aria-label", $("compose-tier") ? $("compose-tier").labels[0].textContent : "tier");
    var maxTier = parseInt(root.dataset.maxTier || "3", 10);
    [1, 2, 3].filter(function (v) { return v <= maxTier; }).forEach(function (v) {
      var o = document.createElement("option");
      o.value = v; o.textContent = tierLabel(v);
      if (String(v) === li.dataset.tier) o.selected = true;
      tier.appendChild(o);
    });
    var save = document.createElement("button");
    save.type = "button"; save.className = "button button--primary"; save.textContent = t("save");
    var cancel = document.createElement("button");
    cancel.type = "button"; cancel.className = "button"; cancel.textContent = t("cancel");
    var base = parseInt(li.dataset.version, 10);
    save.addEventListener("click", function () {
      var args = withKey(kind, li.dataset.id, { text: area.value, tier: parseInt(tier.value, 10), base_version: base });
      var id = sendOp(kind + ".edit", args);
      pendingEdits[id] = { kind: kind, id: li.dataset.id, text: area.value, tier: parseInt(tier.value, 10) };
      form.remove();
    });
    cancel.addEventListener("click", function () { form.remove(); });
    form.append(label, area, tier, save, cancel);
    li.appendChild(form);
    area.focus();
  }

  function listFor(kind, item) {
    var section = document.querySelector('.agenda-item[data-item="' + item + '"]');
    return section ? section.querySelector('[data-list="' + kind + '"]') : null;
  }

  function upsert(kind, r) {
    var existing = document.querySelector('.record[data-kind="' + kind + '"][data-id="' + r.id + '"]');
    if (existing && parseInt(existing.dataset.version, 10) > r.version) return;
    var node = recordNode(kind, r);
    if (existing) {
      var editing = existing.querySelector(".record__edit");
      if (editing) node.appendChild(editing);
      existing.replaceWith(node);
    } else {
      var list = listFor(kind, r.item);
      if (list) list.appendChild(node);
    }
  }

  function removeRecord(kind, id) {
    var el = document.querySelector('.record[data-kind="' + kind + '"][data-id="' + id + '"]');
    if (el) el.remove();
  }

  function setCurrent(item) {
    document.querySelectorAll("#agenda li, .agenda-item").forEach(function (el) {
      var on = String(item) === el.dataset.item;
      el.classList.toggle("is-current", on);
      if (el.tagName === "LI") { if (on) el.setAttribute("aria-current", "step"); else el.removeAttribute("aria-current"); }
    });
    ["compose-item", "action-item"].forEach(function (id) {
      var sel = $(id);
      if (sel && sel.querySelector('option[value="' + item + '"]')) {
        sel.value = String(item);
        sel.dispatchEvent(new Event("change"));
      }
    });
  }

  function reorder(order) {
    var agenda = $("agenda");
    var items = $("items");
    order.forEach(function (id) {
      var li = agenda.querySelector('li[data-item="' + id + '"]');
      if (li) agenda.appendChild(li);
      var sec = items.querySelector('.agenda-item[data-item="' + id + '"]');
      if (sec) items.appendChild(sec);
    });
  }

  function addAgendaItem(item) {
    if (document.querySelector('.agenda-item[data-item="' + item.id + '"]')) return;
    var li = document.createElement("li");
    li.dataset.item = item.id;
    var a = document.createElement("a");
    a.href = "#item-" + item.id; a.textContent = item.title;
    li.appendChild(a);
    $("agenda").appendChild(li);
    var sec = document.createElement("section");
    sec.className = "card agenda-item"; sec.id = "item-" + item.id; sec.dataset.item = item.id;
    var h = document.createElement("h2"); h.textContent = item.title;
    sec.appendChild(h);
    ["note", "decision", "action"].forEach(function (k) {
      var ul = document.createElement("ul"); ul.className = "records"; ul.dataset.list = k;
      sec.appendChild(ul);
    });
    $("items").appendChild(sec);
  }

  function setState(s) {
    var was = state;
    state = s;
    root.dataset.state = s;
    // data-state-live and the like: the dataset names them stateLive.
    $("state").textContent = t("state" + s.charAt(0).toUpperCase() + s.slice(1));
    if (s === "live" && was !== "live") {
      // The meeting started while this page was open: the server draws the forms for it
      // (the outbox is in sessionStorage, so nothing unsent is lost).
      location.reload();
      return;
    }
    if (s !== "live") {
      document.querySelectorAll(".record__actions, .record__edit, .chair-controls, #close-form, .review-form").forEach(function (el) { el.remove(); });
      document.querySelectorAll("#compose, #action-form").forEach(function (f) { f.hidden = true; });
      if (s === "closed" && was === "live") showError(t("closed"));
    }
  }

  // Presence: each person's entries carry a version (docs/live-protocol.md, "Presence");
  // only a newer one is applied, whatever order frames, snapshots and resumes arrive in.
  var presenceVersions = {};
  function setPresence(p) {
    if (p.version !== undefined) {
      if (p.version <= (presenceVersions[p.user] || 0)) return;
      presenceVersions[p.user] = p.version;
    }
    var list = $("presence");
    var li = list.querySelector('li[data-user="' + p.user + '"]');
    if (!p.online) { if (li) li.remove(); return; }
    if (!li) { li = document.createElement("li"); li.dataset.user = p.user; list.appendChild(li); }
    li.textContent = p.name + (p.agency ? "（" + p.agency + "）" : "");
  }
  function setPresenceState(s) {  // a snapshot's or resume's: who is here, who left
    (s.presence || []).forEach(function (p) { p.online = true; setPresence(p); });
    (s.presence_gone || []).forEach(function (p) { p.online = false; setPresence(p); });
  }

  function renderSnapshot(s) {
    document.querySelectorAll(".records").forEach(function (ul) { ul.replaceChildren(); });
    s.notes.forEach(function (r) { upsert("note", r); });
    s.decisions.forEach(function (r) { upsert("decision", r); });
    s.actions.forEach(function (r) { upsert("action", r); });
    setPresenceState(s);
    if (s.current_item) setCurrent(s.current_item);
    reorder(s.agenda.map(function (i) { return i.id; }));
    setState(s.state);
  }

  function showReview(rv) {
    var li = document.querySelector("li[data-review='" + rv.id + "']");
    if (!li) return;
    var out = li.querySelector(".review__outcome");
    if (out) {
      out.dataset.outcome = rv.outcome;
      out.textContent = t("review" + rv.outcome.charAt(0).toUpperCase() + rv.outcome.slice(1)) +
        (rv.new_due_on ? " (" + rv.new_due_on + ")" : "");
    }
    var form = li.querySelector("form.review-form");
    if (form) form.remove();
  }

  function applyEvent(f) {
    var parts = f.event.split(".");
    var kind = parts[0], verb = parts[1];
    if (kind === "note" || kind === "decision" || kind === "action") {
      if (verb === "deleted") removeRecord(kind, f[kind].id);
      else upsert(kind, f[kind]);
    } else if (f.event === "agenda.current") {
      setCurrent(f.item);
    } else if (f.event === "agenda.order") {
      reorder(f.order);
    } else if (f.event === "agenda.added") {
      addAgendaItem(f.agenda_item);
    } else if (f.event === "action_review.updated") {
      showReview(f.review);
    } else if (f.event === "conference.state") {
      setState(f.state);
    }
  }

  // --- conflicts ---------------------------------------------------------------------------

  var conflict = null;
  function showConflict(frame) {
    var mine = pendingEdits[frame.id] || {};
    var kind = mine.kind || "note";
    conflict = { kind: kind, current: frame.current, yours: frame.yours };
    $("conflict-message").textContent = frame.message;
    $("conflict-theirs").textContent = frame.current.text || "";
    $("conflict-mine").value = frame.yours.text || "";
    $("conflict").hidden = false;
    $("conflict-mine").focus();
    upsert(kind, frame.current);
  }
  if ($("conflict-keep-mine")) {
    $("conflict-keep-mine").addEventListener("click", function () {
      if (!conflict) return;
      var args = withKey(conflict.kind, conflict.current.id, {
        text: $("conflict-mine").value, tier: conflict.yours.tier || conflict.current.tier,
        base_version: conflict.current.version
      });
      var id = sendOp(conflict.kind + ".edit", args);
      pendingEdits[id] = { kind: conflict.kind, id: conflict.current.id };
      $("conflict").hidden = true; conflict = null;
    });
    $("conflict-keep-theirs").addEventListener("click", function () {
      $("conflict").hidden = true; conflict = null;
    });
  }

  // --- the socket --------------------------------------------------------------------------

  function sendOp(op, args) {
    clearErrors();  // what was refused before is not about this one
    var id = newId();
    outbox.push({ type: "op", id: id, op: op, args: args });
    saveOutbox();
    if (ws && ws.readyState === WebSocket.OPEN && synced) ws.send(JSON.stringify(outbox[outbox.length - 1]));
    return id;
  }

  function settle(id) {
    outbox = outbox.filter(function (o) { return o.id !== id; });
    saveOutbox();
  }

  function flush() {
    outbox.forEach(function (o) { ws.send(JSON.stringify(o)); });
  }

  function connect() {
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    setConn(retry ? "reconnecting" : "connecting");
    synced = false;
    ws = new WebSocket(proto + location.host + root.dataset.wsPath);
    ws.onopen = function () {
      lastFrameAt = Date.now();
      ws.send(JSON.stringify({ type: "hello", last_seq: seq }));
    };
    ws.onmessage = function (msg) {
      lastFrameAt = Date.now();
      var f;
      try { f = JSON.parse(msg.data); } catch (e) { return; }
      switch (f.type) {
        case "welcome":
          writable = { cases: f.writable_cases, general: f.general_writable };
          document.querySelectorAll(".record").forEach(decorate);
          break;
        case "ack_required":
          location.assign(location.pathname.replace(/live\/$/, ""));
          break;
        case "snapshot":
          renderSnapshot(f); seq = f.seq; break;
        case "event":
          if (f.seq > seq) { applyEvent(f); seq = f.seq; }
          break;
        case "synced":
          if (f.presence) setPresenceState(f);  // resumed (presence is not replayed)
          seq = Math.max(seq, f.seq); synced = true; retry = 0;
          setConn("connected"); flush();
          break;
        case "ack":
          settle(f.id); delete pendingEdits[f.id]; delete pendingTexts[f.id]; break;
        case "error":
          if (f.id) { settle(f.id); restoreRefused(f.id); delete pendingEdits[f.id]; }
          showError(f.message); break;
        case "conflict":
          settle(f.id); showConflict(f); delete pendingEdits[f.id]; delete pendingTexts[f.id]; break;
        case "presence":
          setPresence(f); break;
      }
    };
    ws.onclose = function (ev) { closed(ev.code); };
  }

  var reconnectTimer = null;
  function closed(code) {
    synced = false;
    ws = null;
    if (code === 4404 || code === 4401) { setConn("offline"); return; }
    setConn(navigator.onLine === false ? "offline" : "reconnecting");
    retry += 1;
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(connect, Math.min(500 * Math.pow(2, retry - 1), 8000));
  }

  // Give up a socket at once, without waiting for its closing handshake (which a lost
  // network never completes), and reconnect as after any close.
  function abandon() {
    if (!ws) return;
    var old = ws;
    old.onopen = old.onmessage = old.onclose = null;
    try { old.close(4000); } catch (e) { /* already closing */ }
    closed(4000);
  }

  var pingSent = 0;
  setInterval(function () {
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    var now = Date.now();
    if (pingSent && lastFrameAt < pingSent && now - pingSent > DEAD_MS) { pingSent = 0; abandon(); return; }
    if (now - lastFrameAt > IDLE_MS && !(pingSent && lastFrameAt < pingSent)) {
      pingSent = now;
      ws.send(JSON.stringify({ type: "ping" }));
    }
  }, 1000);

  window.addEventListener("offline", function () { abandon(); setConn("offline"); });
  window.addEventListener("online", function () {
    if (!ws) { clearTimeout(reconnectTimer); retry = Math.max(retry, 1); connect(); }
  });
  // For tests and for people: drop the socket; it reconnects by itself.
  window.otagaiLive = { drop: function () { if (ws) ws.close(4000); }, seq: function () { return seq; } };

  // --- forms -------------------------------------------------------------------------------

  var compose = $("compose");
  if (compose) {
    compose.addEventListener("submit", function (e) {
      e.preventDefault();
      var text = $("compose-text").value;
      if (!text.trim()) return;
      var kind = compose.querySelector('input[name="kind"]:checked').value;
      var id = sendOp(kind + ".add", { item: parseInt($("compose-item").value, 10), text: text, tier: parseInt($("compose-tier").value, 10) });
      pendingTexts[id] = { field: "compose-text", text: text };
      $("compose-text").value = "";
    });
  }
  document.addEventListener("submit", function (e) {
    var form = e.target.closest("form.review-form");
    if (!form) return;
    e.preventDefault();
    var args = { review: parseInt(form.dataset.review, 10) };
    ["outcome", "new_due_on", "reason", "reason_text", "note"].forEach(function (name) {
      if (form.elements[name].value) args[name] = form.elements[name].value;
    });
    sendOp("action.review", args);
  });

  var actionForm = $("action-form");
  if (actionForm) {
    actionForm.addEventListener("submit", function (e) {
      e.preventDefault();
      var args = {
        item: parseInt($("action-item").value, 10),
        title: $("action-title").value,
        due_on: $("action-due").value,
        tier: parseInt($("action-tier").value, 10)
      };
      if ($("action-owner-user").value) args.owner_user = parseInt($("action-owner-user").value, 10);
      if ($("action-owner-agency").value) args.owner_agency = parseInt($("action-owner-agency").value, 10);
      var id = sendOp("action.add", args);
      pendingTexts[id] = { field: "action-title", text: args.title };
      $("action-title").value = "";
    });
  }
  if (isChair) {
    $("agenda").addEventListener("click", function (e) {
      var btn = e.target.closest("button[data-action]");
      if (!btn) return;
      var item = parseInt(btn.dataset.item, 10);
      if (btn.dataset.action === "current") { sendOp("agenda.current", { item: item }); return; }
      var ids = Array.prototype.map.call($("agenda").querySelectorAll("li[data-item]"), function (li) { return parseInt(li.dataset.item, 10); });
      var i = ids.indexOf(item), j = btn.dataset.action === "up" ? i - 1 : i + 1;
      if (j < 0 || j >= ids.length) return;
      ids[i] = ids[j]; ids[j] = item;
      sendOp("agenda.reorder", { order: ids });
    });
  }

  // Other business is not about one case: it is read by everyone, at the watch tier.
  [["compose-item", "compose-tier"], ["action-item", "action-tier"]].forEach(function (pair) {
    var item = $(pair[0]), tier = $(pair[1]);
    if (!item || !tier) return;
    function sync() {
      var opt = item.options[item.selectedIndex];
      var general = opt && !opt.dataset.case;
      Array.prototype.forEach.call(tier.options, function (o) { o.disabled = general && o.value !== "1"; });
      if (general) tier.value = "1";
    }
    item.addEventListener("change", sync);
    sync();
  });

  saveOutbox();
  connect();
})();
