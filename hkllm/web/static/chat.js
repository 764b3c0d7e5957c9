// The chat view: streams /v1/chat/completions (SSE) and keeps the conversation's history. Replies are rendered
// as markdown (marked), sanitised (DOMPurify) before they reach the page; Stop and New abort the stream.
"use strict";
const log = document.getElementById("log"), input = document.getElementById("input");
const send = document.getElementById("send"), stop = document.getElementById("stop");
const statusEl = document.getElementById("status"), chatForm = document.getElementById("form");
let history = [], model = null;
let streaming = null;  // {controller, conversation} while a reply streams
let conversation = 0;  // bumped by New: a reply of an older conversation never touches the new history

// Markdown → sanitised HTML. Nothing that loads from the network or runs code survives: no scripts, event
// handlers, styles, forms, images or media (an image URL could carry the conversation away).
const SANITISE = {USE_PROFILES: {html: true}, FORBID_TAGS: ["img", "style", "form", "input", "button", "textarea",
  "select", "video", "audio", "source", "picture", "track", "iframe", "object", "embed"]};
if (window.DOMPurify) {
  DOMPurify.addHook("afterSanitizeAttributes", (node) => {
    if (node.tagName === "A") { node.setAttribute("target", "_blank"); node.setAttribute("rel", "noopener noreferrer"); }
  });
}

function renderMarkdown(node, text) {
  if (window.marked && window.DOMPurify) {
    node.innerHTML = DOMPurify.sanitize(marked.parse(text, {gfm: true, breaks: true}).trim(), SANITISE);
    node.classList.add("markdown");
  } else node.textContent = text;  // the libraries failed to load: plain text is still safe
}

function bubble(role, text) {
  const turn = document.createElement("div");
  turn.className = "turn " + role;
  const div = document.createElement("div");
  div.className = "msg " + role;
  div.textContent = text;
  turn.appendChild(div);
  log.appendChild(turn);
  log.scrollTop = log.scrollHeight;
  return div;
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try { await navigator.clipboard.writeText(text); return true; } catch (e) { /* fall back below */ }
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed"; area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  let ok = false;
  try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
  area.remove();
  return ok;
}

// A Copy button under an assistant message; it copies the reply's markdown source.
function addCopyButton(out, text) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "copy";
  button.textContent = "Copy 複製";
  button.addEventListener("click", async () => {
    button.textContent = (await copyText(text)) ? "Copied 已複製" : "Copy failed";
    setTimeout(() => { button.textContent = "Copy 複製"; }, 1500);
  });
  out.parentNode.appendChild(button);
}

async function loadModels() {
  try {
    const r = await apiFetch("/v1/models");
    const body = await r.json();
    if (!r.ok) throw new Error(body.error ? body.error.message : r.statusText);
    model = body.data.length ? body.data[0].id : null;
    statusEl.textContent = model ? "model: " + model : "no model";
  } catch (e) { statusEl.textContent = "engine unavailable: " + e.message; }
}

function setStreaming(state) {
  streaming = state;
  send.hidden = state !== null;
  stop.hidden = state === null;
}

// Reads the SSE stream, calling onText with the reply so far; returns the whole reply.
async function readReply(response, onText) {
  const reader = response.body.getReader(), decoder = new TextDecoder();
  let buffer = "", reply = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return reply;
    buffer += decoder.decode(value, {stream: true});
    let cut, changed = false;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
      if (!event.startsWith("data:")) continue;
      const data = event.slice(5).trim();
      if (data === "[DONE]") continue;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new Error(chunk.error.message);
      for (const c of chunk.choices || []) {
        const piece = (c.delta && c.delta.content) || "";
        if (piece) { reply += piece; changed = true; }
      }
    }
    if (changed) onText(reply);
  }
}

async function ask(text) {
  const mine = conversation, controller = new AbortController();
  history.push({role: "user", content: text});
  bubble("user", text);
  const out = bubble("assistant", "…");
  setStreaming({controller, conversation: mine});
  let reply = "";
  try {
    const r = await apiFetch("/v1/chat/completions", {
      method: "POST", headers: {"Content-Type": "application/json"}, signal: controller.signal,
      body: JSON.stringify({model: model, messages: history, stream: true}),
    });
    if (!r.ok) {
      const body = await r.json().catch(() => ({}));
      throw new Error(body.error ? body.error.message : r.status + " " + r.statusText);
    }
    reply = await readReply(r, (soFar) => {
      reply = soFar;
      renderMarkdown(out, soFar);
      log.scrollTop = log.scrollHeight;
    });
    renderMarkdown(out, reply);
    history.push({role: "assistant", content: reply});
    addCopyButton(out, reply);
  } catch (e) {
    if (mine !== conversation) return;  // New was pressed: this reply belongs to a cleared conversation
    if (e.name === "AbortError") {  // Stop: keep what arrived, as the history's reply
      if (reply) { renderMarkdown(out, reply); history.push({role: "assistant", content: reply}); addCopyButton(out, reply); }
      else { history.pop(); out.textContent = ""; }
      const note = document.createElement("small");
      note.className = "stopped";
      note.textContent = "stopped 已停止";
      out.parentNode.appendChild(note);
    } else {
      history.pop();
      out.className = "msg error";
      out.textContent = "Error: " + e.message;
    }
  } finally {
    if (mine === conversation) { setStreaming(null); input.focus(); }
  }
}

chatForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = input.value.trim();
  if (text && streaming === null) { input.value = ""; ask(text); }
});
input.addEventListener("keydown", (ev) => {
  // Enter that confirms an input-method candidate (Cantonese, Chinese, Japanese typing) must not send; 229 is the
  // keyCode some browsers (Safari) give that Enter right after the composition ends.
  if (ev.isComposing || ev.keyCode === 229) return;
  if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); chatForm.requestSubmit(); }
});
stop.addEventListener("click", () => { if (streaming) streaming.controller.abort(); });
document.getElementById("reset").addEventListener("click", () => {
  const running = streaming;
  conversation += 1;
  history = [];
  log.textContent = "";
  setStreaming(null);
  if (running) running.controller.abort();
  input.focus();
});
window.addEventListener("hkllm:key-changed", loadModels);
loadModels();
