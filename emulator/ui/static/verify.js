// The "Verify a receiver" page (written for cxemu, no third-party code): its form runs the battery through
// `POST /_emulator/verify-receiver` and shows the scorecard; each failed check lists the requests it sent.
"use strict";
(function () {
  const C = window.cxemu;
  const el = C.el;

  function say(node, text, bad) {
    node.textContent = text;
    node.classList.toggle("bad", Boolean(bad));
  }

  function requestOf(req) {
    const headers = Object.entries(req.headers).map(function (h) { return h[0] + ": " + h[1]; }).join("\n");
    const answer = req.status !== null ? "answered " + req.status : req.error || "no answer";
    const body = req.body_text.length > 4096 ? req.body_text.slice(0, 4096) + " …" : req.body_text;
    return el("details", { class: "verify-request" },
      el("summary", {}, req.note + " — " + answer),
      el("pre", {}, req.method + " " + req.url + "\n" + headers + "\n\n" + body));
  }

  function show(card) {
    const panel = document.getElementById("verify-card");
    const rows = document.getElementById("verify-results");
    const failures = document.getElementById("verify-failures");
    const s = card.summary;
    document.getElementById("verify-summary").textContent = card.vendor + " receiver " + card.url + " (tenant " +
      card.tenant + ", oracle " + card.oracle + "): " + s.pass + " pass, " + s.fail + " fail, " + s.advisory +
      " advisory, " + s["not-applicable"] + " not applicable";
    document.getElementById("verify-journal").href = "/_emulator/ui/journal?tenant=" +
      encodeURIComponent(card.tenant) + "&kind=attempt";
    rows.querySelectorAll("tr.check").forEach(function (tr) { tr.remove(); });
    failures.textContent = "";
    for (const r of card.results) {
      rows.append(el("tr", { class: "check " + r.status, "data-check": r.id },
        el("td", { class: "mono" }, r.id), el("td", { class: "status" }, r.status),
        el("td", {}, r.evidence), el("td", {}, r.detail)));
      if (r.requests.length) {
        failures.append(el("div", { class: "verify-failure", "data-check": r.id },
          el("h3", {}, r.status.toUpperCase() + " " + r.id), ...r.requests.map(requestOf)));
      }
    }
    panel.hidden = false;
  }

  function verify() {
    const form = document.getElementById("verify-form");
    const status = document.getElementById("verify-status");
    const runs = document.getElementById("verify-runs");
    form.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const body = { vendor: form.vendor.value, url: form.url.value };
      if (form.tenant.value) body.tenant = form.tenant.value;
      if (form.probe.value) body.probe = form.probe.value;
      if (form.settle.value !== "") body.settle = Number(form.settle.value);
      say(status, "running the battery…", false);
      form.querySelector("button").disabled = true;
      const result = await C.api("POST", "/_emulator/verify-receiver", body);
      form.querySelector("button").disabled = false;
      if (!result.ok) {
        const d = result.data;
        say(status, "HTTP " + result.status + (d && d.message ? ": " + d.message : ""), true);
        return;
      }
      const card = result.data;
      say(status, card.summary.fail ? card.summary.fail + " check(s) failed" : "no check failed", card.summary.fail > 0);
      show(card);
      if (runs.querySelector(".muted")) runs.textContent = "";
      const item = el("li", { class: "verify-run" }, el("a", { href: "#" }, card.vendor + " " + card.url + " (" +
        card.tenant + "): " + card.summary.pass + " pass, " + card.summary.fail + " fail"));
      item.querySelector("a").addEventListener("click", function (e) {
        e.preventDefault();
        show(card);
      });
      runs.prepend(item);
    });
  }

  C.verify = verify;
})();
