// Live safety-check tally: counts per small area over a WebSocket; reconnects by itself.
(function () {
  "use strict";
  var root = document.getElementById("tally-root");
  var state = document.getElementById("live-state");
  if (!root || !window.WebSocket) { return; }
  var delay = 1000;

  function render(tally) {
    var body = root.querySelector("tbody");
    tally.forEach(function (row) {
      var tr = body.querySelector('tr[data-area="' + String(row.area) + '"]');
      if (!tr) {
        tr = document.createElement("tr");
        tr.setAttribute("data-area", String(row.area));
        var name = document.createElement("td");
        tr.appendChild(name);
        ["total", "safe", "needs_help", "not_reached", "evacuated", "unchecked"].forEach(function (k) {
          var td = document.createElement("td");
          td.setAttribute("data-key", k);
          tr.appendChild(td);
        });
        body.appendChild(tr);
      }
      tr.firstElementChild.textContent = row.name;
      Array.prototype.forEach.call(tr.querySelectorAll("td[data-key]"), function (td) {
        td.textContent = String(row[td.getAttribute("data-key")] || 0);
      });
    });
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(scheme + location.host + root.getAttribute("data-ws"));
    ws.onopen = function () { delay = 1000; state.textContent = state.getAttribute("data-connected"); };
    ws.onmessage = function (e) {
      var msg = JSON.parse(e.data);
      if (msg.type === "tally") { render(msg.tally); root.setAttribute("data-updated", String(Date.now())); }
    };
    ws.onclose = function (e) {
      state.textContent = state.getAttribute("data-disconnected");
      if (e.code >= 4400 && e.code < 4500) { return; }  // refused: do not retry
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  connect();
})();
