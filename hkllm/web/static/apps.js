// The apps menu: every app GET /v1/apps lists, each with a form built from its input JSON schema;
// running one POSTs that input to /v1/apps/<id> and shows the output's fields (apiFetch: api.js).
"use strict";
(() => {
  const list = document.getElementById("apps"), appsStatus = document.getElementById("apps-status");
  const chatView = document.getElementById("chat-view"), appView = document.getElementById("app-view");
  const form = document.getElementById("app-form"), output = document.getElementById("app-output");
  const chatEntry = document.getElementById("open-chat");
  let current = null;  // the app shown, as /v1/apps describes it

  function el(tag, props = {}, children = []) {
    const node = Object.assign(document.createElement(tag), props);
    for (const child of children) node.append(child);
    return node;
  }

  function select(entry) {
    for (const other of document.querySelectorAll("#menu .entry")) other.removeAttribute("aria-current");
    entry.setAttribute("aria-current", "page");
  }

  // The schema of one property, with Optional[...] (anyOf [X, null]) unwrapped.
  function plain(schema) {
    if (schema.anyOf) {
      const notNull = schema.anyOf.filter((s) => s.type !== "null");
      if (notNull.length === 1) return Object.assign({}, notNull[0], {default: schema.default, title: schema.title,
                                                                    description: schema.description});
    }
    return schema;
  }

  // One form control for a property: text area, number, check box, choice list, or raw JSON.
  function control(name, schema, required) {
    const s = plain(schema), id = "app-field-" + name;
    const hint = [s.description, required ? "" : "optional"].filter(Boolean).join(" · ");
    const caption = [document.createTextNode(s.title || name)];
    if (hint) caption.push(el("small", {textContent: hint}));
    let field, kind;
    if (s.type === "boolean") {
      field = el("input", {type: "checkbox", id, checked: s.default === true});
      kind = "boolean";
      return {name, kind, field, node: el("label", {className: "check", htmlFor: id}, [field, ...caption])};
    }
    if (s.enum) {
      field = el("select", {id, required}, s.enum.map((v) => el("option", {value: JSON.stringify(v), textContent: String(v)})));
      if (s.default !== undefined) field.value = JSON.stringify(s.default);
      kind = "enum";
    } else if (s.type === "integer" || s.type === "number") {
      field = el("input", {type: "number", id, required, step: s.type === "integer" ? "1" : "any"});
      if (s.minimum !== undefined) field.min = s.minimum;
      if (s.maximum !== undefined) field.max = s.maximum;
      if (s.default !== undefined && s.default !== null) field.value = s.default;
      kind = "number";
    } else if (s.type === "string") {
      field = el("textarea", {id, rows: 3, required: required && !(s.minLength === 0)});
      if (s.maxLength) field.maxLength = s.maxLength;
      if (typeof s.default === "string") field.value = s.default;
      kind = "string";
    } else {
      field = el("textarea", {id, rows: 3, placeholder: "JSON", required});
      if (s.default !== undefined) field.value = JSON.stringify(s.default);
      kind = "json";
    }
    return {name, kind, field, node: el("label", {htmlFor: id}, [...caption, field])};
  }

  function collect(controls) {
    const body = {};
    for (const {name, kind, field} of controls) {
      if (kind === "boolean") { body[name] = field.checked; continue; }
      if (field.value === "" && !field.required) continue;
      if (kind === "number") body[name] = Number(field.value);
      else if (kind === "enum") body[name] = JSON.parse(field.value);
      else if (kind === "json") {
        try { body[name] = JSON.parse(field.value); } catch (e) { throw new Error(name + ": not valid JSON"); }
      } else body[name] = field.value;
    }
    return body;
  }

  function show(result, schema) {
    output.textContent = "";
    const props = (schema && schema.properties) || {};
    for (const [name, value] of Object.entries(result)) {
      const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
      output.append(el("div", {className: "field"}, [
        el("h3", {textContent: (props[name] && props[name].title) || name}),
        el("div", {className: "value", textContent: text}),
      ]));
    }
  }

  function open(app, entry) {
    current = app;
    select(entry);
    chatView.hidden = true;
    appView.hidden = false;
    appView.dataset.appId = app.id;
    document.getElementById("app-title").textContent = app.title;
    document.getElementById("app-description").textContent = app.description;
    output.textContent = "";
    form.textContent = "";
    const schema = app.input_schema || {}, required = new Set(schema.required || []);
    const controls = Object.entries(schema.properties || {}).map(([n, s]) => control(n, s, required.has(n)));
    for (const c of controls) form.append(c.node);
    const run = el("button", {type: "submit", id: "app-run", textContent: "Run 執行"});
    form.append(run);
    form.onsubmit = async (ev) => {
      ev.preventDefault();
      run.disabled = true;
      output.textContent = "…";
      try {
        const r = await apiFetch("/v1/apps/" + encodeURIComponent(app.id), {
          method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(collect(controls)),
        });
        const body = await r.json().catch(() => ({}));
        if (!r.ok) throw new Error(body.error ? body.error.message : r.status + " " + r.statusText);
        if (current === app) show(body, app.output_schema);
      } catch (e) {
        output.textContent = "";
        output.append(el("div", {className: "msg error", textContent: "Error: " + e.message}));
      } finally { run.disabled = false; }
    };
    if (controls.length) controls[0].field.focus();
  }

  chatEntry.addEventListener("click", () => {
    current = null;
    select(chatEntry);
    appView.hidden = true;
    chatView.hidden = false;
    document.getElementById("input").focus();
  });

  async function loadApps() {
    try {
      const r = await apiFetch("/v1/apps");
      const body = await r.json();
      if (!r.ok) throw new Error(body.error ? body.error.message : r.statusText);
      list.textContent = "";
      for (const app of body.data) {
        const entry = el("button", {type: "button", className: "entry", title: app.description},
                         [app.title, el("small", {textContent: app.id})]);
        entry.dataset.appId = app.id;
        entry.addEventListener("click", () => open(app, entry));
        list.append(el("li", {className: "app"}, [entry]));
      }
      appsStatus.textContent = body.data.length ? "" : "no apps installed";
      appsStatus.hidden = body.data.length > 0;
    } catch (e) { appsStatus.textContent = "apps unavailable: " + e.message; }
  }

  window.addEventListener("hkllm:key-changed", loadApps);
  loadApps();
})();
