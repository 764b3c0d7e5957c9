// The chat view: streams /v1/chat/completions (SSE) and keeps the conversation's history.
"use strict";
const log = document.getElementById("log"), input = document.getElementById("input");
const send = document.getElementById("send"), statusEl = document.getElementById("status");
let history = [], model = null;

function bubble(role, text) {
  const div = document.createElement("div");
  div.className = "msg " + role;
  div.textContent = text;
  log.appendChild(div);
  log.scrollTop = log.scrollHeight;
  return div;
}

async function loadModels() {
  try {
    const r = await fetch("/v1/models");
    const body = await r.json();
    if (!r.ok) throw new Error(body.error ? body.error.message : r.statusText);
    model = body.data.length ? body.data[0].id : null;
    statusEl.textContent = model ? "model: " + model : "no model";
  } catch (e) { statusEl.textContent = "engine unavailable: " + e.message; }
}

async function ask(text) {
  history.push({role: "user", content: text});
  bubble("user", text);
  const out = bubble("assistant", "…");
  send.disabled = true;
  let reply = "";
  try {
    const r = await fetch("/v1/chat/completions", {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({model: model, messages: history, stream: true}),
    });
    if (!r.ok) {
      const body = await r.json().catch(() => ({}));
      throw new Error(body.error ? body.error.message : r.status + " " + r.statusText);
    }
    const reader = r.body.getReader(), decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, {stream: true});
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
        if (!event.startsWith("data:")) continue;
        const data = event.slice(5).trim();
        if (data === "[DONE]") continue;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        for (const c of chunk.choices || []) reply += (c.delta && c.delta.content) || "";
        out.textContent = reply;
        log.scrollTop = log.scrollHeight;
      }
    }
    history.push({role: "assistant", content: reply});
  } catch (e) {
    history.pop();
    out.className = "msg error";
    out.textContent = "Error: " + e.message;
  } finally { send.disabled = false; input.focus(); }
}

document.getElementById("form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = input.value.trim();
  if (text && !send.disabled) { input.value = ""; ask(text); }
});
input.addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); document.getElementById("form").requestSubmit(); }
});
document.getElementById("reset").addEventListener("click", () => { history = []; log.textContent = ""; });
loadModels();
