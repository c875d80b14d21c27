// zart dashboard: the only script. Pages that show running work carry
// data-refresh="SECONDS" on <body>. Every SECONDS this re-reads the page and
// swaps each [data-live] part (by id) for its new version, so a page follows
// its executions without a reload. A part holding the focused field or a
// form being filled is left alone, so nobody loses what they type. When the
// new page has no data-refresh (its execution ended), the looks stop.
(function () {
  "use strict";

  // A form someone typed into stays as typed until it is posted.
  document.addEventListener("input", function (event) {
    var form = event.target.form;
    if (form) form.setAttribute("data-dirty", "1");
  });

  // Forms that undo work ask first (no inline script: the page's CSP forbids it).
  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  function busy(part) {
    var active = document.activeElement;
    if (active && active !== document.body && part.contains(active) && active.form) return true;
    return part.querySelector("form[data-dirty]") !== null;
  }

  function swap(fresh) {
    var old = document.getElementById(fresh.id);
    if (!old || busy(old)) return;
    // Keep open what was opened (a traceback, a long result).
    old.querySelectorAll("details[id][open]").forEach(function (d) {
      var again = fresh.querySelector("#" + CSS.escape(d.id));
      if (again) again.setAttribute("open", "");
    });
    old.replaceWith(document.importNode(fresh, true));
  }

  function apply(html) {
    var page = new DOMParser().parseFromString(html, "text/html");
    page.querySelectorAll("[data-live][id]").forEach(swap);
    document.title = page.title;
    // How many looks this page took: tests (and the curious) can wait on it.
    var looks = Number(document.body.getAttribute("data-looks") || 0) + 1;
    document.body.setAttribute("data-looks", String(looks));
    var again = page.body.getAttribute("data-refresh");
    if (again) document.body.setAttribute("data-refresh", again);
    else document.body.removeAttribute("data-refresh");
  }

  function look() {
    if (document.hidden) return Promise.resolve();
    return fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        // Logged out meanwhile (a restart): the login page takes over.
        if (response.redirected) { window.location.reload(); return; }
        if (response.ok) return response.text().then(apply);
      });
  }

  function next() {
    var seconds = Number(document.body.getAttribute("data-refresh"));
    if (!seconds) return;
    window.setTimeout(function () {
      look().catch(function () { /* the server may be restarting: look again later */ }).then(next);
    }, seconds * 1000);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", next);
  else next();
})();
