// cxemu act-as consoles: written for cxemu, no third-party code. Uses live.js (`window.cxemu`).
//
// A console is `#console[data-vendor][data-tenant]` with action forms and a `#state` part that is fetched again
// (`?part=state`) after every action and on every batch of the tenant's journal stream.
//   <form data-path="/…/conversations/{subject}/agent" data-method="POST" [data-body='{…}'] [data-headers='{…}']>
//   inputs with a `name` go into the JSON body (`a.b` nests, `data-type="int"` or `"json"` converts, empty ones
//   are left out; `data-param` ones only fill the path); a submit button's `name=value` is added, and its
//   `data-fields` (comma-separated names) keeps only those inputs; its `data-body` is merged in. `{name}` in the
//   path is taken from the form's inputs, else from the picked item (`[data-pick][data-id]` in the state part
//   sets `#pick-<pick>`). A form with `data-headers` calls the vendor API (its curl shows those headers).
"use strict";
(function () {
  const root = document.getElementById("console");
  if (!root || !window.cxemu) return;
  const state = document.getElementById("state");
  const result = document.getElementById("result");
  const picked = {};

  function setPath(obj, path, value) {
    const keys = path.split(".");
    let node = obj;
    for (const key of keys.slice(0, -1)) {
      if (typeof node[key] !== "object" || node[key] === null) node[key] = {};
      node = node[key];
    }
    node[keys[keys.length - 1]] = value;
  }

  function convert(input) {
    const type = input.dataset.type;
    if (type === "int") return Number.parseInt(input.value, 10);
    if (type === "json") return JSON.parse(input.value);
    return input.value;
  }

  function fields(form, submitter) {
    const only = submitter && submitter.dataset.fields !== undefined
      ? submitter.dataset.fields.split(",").filter(Boolean)
      : null;
    const body = Object.assign({}, JSON.parse(form.dataset.body || "{}"), JSON.parse((submitter && submitter.dataset.body) || "{}"));
    const params = {};
    for (const input of form.querySelectorAll("input[name], select[name], textarea[name]")) {
      if (input.value === "") continue;
      params[input.name] = input.value;
      if (input.dataset.param !== undefined) continue;
      if (only !== null && !only.includes(input.name)) continue;
      setPath(body, input.name, convert(input));
    }
    if (submitter && submitter.name) body[submitter.name] = submitter.value;
    return { body: body, params: params };
  }

  function fillPath(template, params) {
    return template.replace(/\{(\w+)\}/g, function (whole, name) {
      const value = params[name] !== undefined ? params[name] : picked[name];
      if (value === undefined || value === "") throw new Error("pick a " + name + " first");
      return encodeURIComponent(value);
    });
  }

  function shellQuote(s) {
    return "'" + String(s).replace(/'/g, "'\\''") + "'";
  }

  // A vendor API call: the tenant's own credentials as headers, shown in the curl.
  async function vendorApi(method, path, headers, data) {
    const parts = ["curl", "-sS", "-X", method];
    for (const [k, v] of Object.entries(headers)) parts.push("-H", shellQuote(k + ": " + v));
    const init = { method: method, credentials: "same-origin", headers: Object.assign({}, headers) };
    if (data !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(data);
      parts.push("-H", shellQuote("Content-Type: application/json"), "--data", shellQuote(init.body));
    }
    parts.push(shellQuote(window.location.origin + path));
    const pre = document.getElementById("curl");
    if (pre) {
      pre.textContent = parts.join(" ");
      pre.closest(".curl").hidden = false;
    }
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

  function show(status, ok, data) {
    result.dataset.status = String(status);
    result.className = ok ? "ok" : "bad";
    result.textContent = status + " " + (typeof data === "string" ? data : JSON.stringify(data, null, 2));
  }

  async function submit(form, submitter) {
    let call;
    try {
      const { body, params } = fields(form, submitter);
      const path = fillPath(form.dataset.path, params);
      const method = (form.dataset.method || "POST").toUpperCase();
      const data = Object.keys(body).length || form.dataset.alwaysBody !== undefined ? body : undefined;
      call = form.dataset.headers
        ? vendorApi(method, path, JSON.parse(form.dataset.headers), data)
        : window.cxemu.api(method, path, data);
    } catch (e) {
      show("not sent", false, e.message);
      return;
    }
    const answer = await call;
    show(answer.status, answer.ok, answer.data);
    const created = answer.data && (answer.data.conversationId || answer.data.call_id);
    if (answer.ok && created && form.dataset.picks) pick(form.dataset.picks, String(created));
    await refresh();
  }

  function mark() {
    for (const node of state.querySelectorAll("[data-pick]")) {
      node.classList.toggle("picked", picked[node.dataset.pick] === node.dataset.id);
    }
    for (const [name, value] of Object.entries(picked)) {
      const out = document.getElementById("pick-" + name);
      if (out) out.textContent = value;
    }
  }

  function pick(name, id) {
    picked[name] = id;
    mark();
  }

  let refreshing = null;
  let again = false;

  async function refresh() {
    if (refreshing) {
      again = true;
      return refreshing;
    }
    refreshing = (async function () {
      do {
        again = false;
        const response = await fetch(window.location.pathname + "?part=state", { credentials: "same-origin" });
        if (response.ok) {
          state.innerHTML = await response.text();
          autoPick();
          mark();
          state.dataset.refreshed = String(Number(state.dataset.refreshed || "0") + 1);
        }
      } while (again);
    })();
    try {
      await refreshing;
    } finally {
      refreshing = null;
    }
  }

  // With nothing picked yet, pick the newest item of each kind.
  function autoPick() {
    for (const node of state.querySelectorAll("[data-pick][data-newest]")) {
      const name = node.dataset.pick;
      const known = state.querySelector('[data-pick="' + name + '"][data-id="' + (picked[name] || "") + '"]');
      if (!known) picked[name] = node.dataset.id;
    }
  }

  root.addEventListener("submit", function (ev) {
    const form = ev.target.closest("form[data-path]");
    if (!form) return;
    ev.preventDefault();
    submit(form, ev.submitter);
  });

  state.addEventListener("click", function (ev) {
    const node = ev.target.closest("[data-pick]");
    if (node) pick(node.dataset.pick, node.dataset.id);
  });

  const refreshButton = document.getElementById("refresh");
  if (refreshButton) refreshButton.addEventListener("click", refresh);

  autoPick();
  mark();
  window.cxemu.live({ vendor: root.dataset.vendor, tenant: root.dataset.tenant, latest: 1, interval: 0.5 }, refresh);
})();
