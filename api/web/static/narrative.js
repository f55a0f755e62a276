// ctrlmap narrative page: store the system profile (YAML pasted or uploaded) through the API.
// Problems come back as text and are written with textContent only.
(() => {
  "use strict";
  const form = document.getElementById("profile-form");
  if (!form) return;
  const WS = document.body.dataset.workspace;
  const CSRF = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const box = document.getElementById("profile-result");
  const area = document.getElementById("profile-yaml");
  document.getElementById("profile-file").addEventListener("change", async (ev) => {
    const file = ev.target.files[0];
    if (file) area.value = await file.text();
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const res = await fetch(`/api/workspaces/${encodeURIComponent(WS)}/narrative/profile`, {
      method: "PUT", credentials: "same-origin",
      headers: { "X-CSRF-Token": CSRF, "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ yaml: area.value }),
    });
    const data = await res.json().catch(() => ({}));
    const note = document.createElement("div");
    if (res.ok) {
      note.className = "notice good";
      note.textContent = "Profile stored. Reloading the description...";
      box.replaceChildren(note);
      setTimeout(() => location.reload(), 600);
      return;
    }
    note.className = "notice bad";
    const list = document.createElement("ul");
    for (const line of data.problems || [data.message || res.statusText]) {
      const item = document.createElement("li");
      item.textContent = line;
      list.append(item);
    }
    note.append(list);
    box.replaceChildren(note);
  });
})();
