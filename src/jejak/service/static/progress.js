// Live progress of an investigation, for the case page while it is queued or running.
//
// Polls the case's progress JSON and updates the bar, the stage and the stage list in place; when
// the investigation ends the page is loaded again and shows the verdict (or the failure). Without
// JavaScript the page's <noscript> refresh does the same, every two seconds. Served by jejak itself
// (Content-Security-Policy: script-src 'self'); it reads only what the progress JSON gives.
(function () {
  "use strict";
  var root = document.querySelector("[data-progress]");
  if (!root || !window.fetch) {
    return;
  }
  var url = root.getAttribute("data-progress");
  var bar = root.querySelector("progress");
  var stage = root.querySelector("[data-stage]");
  var state = document.getElementById("state");
  var items = root.querySelectorAll("li[data-index]");
  var failures = 0;

  function show(p) {
    bar.max = p.total || items.length;
    bar.value = p.done;
    bar.textContent = p.done + " of " + bar.max + " stages";
    stage.textContent = p.stage || "waiting for a worker";
    if (state) {
      state.textContent = p.state;
    }
    for (var i = 0; i < items.length; i++) {
      var index = Number(items[i].getAttribute("data-index"));
      items[i].className = index < p.done ? "done" : (index === p.done && p.state === "running" ? "current" : "");
    }
    root.setAttribute("data-state", p.state);
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (!r.ok) {
          throw new Error("HTTP " + r.status);
        }
        return r.json();
      })
      .then(function (p) {
        failures = 0;
        show(p);
        if (p.state === "done" || p.state === "failed") {
          window.location.reload();
        } else {
          window.setTimeout(poll, 1000);
        }
      })
      .catch(function () {
        // The server is restarting or the session ended: slow down, and let a reload show why.
        failures += 1;
        if (failures >= 5) {
          window.location.reload();
        } else {
          window.setTimeout(poll, 3000);
        }
      });
  }

  window.setTimeout(poll, 500);
})();
