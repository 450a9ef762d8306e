// cxemu dashboard client: written for cxemu, no third-party code. Exposes `window.cxemu`:
//   cxemu.api(method, path, body)   fetch a control-plane endpoint (adds X-Cxemu-UI: 1, shows the curl)
//   cxemu.live(query, onBatch)       follow /_emulator/events (batched, resumes with Last-Event-ID)
//   cxemu.copy(text), cxemu.time(at), cxemu.el(tag, attrs, ...children)
"use strict";
(function () {
  const KINDS = ["request", "control", "event", "delivery", "attempt", "timer", "action"];
  const FLUSH_MS = 350; // at most ~3 DOM updates per second per view
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

  // Follow the unified journal. `query` is an object of filters (vendor, tenant, subject, kind, after).
  // `onBatch(entries)` is called at most every FLUSH_MS with what arrived since; `onGap(n)` when the journal
  // had already dropped entries the stream could not replay. Reconnects resume after the last id seen.
  function live(query, onBatch, onGap) {
    let last = query.after !== undefined ? String(query.after) : null;
    let pending = [];
    let timer = null;
    let source = null;
    let closed = false;
    const status = document.getElementById("live-status");

    function mark(state) {
      if (status) {
        status.dataset.state = state;
        status.textContent = state;
      }
    }

    function flush() {
      timer = null;
      if (pending.length) {
        const batch = pending;
        pending = [];
        onBatch(batch);
      }
    }

    function receive(frame) {
      if (frame.lastEventId) last = frame.lastEventId;
      pending.push(JSON.parse(frame.data));
      if (timer === null) timer = window.setTimeout(flush, FLUSH_MS);
    }

    function open() {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) {
        if (k !== "after" && v !== null && v !== undefined && v !== "") params.set(k, v);
      }
      if (last !== null) params.set("after", last);
      source = new EventSource("/_emulator/events?" + params.toString(), { withCredentials: true });
      for (const kind of KINDS) source.addEventListener(kind, receive);
      source.addEventListener("gap", function (frame) {
        if (frame.lastEventId) last = frame.lastEventId;
        if (onGap) onGap(JSON.parse(frame.data));
      });
      source.onopen = function () {
        mark("live");
      };
      source.onerror = function () {
        if (closed) return;
        mark("reconnecting");
        if (source.readyState === EventSource.CLOSED) {
          // the server refused (503: too many streams): try again later, resuming after the last id
          window.setTimeout(function () {
            if (!closed) open();
          }, 2000);
        }
      };
    }

    open();
    return {
      close: function () {
        closed = true;
        if (source) source.close();
        mark("off");
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
