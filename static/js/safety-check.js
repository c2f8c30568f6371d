// Safety check (安否確認) that survives a lost connection: every mark goes to an outbox in
// localStorage first, with its own id, and is sent from there; unsent marks are resent when
// the connection returns (or the page is opened again). The server stores a mark once per id.
(function () {
  "use strict";
  var root = document.getElementById("safety-root");
  var outbox = document.getElementById("outbox");
  if (!root || !window.fetch || !window.localStorage) { return; }  // plain forms still work
  var key = root.getAttribute("data-storage-key");
  var sending = false;

  function load() {
    try { return JSON.parse(localStorage.getItem(key) || "[]"); } catch (e) { return []; }
  }
  function save(queue) { localStorage.setItem(key, JSON.stringify(queue)); }

  function uuid4() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function csrfToken() {
    var input = root.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function showOutbox() {
    var n = load().length;
    if (n) {
      outbox.hidden = false;
      outbox.textContent = outbox.getAttribute("data-pending").replace("{n}", String(n));
    } else {
      outbox.hidden = true;
      outbox.textContent = "";
    }
    root.setAttribute("data-pending", String(n));
  }

  function setState(mark, text, cls) {
    var card = document.getElementById("person-" + mark.case);
    if (!card) { return; }
    card.querySelector("[data-role=state]").textContent = text;
    card.className = "card person person--" + (cls || mark.status);
  }

  function labelFor(mark) {
    var card = document.getElementById("person-" + mark.case);
    var btn = card && card.querySelector('button[value="' + mark.status + '"]');
    var label = btn ? btn.firstChild.textContent : mark.status;
    return label + (mark.evacuated_to ? "（" + mark.evacuated_to + "）" : "");
  }

  function flush() {
    if (sending) { return; }
    var queue = load();
    if (!queue.length) { showOutbox(); return; }
    sending = true;
    var mark = queue[0];
    fetch(root.getAttribute("data-action"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(mark)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) { return { r: r, body: body }; });
    }).then(function (res) {
      sending = false;
      if (res.r.ok || res.r.status === 400) {
        // Stored (or refused for good): either way it leaves the outbox.
        save(load().filter(function (m) { return m.client_id !== mark.client_id; }));
        if (res.r.ok) {
          setState(mark, root.getAttribute("data-saved") + "：" + labelFor(mark));
        } else {
          var errors = res.body.errors || {};
          var text = Object.keys(errors).map(function (k) { return [].concat(errors[k]).join(" "); }).join(" ");
          setState(mark, text || "?", "needs_help");
        }
        showOutbox();
        flush();
      } else {
        showOutbox();  // server trouble: keep it and try again later
      }
    }).catch(function () {
      sending = false;  // offline: keep it
      showOutbox();
    });
  }

  root.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.classList.contains("mark-form")) { return; }
    e.preventDefault();
    var status = e.submitter ? e.submitter.value : "";
    var place = form.querySelector("input[name=evacuated_to]");
    if (status === "evacuated" && !place.value.trim()) {
      place.setAttribute("aria-invalid", "true");
      place.focus();
      setState({ case: form.querySelector("input[name=case]").value }, root.getAttribute("data-need-place"), "needs_help");
      return;
    }
    place.removeAttribute("aria-invalid");
    var mark = {
      case: form.querySelector("input[name=case]").value,
      status: status,
      evacuated_to: status === "evacuated" ? place.value.trim() : "",
      client_id: uuid4(),
      marked_at: new Date().toISOString()
    };
    var queue = load();
    queue.push(mark);
    save(queue);
    setState(mark, root.getAttribute("data-waiting") + "：" + labelFor(mark));
    showOutbox();
    flush();
  });

  window.addEventListener("online", flush);
  setInterval(flush, 10000);
  showOutbox();
  flush();
})();
