// Calls to the hkllm API with the key the user gave (kept in this browser's localStorage), and the key form the
// page shows when the server answers 401 (HKLLM_API_KEYS set). Saving a key fires "hkllm:key-changed".
"use strict";
const KEY_STORAGE = "hkllm.apiKey";
const keyForm = document.getElementById("key-form"), keyInput = document.getElementById("api-key");
const keyNote = document.getElementById("key-note");
let keyForThisPage = "";  // used when localStorage is unavailable (e.g. some private modes)

function storedKey() {
  try { return localStorage.getItem(KEY_STORAGE) || keyForThisPage; } catch (e) { return keyForThisPage; }
}

function askForKey(note) {
  keyNote.textContent = note;
  keyForm.hidden = false;
  keyInput.focus();
}

class AuthRequired extends Error {}

// fetch() with "Authorization: Bearer <key>" when a key is stored; a 401 shows the key form and throws.
async function apiFetch(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  const key = storedKey();
  if (key) headers.Authorization = "Bearer " + key;
  const r = await fetch(path, Object.assign({}, options, {headers}));
  if (r.status === 401) {
    // a refusal of a key the user has since replaced is stale: the form is not shown again for it
    if (key === storedKey()) {
      askForKey(key ? "The API key was refused: enter another. 密鑰無效，請重新輸入。"
                    : "This server needs an API key. 此伺服器需要 API 密鑰。");
    }
    throw new AuthRequired("an API key is needed: enter it above");
  }
  return r;
}

keyForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const key = keyInput.value.trim();
  if (!key) return;
  keyForThisPage = key;
  try { localStorage.setItem(KEY_STORAGE, key); } catch (e) { /* kept for this page only */ }
  keyInput.value = "";
  keyForm.hidden = true;
  window.dispatchEvent(new Event("hkllm:key-changed"));
});
