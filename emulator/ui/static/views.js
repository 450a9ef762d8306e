// The dashboard pages' scripts (written for cxemu, no third-party code): `cxemu.views.<page>(...)`, each
// called by its template. They read with GETs and act through `cxemu.api` (the control plane).
"use strict";
(function () {
  const C = window.cxemu;
  const el = C.el;
  const UI = "/_emulator/ui";
  const LANES = ["customer", "integration", "agent", "cxemu"];
  const MAX_ROWS = 500; // rows a live list keeps in the page ("load more" fetches older ones)
  const SKIPPED_PAGE = 500; // entries one "load them" fetches of a range the live stream passed over
  const POKE = { latest: 1, interval: 0.5 }; // pages that re-render from a GET need to know only that something moved

  function query(params) {
    const out = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (v !== null && v !== undefined && v !== "") out.set(k, v);
    }
    return out.toString();
  }

  function json(value) {
    return typeof value === "string" ? value : JSON.stringify(value, null, 2);
  }

  function say(node, text, bad) {
    node.textContent = text;
    node.classList.toggle("bad", Boolean(bad));
  }

  function problem(result) {
    const d = result.data;
    return "HTTP " + result.status + (d && d.message ? ": " + d.message : d && typeof d === "string" ? ": " + d : "");
  }

  // -- pages that re-render their #rows from a fresh GET when the journal moves --------------------------------

  function refresher(minGap) {
    let busy = false;
    let again = false;
    let last = 0;
    async function refresh() {
      const wait = last + minGap - Date.now();
      if (busy || wait > 0) {
        if (!again) {
          again = true;
          window.setTimeout(function () {
            again = false;
            refresh();
          }, Math.max(wait, 200));
        }
        return;
      }
      busy = true;
      last = Date.now();
      try {
        const response = await fetch(window.location.href, { credentials: "same-origin" });
        if (response.ok) {
          const doc = new DOMParser().parseFromString(await response.text(), "text/html");
          const fresh = doc.getElementById("rows");
          const here = document.getElementById("rows");
          if (fresh && here) {
            here.replaceWith(document.adoptNode(fresh));
            fresh.querySelectorAll("time[data-at]").forEach(function (t) {
              t.textContent = C.time(Number(t.dataset.at));
            });
            document.dispatchEvent(new CustomEvent("cxemu:refreshed"));
          }
        }
      } finally {
        busy = false;
      }
    }
    return refresh;
  }

  function refreshing(filters, minGap) {
    const refresh = refresher(minGap || 1000);
    C.live(Object.assign({}, POKE, filters), refresh);
    return refresh;
  }

  // -- tenants ------------------------------------------------------------------------------------------------

  function home() {
    const refresh = refreshing({ kind: "control,request" }, 2000);
    const form = document.getElementById("provision");
    form.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const out = document.getElementById("provision-result");
      const result = await C.api("POST", "/_emulator/tenants", { tenant: form.tenant.value });
      if (result.ok) {
        say(out, "provisioned " + result.data.tenant);
        window.location.reload();
      } else {
        say(out, problem(result), true);
      }
    });
    return refresh;
  }

  // -- one subject's timeline ---------------------------------------------------------------------------------

  function summaryOf(entry) {
    const d = entry.data || {};
    if (entry.kind === "attempt") {
      return entry.type + " → " + (d.status || d.error || d.chaos || "…") + " (" + (d.outcome || "") + ")";
    }
    if (entry.kind === "request" && d.status) return entry.type + " → " + d.status;
    if (entry.kind === "action" && d.text) return entry.type + ": " + d.text;
    return entry.type;
  }

  function card(entry) {
    const lane = LANES.includes(entry.party) ? entry.party : "cxemu";
    const node = el("details", { class: "entry", "data-id": String(entry.id), "data-party": lane });
    const summary = el("summary", {}, el("span", { class: "kind" }, entry.kind), " ", summaryOf(entry), " ",
      el("span", { class: "muted" }, "#" + entry.id));
    node.append(summary);
    if (entry.cause !== null && entry.cause !== undefined) {
      node.append(el("div", { class: "cause" }, "caused by #" + entry.cause));
    }
    const d = entry.data || {};
    if (d.delivery_id) {
      node.append(el("a", { href: UI + "/deliveries/" + encodeURIComponent(d.delivery_id) }, "delivery " + d.delivery_id));
    }
    if (d.headers) node.append(el("div", { class: "kind" }, "headers"), el("pre", {}, json(d.headers)));
    if (d.body !== undefined) node.append(el("div", { class: "kind" }, "body"), el("pre", {}, json(d.body)));
    node.append(el("div", { class: "kind" }, "entry"), el("pre", {}, json(entry)));
    return { lane: lane, node: node };
  }

  function timeline(root) {
    const filters = { vendor: root.dataset.vendor, tenant: root.dataset.tenant, subject: root.dataset.subject };
    const note = document.getElementById("timeline-note");
    const cards = new Map();
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", "arrows");
    root.append(svg);
    let newest = null;

    let skipped = []; // ranges the live stream passed over, not loaded yet
    let unordered = false;

    function add(entry) {
      if (cards.has(entry.id)) return;
      const made = card(entry);
      const row = [el("div", { class: "at mono" }, C.time(entry.at))];
      for (const lane of LANES) {
        row.push(el("div", { class: "cell lane-" + lane }, lane === made.lane ? made.node : null));
      }
      cards.set(entry.id, { entry: entry, node: made.node, row: row });
      root.append(...row);
      if (newest !== null && entry.id < newest) unordered = true;
      else newest = entry.id;
    }

    function order() {
      if (!unordered) return;
      unordered = false;
      const ids = Array.from(cards.keys()).sort(function (a, b) {
        return a - b;
      });
      for (const id of ids) root.append(...cards.get(id).row);
    }

    function offerSkipped() {
      say(note, "");
      const count = skipped.reduce(function (n, r) {
        return n + r.count;
      }, 0);
      if (!count) return;
      const button = el("button", { type: "button", class: "quiet load-skipped" }, "load them");
      note.append(el("span", { class: "skipped-count" }, count + " entries skipped to keep the page live — "), button);
      button.addEventListener("click", async function () {
        button.disabled = true;
        const ranges = skipped;
        skipped = [];
        for (const range of ranges) {
          let after = range.after;
          for (;;) {
            const result = await C.api("GET", "/_emulator/journal?" +
              query(Object.assign({}, filters, { after: after, before: range.before, limit: SKIPPED_PAGE })));
            if (!result.ok) {
              say(note, "the journal did not answer: " + problem(result), true);
              return;
            }
            result.data.entries.forEach(add);
            if (result.data.entries.length < SKIPPED_PAGE) break;
            after = result.data.entries[result.data.entries.length - 1].id;
          }
        }
        order();
        arrows();
        offerSkipped();
      });
    }

    function arrows() {
      const box = root.getBoundingClientRect();
      svg.setAttribute("width", String(root.scrollWidth));
      svg.setAttribute("height", String(root.scrollHeight));
      const lines = [];
      for (const { entry, node } of cards.values()) {
        const cause = entry.cause !== null ? cards.get(entry.cause) : undefined;
        if (!cause) continue;
        const a = cause.node.getBoundingClientRect();
        const b = node.getBoundingClientRect();
        const x1 = a.left - box.left + Math.min(a.width, 40);
        const y1 = a.bottom - box.top;
        const x2 = b.left - box.left + Math.min(b.width, 40);
        const y2 = b.top - box.top;
        lines.push('<path d="M' + x1 + " " + y1 + " C" + x1 + " " + (y1 + y2) / 2 + " " + x2 + " " + (y1 + y2) / 2 +
          " " + x2 + " " + y2 + '" marker-end="url(#head)"/>');
      }
      svg.innerHTML = '<defs><marker id="head" markerWidth="8" markerHeight="8" refX="6" refY="4" orient="auto">' +
        '<path d="M0,0 L8,4 L0,8 z"/></marker></defs>' + lines.join("");
    }

    function light(id) {
      root.querySelectorAll(".entry.lit").forEach(function (n) {
        n.classList.remove("lit");
      });
      const picked = cards.get(id);
      if (!picked) return;
      picked.node.classList.add("lit");
      const cause = picked.entry.cause !== null ? cards.get(picked.entry.cause) : undefined;
      if (cause) cause.node.classList.add("lit");
    }

    root.addEventListener("toggle", function (ev) {
      if (ev.target.classList && ev.target.classList.contains("entry")) {
        if (ev.target.open) light(Number(ev.target.dataset.id));
        arrows();
      }
    }, true);
    window.addEventListener("resize", arrows);

    C.api("GET", "/_emulator/journal?" + query(Object.assign({ limit: 1000 }, filters))).then(function (result) {
      if (!result.ok) {
        say(note, "the journal did not answer: " + problem(result), true);
        return;
      }
      result.data.entries.forEach(add);
      if (!result.data.entries.length) say(note, "Nothing in the journal for it yet; new entries appear here live.");
      arrows();
      const header = refresher(1000); // the subject's state and facts, rendered by the server
      C.live(Object.assign({ after: newest === null ? (result.data.newest || 0) : newest }, filters), function (batch, passed) {
        batch.forEach(add);
        header();
        skipped = skipped.concat(passed);
        offerSkipped();
        arrows();
      }, function (gap) {
        say(note, gap.restarted ? "cxemu restarted since: its journal started again (new ids)"
          : "the journal had already dropped " + (gap.lost || gap.count || "some") + " entries", true);
      });
    });
  }

  // -- the live journal -----------------------------------------------------------------------------------------

  function journal(table) {
    const filters = JSON.parse(table.dataset.filters);
    const body = table.tBodies[0];
    const more = document.getElementById("journal-more");
    const note = document.getElementById("journal-note");
    const pause = document.getElementById("journal-pause");
    let oldest = null;

    function row(entry) {
      const link = entry.subject && entry.vendor && entry.tenant
        ? el("a", { href: UI + "/timeline/" + entry.vendor + "/" + encodeURIComponent(entry.tenant) + "/" +
          encodeURIComponent(entry.subject) }, entry.subject)
        : entry.subject || "";
      const tr = el("tr", { class: "entry-row", "data-id": String(entry.id), "data-kind": entry.kind },
        el("td", { class: "mono" }, entry.id), el("td", { class: "mono" }, C.time(entry.at)),
        el("td", {}, el("span", { class: "kind" }, entry.kind)), el("td", {}, summaryOf(entry)),
        el("td", {}, entry.vendor || ""), el("td", {}, entry.tenant || ""), el("td", { class: "mono" }, link),
        el("td", {}, entry.party || ""), el("td", { class: "mono" }, entry.cause === null ? "" : "#" + entry.cause));
      tr.addEventListener("click", function (ev) {
        if (ev.target.tagName === "A") return;
        const next = tr.nextElementSibling;
        if (next && next.classList.contains("detail")) {
          next.remove();
        } else {
          tr.after(el("tr", { class: "detail" }, el("td", { colSpan: 9 }, el("pre", {}, json(entry)))));
        }
      });
      return tr;
    }

    function shown(id) {
      return body.querySelector('tr.entry-row[data-id="' + id + '"]') !== null;
    }

    function lastShown() {
      const rows = body.querySelectorAll("tr.entry-row");
      return rows.length ? Number(rows[rows.length - 1].dataset.id) : null;
    }

    // a range the live stream passed over: a row where its entries belong, with a button that loads them
    function skippedRow(range) {
      const button = el("button", { type: "button", class: "quiet load-skipped" }, "load them");
      const tr = el("tr", { class: "skipped", "data-after": String(range.after), "data-before": String(range.before),
        "data-count": String(range.count) }, el("td", { colSpan: 9 }, "⋯ ", el("span", { class: "skipped-count" }), " ", button));
      label(tr);
      button.addEventListener("click", function () {
        loadSkipped(tr, button);
      });
      return tr;
    }

    function label(tr) {
      tr.querySelector(".skipped-count").textContent = tr.dataset.count + " entries skipped to keep the page live —";
    }

    // the oldest SKIPPED_PAGE of the range go below its row; the row keeps what is left (or goes)
    async function loadSkipped(tr, button) {
      button.disabled = true;
      const params = Object.assign({}, filters, { after: tr.dataset.after, before: tr.dataset.before, limit: SKIPPED_PAGE });
      const result = await C.api("GET", "/_emulator/journal?" + query(params));
      if (!result.ok) {
        say(note, "the journal did not answer: " + problem(result), true);
        button.disabled = false;
        return;
      }
      const entries = result.data.entries;
      const rows = document.createDocumentFragment();
      for (let i = entries.length - 1; i >= 0; i--) {
        if (!shown(entries[i].id)) rows.append(row(entries[i]));
      }
      tr.after(rows);
      const left = Number(tr.dataset.count) - entries.length;
      if (left > 0 && entries.length === SKIPPED_PAGE) {
        tr.dataset.after = String(entries[entries.length - 1].id);
        tr.dataset.count = String(left);
        label(tr);
        button.disabled = false;
      } else {
        if (left > 0) say(note, left + " of the skipped entries were no longer in the journal", true);
        tr.remove();
      }
    }

    async function older() {
      const params = Object.assign({ limit: 100 }, filters);
      if (oldest !== null) params.before = oldest;
      const result = await C.api("GET", "/_emulator/journal?" + query(params));
      if (!result.ok) {
        say(note, "the journal did not answer: " + problem(result), true);
        return null;
      }
      const entries = result.data.entries;
      for (let i = entries.length - 1; i >= 0; i--) body.append(row(entries[i]));
      if (entries.length) oldest = entries[0].id;
      more.hidden = entries.length < 100;
      return result.data;
    }

    more.addEventListener("click", older);
    older().then(function (first) {
      if (first === null) return;
      const after = first.entries.length ? first.entries[first.entries.length - 1].id : first.newest || 0;
      const stream = C.live(Object.assign({ after: after }, filters), function (batch, passed) {
        // newest first: the entries and, below the ones they came with, the ranges passed over
        const items = batch.map(function (e) {
          return { key: e.id, node: row(e) };
        }).concat(passed.map(function (r) {
          return { key: r.before - 0.5, node: skippedRow(r) };
        }));
        items.sort(function (a, b) {
          return b.key - a.key;
        });
        const rows = document.createDocumentFragment();
        for (const item of items) {
          item.node.classList.add("fresh");
          rows.append(item.node);
        }
        body.prepend(rows);
        if (body.rows.length > MAX_ROWS) {
          while (body.rows.length > MAX_ROWS) body.deleteRow(body.rows.length - 1);
          oldest = lastShown();
          more.hidden = false;
        }
      }, function (gap) {
        say(note, gap.restarted ? "cxemu restarted since: its journal started again (new ids)"
          : "the journal had already dropped " + (gap.lost || gap.count || "some") + " entries", true);
      });
      pause.hidden = false;
      pause.addEventListener("click", function () {
        const pausing = pause.textContent === "pause";
        if (pausing) stream.pause();
        else stream.resume();
        pause.textContent = pausing ? "resume" : "pause";
      });
    });
  }

  // -- one delivery -------------------------------------------------------------------------------------------

  function signature(panel) {
    const id = panel.dataset.delivery;
    const out = panel.querySelector(".body");
    C.api("GET", "/_emulator/deliveries/" + encodeURIComponent(id) + "/signature").then(function (result) {
      out.textContent = "";
      if (!result.ok) {
        out.append(el("span", { class: "muted" }, "no signature view: " + problem(result)));
        return;
      }
      const s = result.data;
      const verdict = s.verified === true ? ["ok", "cxemu's own check passes"]
        : s.verified === false ? ["bad", "cxemu's own check FAILS"] : ["", "not signed / nothing sent yet"];
      out.append(
        el("p", {}, el("strong", {}, s.scheme || ""), " ", el("span", { class: "badge verified " + verdict[0] }, verdict[1])),
        s.detail ? el("p", { class: "muted" }, s.detail) : null,
        el("div", { class: "kind" }, "headers"), el("pre", {}, json(s.headers || {})),
        el("div", { class: "kind" }, "signed string"), el("pre", { class: "signed" }, s.signed === undefined ? "" : json(s.signed)),
        el("div", { class: "kind" }, "verify with"), el("pre", {}, json(s.key || {})),
      );
    });
  }

  function delivery(filters) {
    const panel = document.getElementById("redeliver");
    const id = panel.dataset.delivery;
    const out = document.getElementById("redeliver-result");
    const refresh = refreshing(Object.assign({ kind: "delivery,attempt" }, filters));
    signature(document.getElementById("signature"));

    async function send(body) {
      const result = await C.api("POST", "/_emulator/deliveries/" + encodeURIComponent(id) + "/redeliver", body);
      out.textContent = "";
      if (result.status === 202) {
        out.append(el("p", {}, "queued as ", el("a", { class: "new-delivery", href: UI + "/deliveries/" +
          encodeURIComponent(result.data.id) }, result.data.id), " (its attempts appear below)"));
        refresh();
      } else {
        out.append(el("p", { class: "notice bad" }, problem(result)));
      }
    }

    panel.querySelectorAll("button[data-mode]").forEach(function (button) {
      button.addEventListener("click", function () {
        send({ mode: button.dataset.mode });
      });
    });
    document.getElementById("redeliver-to").addEventListener("submit", function (ev) {
      ev.preventDefault();
      send({ mode: "re_sign", url: ev.target.url.value });
    });
  }

  // -- the clock ----------------------------------------------------------------------------------------------

  function clock(filters) {
    const refresh = refreshing({ tenant: filters.tenant }, 1000);
    const form = document.getElementById("clock-controls");
    if (!form) return;
    const out = document.getElementById("clock-result");
    const where = form.dataset.tenant ? "?tenant=" + encodeURIComponent(form.dataset.tenant) : "";

    async function step(path, body) {
      const result = await C.api("POST", "/_emulator/clock/" + path + where, body);
      if (result.ok) {
        say(out, "now " + result.data.iso + ", " + result.data.timers_run + " timers run");
        refresh();
      } else {
        say(out, problem(result), true);
      }
    }

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      step("advance", { seconds: Number(form.seconds.value) });
    });
    document.getElementById("run-idle").addEventListener("click", function () {
      step("run-until-idle", {});
    });
  }

  // -- chaos --------------------------------------------------------------------------------------------------

  function chaosTable(value) {
    if (value === null || typeof value !== "object") return el("span", {}, String(value));
    const table = el("table", { class: "kv" });
    for (const [k, v] of Object.entries(value)) {
      const cell = v !== null && typeof v === "object" ? el("pre", {}, json(v)) : String(v);
      table.append(el("tr", {}, el("td", { class: "mono" }, k), el("td", {}, cell)));
    }
    return table;
  }

  function chaos() {
    const now = document.getElementById("chaos-now");
    const form = document.getElementById("chaos-form");
    const out = document.getElementById("chaos-result");

    async function clear(tenant) {
      const result = tenant
        ? await C.api("DELETE", "/_emulator/chaos?tenant=" + encodeURIComponent(tenant))
        : await C.api("PUT", "/_emulator/chaos", {});
      say(out, result.ok ? "cleared" + (tenant ? " for " + tenant : "") : problem(result), !result.ok);
      show();
    }

    function tenantRows(tenants) {
      const names = Object.keys(tenants);
      if (!names.length) return el("p", { class: "muted" }, "No tenant has faults of its own.");
      const table = el("table", { id: "chaos-tenants" },
        el("tr", {}, el("th", {}, "tenant"), el("th", {}, "faults"), el("th", {}, "expires"), el("th", {}, "")));
      for (const name of names) {
        const config = Object.assign({}, tenants[name]);
        const expires = config.expires_at;
        delete config.expires_at;
        const button = el("button", { type: "button", class: "quiet" }, "clear");
        button.addEventListener("click", function () {
          clear(name);
        });
        table.append(el("tr", { class: "tenant-chaos", "data-tenant": name }, el("td", {}, name),
          el("td", {}, chaosTable(config)), el("td", { class: "mono" }, expires ? C.time(expires) : "never"),
          el("td", {}, button)));
      }
      return table;
    }

    async function show() {
      const result = await C.api("GET", "/_emulator/chaos");
      now.textContent = "";
      if (!result.ok) {
        now.append(el("span", { class: "bad" }, problem(result)));
        return;
      }
      const global = Object.assign({}, result.data);
      const tenants = global.tenants || {};
      delete global.tenants;
      now.append(el("h3", {}, "Every tenant"), chaosTable(global), el("h3", {}, "Per tenant"), tenantRows(tenants));
    }

    form.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const body = {};
      for (const input of form.querySelectorAll("input[type=number]")) {
        if (input.value !== "") body[input.name] = Number(input.value);
      }
      const tenant = form.tenant.value;
      if (!tenant) delete body.expires_in;
      const path = "/_emulator/chaos" + (tenant ? "?tenant=" + encodeURIComponent(tenant) : "");
      const result = await C.api("PUT", path, body);
      say(out, result.ok ? "set" + (tenant ? " for " + tenant : " for every tenant") : problem(result), !result.ok);
      show();
    });
    document.getElementById("chaos-clear").addEventListener("click", function () {
      clear(form.tenant.value);
    });
    show();
    C.live(Object.assign({ kind: "control" }, POKE), show);
  }

  // -- scenarios ----------------------------------------------------------------------------------------------

  function scenarios() {
    refreshing({ kind: "control" }, 1000);
    const form = document.getElementById("scenario-form");
    const text = document.getElementById("scenario-text");
    const out = document.getElementById("scenario-result");
    document.getElementById("scenario-file").addEventListener("change", async function (ev) {
      const file = ev.target.files[0];
      if (file) text.value = await file.text();
    });
    form.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const params = query({ tenant: form.tenant.value, webhook_url: form.webhook_url.value });
      const result = await C.api("POST", "/_emulator/scenarios" + (params ? "?" + params : ""), text.value,
        "application/yaml");
      if (result.status === 201) {
        window.location.href = UI + "/scenarios/" + encodeURIComponent(result.data.id);
      } else {
        say(out, problem(result), true);
      }
    });
  }

  function scenario(filters) {
    const refresh = refreshing(filters, 1000);
    // its steps also finish on waits that log nothing: look again every second while it runs
    const timer = window.setInterval(function () {
      const rows = document.getElementById("rows");
      if (rows.dataset.status !== "running") {
        window.clearInterval(timer);
        return;
      }
      refresh();
    }, 1000);
  }

  C.views = {
    home: home,
    refreshing: refreshing,
    timeline: timeline,
    journal: journal,
    delivery: delivery,
    clock: clock,
    chaos: chaos,
    scenarios: scenarios,
    scenario: scenario,
  };
})();
