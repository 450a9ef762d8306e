// cxemu dashboard client: written for cxemu, no third-party code. Exposes `window.cxemu`:
//   cxemu.api(method, path, body)   fetch a control-plane endpoint (adds X-Cxemu-UI: 1, shows the curl)
//   cxemu.live(query, onBatch, onGap) follow /_emulator/events in display mode (resumes after the last id)
//   cxemu.copy(text), cxemu.time(at), cxemu.el(tag, attrs, ...children)
"use strict";
(function () {
  const KINDS = ["request", "control", "event", "delivery", "attempt", "timer", "action"];
  const FLUSH_MS = 50; // the frames of one write reach the page as one batch
  const DISPLAY_LATEST = 100; // a live page gets at most the newest 100 entries...
  const DISPLAY_INTERVAL = 0.5; // ...every half second (the stream's display mode: the rest is announced skipped)
  const RETRY_MS = 1000;
  const body = document.body;
  const auth = body.dataset.auth === "1";
  const origin = window.location.origin;

  function shellQuote(s) {
    return "'" + String(s).replace(/'/g, "'\\''") + "'";
  }

  function curlOf(method, path, data, contentType) {
    const parts = ["curl", "-sS"];
    if (method !== "GET") parts.push("-X", method);
    if (auth) parts.push("-H", '"Authorization: Bearer $CXEMU_ADMIN_TOKEN"');
    if (data !== undefined && contentType) {
      parts.push("-H", shellQuote("Content-Type: " + contentType), "--data-binary", "@scenario.yaml");
    } else if (data !== undefined) {
      parts.push("-H", shellQuote("Content-Type: application/json"), "--data", shellQuote(JSON.stringify(data)));
    }
    parts.push(shellQuote(origin + path));
    return parts.join(" ");
  }

  function showCurl(text) {
    const pre = document.getElementById("curl");
    if (pre) {
      pre.textContent = text;
      pre.closest(".curl").hidden = false;
    }
  }

  // `data` goes as JSON, or as it is with `contentType` (a scenario's YAML text).
  async function api(method, path, data, contentType) {
    const init = { method: method, credentials: "same-origin", headers: { "X-Cxemu-UI": "1" } };
    if (data !== undefined && contentType) {
      init.headers["Content-Type"] = contentType;
      init.body = data;
    } else if (data !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(data);
    }
    showCurl(curlOf(method, path, data, contentType));
    const response = await fetch(path, init);
    const text = await response.text();
    let parsed = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch (e) {
      parsed = text;
    }
    return { status: response.status, ok: response.ok, data: parsed };
  }

  // Follow the unified journal in the stream's display mode (`latest`, `interval`: the server sends at most the
  // newest `latest` entries every `interval` seconds and says which it passed over), so a page stays live at any
  // load and costs the server next to nothing. `query`: filters (vendor, tenant, subject, kind, type), `after`,
  // and `latest` / `interval` to change the defaults. Callbacks:
  //   onBatch(entries, skipped)  entries (id order, each once) and the ranges passed over before them, each
  //                              {after, before, count}: `GET /_emulator/journal?after=&before=` lists them
  //   onGap(gap)                 the journal had already dropped entries ({after, lost, oldest}; `restarted`: ids
  //                              started again, the server restarted without a state file or a fleet's Redis
  //                              restarted empty, and `lost` is null)
  // Every reconnect (and `resume()` after `pause()`) starts after the last id received: nothing twice, and what
  // came meanwhile arrives as the newest entries plus one skipped range.
  function live(query, onBatch, onGap) {
    let last = query.after !== undefined && query.after !== null ? Number(query.after) : null;
    let pending = [];
    let skipped = [];
    let timer = null;
    let retry = null;
    let source = null;
    let closed = false;
    let paused = false;
    const status = document.getElementById("live-status");

    function mark(state) {
      if (status) {
        status.dataset.state = state;
        status.textContent = state;
      }
    }

    function flush() {
      timer = null;
      if (pending.length || skipped.length) {
        const batch = pending;
        const passed = skipped;
        pending = [];
        skipped = [];
        onBatch(batch, passed);
      }
    }

    function later() {
      if (timer === null) timer = window.setTimeout(flush, FLUSH_MS);
    }

    function receive(frame) {
      const entry = JSON.parse(frame.data);
      if (last !== null && entry.id <= last) return; // never twice, whatever a reconnect replays
      last = entry.id;
      pending.push(entry);
      later();
    }

    function open() {
      retry = null;
      const params = new URLSearchParams({ latest: String(DISPLAY_LATEST), interval: String(DISPLAY_INTERVAL) });
      for (const [k, v] of Object.entries(query)) {
        if (k !== "after" && v !== null && v !== undefined && v !== "") params.set(k, v);
      }
      if (last !== null) params.set("after", String(last));
      source = new EventSource("/_emulator/events?" + params.toString(), { withCredentials: true });
      for (const kind of KINDS) source.addEventListener(kind, receive);
      source.addEventListener("skipped", function (frame) {
        skipped.push(JSON.parse(frame.data));
        later();
      });
      source.addEventListener("gap", function (frame) {
        const gap = JSON.parse(frame.data);
        if (gap.restarted) last = 0; // ids started again (a restart without state, a fleet's empty Redis): take them
        if (onGap) onGap(gap);
      });
      source.onopen = function () {
        mark("live");
      };
      source.onerror = function () {
        // the browser would reconnect with the first URL's `after`: reopen ourselves after the last id instead
        source.close();
        source = null;
        if (closed || paused) return;
        mark("reconnecting");
        retry = window.setTimeout(open, RETRY_MS);
      };
    }

    function stop() {
      if (retry !== null) window.clearTimeout(retry);
      retry = null;
      if (source) source.close();
      source = null;
    }

    open();
    return {
      close: function () {
        closed = true;
        stop();
        mark("off");
      },
      pause: function () {
        paused = true;
        stop();
        flush();
        mark("paused");
      },
      resume: function () {
        if (!paused || closed) return;
        paused = false;
        open();
      },
    };
  }

  async function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return;
    }
    const area = el("textarea", {}, text);
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }

  function pad(n, w) {
    return String(n).padStart(w || 2, "0");
  }

  // An instant on a tenant's timeline (epoch seconds) as UTC `YYYY-MM-DD HH:MM:SS.mmm`.
  function time(at) {
    if (at === null || at === undefined) return "";
    const d = new Date(at * 1000);
    return (
      d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " +
      pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) + "." +
      pad(d.getUTCMilliseconds(), 3)
    );
  }

  function el(tag, attrs) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k.startsWith("data-")) node.setAttribute(k, v);
      else node[k] = v;
    }
    for (let i = 2; i < arguments.length; i++) {
      const child = arguments[i];
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  document.addEventListener("click", function (ev) {
    const button = ev.target.closest("[data-copy]");
    if (button) {
      copy(button.dataset.copy).then(function () {
        button.dataset.copied = "1";
        button.textContent = "copied";
      });
    }
  });

  document.querySelectorAll("time[data-at]").forEach(function (node) {
    node.textContent = time(Number(node.dataset.at));
  });

  window.cxemu = { api: api, live: live, copy: copy, time: time, el: el, curlOf: curlOf };
})();
