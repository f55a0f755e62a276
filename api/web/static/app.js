// ctrlmap web pages: the review queue (keyboard first, paged, bulk decisions, a clause's candidates side by
// side), uploads and mapping jobs.
// Data from the API is only ever written with textContent / text nodes: document text never becomes markup.
(() => {
  "use strict";

  const body = document.body;
  const WS = body.dataset.workspace;
  const CAN_REVIEW = body.dataset.canReview === "yes";
  const CSRF = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  // --- helpers ---------------------------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  async function api(path, { method = "GET", json, form } = {}) {
    const init = { method, credentials: "same-origin", headers: { "X-CSRF-Token": CSRF, Accept: "application/json" } };
    if (json !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(json);
    }
    if (form) init.body = form;
    const res = await fetch(path, init);
    if (res.status === 401) {
      location.assign("/signin?next=" + encodeURIComponent(location.pathname + location.search));
      throw new Error("signed out");
    }
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data.message || (data.detail && JSON.stringify(data.detail)) || res.statusText);
    return data;
  }

  let toastTimer = null;
  function toast(message, kind = "ok") {
    const box = document.getElementById("toast");
    if (!box) return;
    box.textContent = message;
    box.className = "toast show " + kind;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.className = "toast " + kind; }, kind === "bad" ? 6000 : 3500);
  }

  const wsApi = (path) => `/api/workspaces/${encodeURIComponent(WS)}${path}`;

  // --- review queue ----------------------------------------------------------------------------------

  function reviewPage() {
    const queue = document.getElementById("queue");
    const detailBox = document.getElementById("detail");
    const items = queue ? [...queue.querySelectorAll(".item")] : [];
    const shortName = {};
    document.querySelectorAll(".pill[data-fw]").forEach((pill) => {
      shortName[pill.dataset.fw] = pill.querySelector(".pill-name").textContent;
    });
    const cache = new Map();
    let current = -1, shown = null, busy = false, loadToken = 0, editing = null;

    const fetchDetail = (id) => {
      if (!cache.has(id)) cache.set(id, api(wsApi(`/proposals/${id}?context=500`)).catch((e) => { cache.delete(id); throw e; }));
      return cache.get(id);
    };

    async function select(index) {
      if (!items.length) return;
      index = Math.max(0, Math.min(items.length - 1, index));
      if (items[current]) items[current].classList.remove("sel");
      current = index;
      const item = items[index];
      item.classList.add("sel");
      item.scrollIntoView({ block: "nearest" });
      const token = ++loadToken;
      try {
        const data = await fetchDetail(item.dataset.id);
        if (token !== loadToken) return;
        shown = data;
        editing = null;
        render(data);
        if (items[index + 1]) fetchDetail(items[index + 1].dataset.id).catch(() => {});
      } catch (e) {
        if (token === loadToken) toast(e.message, "bad");
      }
    }

    const chip = (status) => el("span", { class: `chip s-${status}` }, status);
    const pair = (label, value) => el("div", {}, el("dt", {}, label), el("dd", {}, value));

    function render(p) {
      const parts = [
        el("header", { class: "d-head", "data-id": p.id },
          el("div", { class: "d-kicker" }, el("span", { class: "fw" }, shortName[p.framework] || p.framework),
            el("span", { class: "cid" }, p.clause_id), chip(p.status),
            el("button", { type: "button", class: "ghost small clause-open", onclick: () => openClause(p.framework, p.clause_id) },
              "All candidates of this clause", el("kbd", {}, "v"))),
          el("h1", {}, p.clause.title),
          el("p", { class: "clause-desc" }, p.clause.description)),
        el("dl", { class: "meta" }, pair("Document", p.document_name), pair("Coverage", p.coverage),
          pair("Confidence", p.confidence.toFixed(2)), pair("Method", p.method),
          p.model ? pair("Model", p.model) : null),
        driftBox(p),
        ...p.contexts.map((c, i) => evidence(p, c, i)),
        p.contexts.length ? null : el("p", { class: "notice bad" }, "No verified citation: this proposal cannot be approved until a quote from the document is added (e)."),
        el("section", { class: "rationale" }, el("h3", {}, "Why it was proposed"), el("p", {}, p.rationale || "(no rationale)")),
        actions(p),  // in the flow, right after the rationale: it never covers what the reviewer reads
        derivedList(p),
        historyList(p),
      ];
      detailBox.replaceChildren(...parts.filter(Boolean));
      detailBox.querySelectorAll(".doc-text mark").forEach((mark) => {
        const box = mark.parentElement;
        box.scrollTop = Math.max(0, mark.offsetTop - box.clientHeight / 4);
      });
      detailBox.parentElement.scrollTop = 0;
    }

    function driftBox(p) {
      const missing = (p.drift && p.drift.missing_quotes) || [];
      if (!missing.length) return null;
      return el("section", { class: "drift" },
        el("h3", {}, "Changed in a new version of the document"),
        el("p", {}, `This mapping was ${p.drift.previous_status || "decided"}; the cited text below no longer appears verbatim, so it is back for review.`),
        ...missing.map((q) => el("blockquote", { class: "gone" }, el("del", {}, q))),
        el("p", { class: "muted small" }, p.citations.length ? "Citations still found in the new version are shown below." : "No citation survived: edit (e) to cite the new text, or reject (r)."));
    }

    function evidence(p, c, i) {
      const cite = p.citations[i] || {};
      const path = cite.heading_path || [];
      const where = (path.length > 1 ? path.slice(1) : path).join(" › ");  // the first heading is the title
      return el("figure", { class: "evidence" },
        el("figcaption", {}, el("b", {}, p.document_name), where ? el("span", { class: "where" }, where) : null,
          el("code", { class: "span" }, `${c.sha256.slice(0, 10)} · ${c.start}–${c.end}`)),
        el("div", { class: "doc-text" }, c.start - c.before.length > 0 ? "… " : "", c.before, el("mark", {}, c.quote), c.after,
          c.end + c.after.length < c.length ? " …" : ""));
    }

    function derivedList(p) {
      if (!p.derived.length) return null;
      return el("section", { class: "derived" }, el("h3", {}, "Suggested through crosswalks"),
        el("div", { class: "chips" }, p.derived.map((d) => el("span", { class: `chip s-${d.status}` }, `${shortName[d.framework] || d.framework} ${d.clause_id}`))));
    }

    function historyList(p) {
      if (!p.decisions.length) return null;
      return el("section", { class: "history" }, el("h3", {}, "Decisions"),
        el("ol", {}, p.decisions.map((d) => el("li", {},
          el("b", {}, d.action), ` by ${d.actor}, ${d.at.slice(0, 16).replace("T", " ")} UTC`,
          d.comment ? el("q", {}, d.comment) : null))));
    }

    function actions(p) {
      if (!CAN_REVIEW) return el("div", { class: "actions muted" }, "Read-only: a reviewer key can approve, reject and edit.");
      const comment = el("input", { id: "comment", type: "text", maxlength: 4000, placeholder: "Comment for the audit trail (optional)  ·  c", "aria-label": "Comment" });
      const button = (label, key, action, cls) => el("button", { type: "button", class: cls, onclick: () => action() }, label, el("kbd", {}, key));
      return el("div", { class: "actions" }, comment,
        el("div", { class: "buttons" },
          button("Approve", "a", () => decide("approve"), "approve"),
          button("Reject", "r", () => decide("reject"), "reject"),
          button("Edit", "e", openEdit, "edit"),
          p.status !== "proposed" ? button("Reopen", "u", () => decide("reopen"), "ghost") : null),
        el("div", { id: "edit-slot" }));
    }

    function openEdit() {
      if (!shown || !CAN_REVIEW) return;
      const slot = document.getElementById("edit-slot");
      const rationale = el("textarea", { name: "rationale", rows: 3 });
      rationale.value = shown.rationale;
      const quotes = el("textarea", { name: "quotes", rows: 4, spellcheck: "false" });
      quotes.value = shown.citations.map((c) => c.quote).join("\n");
      const radio = (value) => el("label", { class: "radio" }, el("input", { type: "radio", name: "coverage", value, checked: shown.coverage === value }), value);
      const form = el("form", { class: "edit-form" },
        el("fieldset", {}, el("legend", {}, "Coverage"), radio("full"), radio("partial")),
        el("label", {}, "Rationale", rationale),
        el("label", {}, "Quotes: one per line, each verbatim from the document", quotes),
        el("div", { class: "buttons" }, el("button", { type: "submit", class: "approve" }, "Save edit"),
          el("button", { type: "button", class: "ghost", onclick: closeEdit }, "Cancel"),
          el("span", { class: "muted small" }, "Ctrl+Enter saves · Esc cancels")));
      form.addEventListener("submit", (ev) => { ev.preventDefault(); saveEdit(form); });
      slot.replaceChildren(form);
      editing = form;
      quotes.focus();
    }

    function closeEdit() {
      const slot = document.getElementById("edit-slot");
      if (slot) slot.replaceChildren();
      editing = null;
    }

    function saveEdit(form) {
      const change = {};
      const coverage = form.querySelector("input[name=coverage]:checked");
      if (coverage && coverage.value !== shown.coverage) change.coverage = coverage.value;
      const rationale = form.elements.rationale.value.trim();
      if (rationale !== shown.rationale.trim()) change.rationale = rationale;
      const quotes = form.elements.quotes.value.split("\n").map((q) => q.trim()).filter(Boolean);
      if (quotes.join("\n") !== shown.citations.map((c) => c.quote.trim()).join("\n")) change.quotes = quotes;
      if (!Object.keys(change).length) { closeEdit(); return; }
      decide("edit", change);
    }

    async function decide(action, extra = {}) {
      if (busy || !shown || !CAN_REVIEW) return;
      busy = true;
      const box = document.getElementById("comment");
      const comment = box ? box.value.trim() : "";
      try {
        const res = await api(wsApi(`/proposals/${shown.id}/${action}`), { method: "POST", json: { comment, ...extra } });
        const p = res.proposal;
        cache.delete(String(p.id));
        markItem(items[current], p.status, p.updated_at);
        let message = `${{ approve: "Approved", reject: "Rejected", edit: "Edited", reopen: "Reopened" }[action]} ${shortName[p.framework] || p.framework} ${p.clause_id}`;
        if (res.unchanged) message = `${shortName[p.framework] || p.framework} ${p.clause_id}: ${res.note}`;
        if (res.propagated.length) {
          message += ` · proposed for ${res.propagated.length} linked clause${res.propagated.length === 1 ? "" : "s"}: ` +
            res.propagated.slice(0, 4).map((d) => `${shortName[d.framework] || d.framework} ${d.clause_id}`).join(", ");
        }
        toast(message, "ok");
        refreshCoverage();
        refreshCounts();
        if (action === "edit" || action === "reopen" || current >= items.length - 1) select(current);
        else select(current + 1);
      } catch (e) {
        toast(e.message, "bad");
      } finally {
        busy = false;
      }
    }

    function markItem(item, status, updated) {
      if (!item) return;
      item.dataset.status = status;
      if (updated) item.dataset.updated = updated;
      item.className = item.className.replace(/\bst-[\w-]+/, `st-${status}`);
      const badge = item.querySelector(".chip");
      badge.textContent = status;
      badge.className = `chip s-${status}`;
      item.classList.toggle("done", status === "approved" || status === "rejected");
    }

    async function refreshCoverage() {
      try {
        const data = await api(wsApi("/coverage?clauses=false"));
        for (const f of data.frameworks) {
          const pill = document.querySelector(`.pill[data-fw="${CSS.escape(f.key)}"]`);
          if (!pill) continue;
          const pct = `${Math.round(f.percent)}%`;
          const pctBox = pill.querySelector(".pill-pct");
          if (pctBox.textContent !== pct) {
            pill.classList.remove("bump");
            void pill.offsetWidth;
            pill.classList.add("bump");
          }
          pctBox.textContent = pct;
          pill.querySelector(".pill-sub").textContent = `${f.covered + f.partial}/${f.clauses}`;
        }
      } catch (e) { /* the numbers refresh on the next decision */ }
    }

    // --- live counts -----------------------------------------------------------------------------------

    function showCounts(counts) {
      const filter = queueFilter();
      const rows = counts.filter((c) => !filter.framework || c.framework === filter.framework);
      const sum = (key) => rows.reduce((n, c) => n + c[key], 0);
      const tabs = { queue: sum("to_review"), "needs-review": sum("needs_review"), approved: sum("approved"),
        rejected: sum("rejected"), all: sum("to_review") + sum("approved") + sum("rejected") };
      document.querySelectorAll(".tab-n[data-tab]").forEach((n) => { n.textContent = String(tabs[n.dataset.tab]); });
      for (const c of counts) {
        const row = document.querySelector(`#fw-counts tr[data-fw="${CSS.escape(c.framework)}"]`);
        if (row) row.querySelectorAll("td[data-k]").forEach((td) => { td.textContent = String(c[td.dataset.k]); });
      }
    }

    async function refreshCounts() {
      try { showCounts(await api(wsApi("/proposals/counts"))); } catch (e) { /* refreshed on the next decision */ }
    }

    function queueFilter() {
      const box = document.getElementById("queue-filter");
      return box ? JSON.parse(box.textContent) : {};
    }

    // --- bulk decisions ----------------------------------------------------------------------------------

    const bulkBar = document.getElementById("bulk");
    const allBox = document.getElementById("bulk-all");
    const pageBox = document.getElementById("pick-page");
    const picked = () => items.filter((it) => it.querySelector(".pick") && it.querySelector(".pick").checked);

    function updateBulk() {
      if (!bulkBar) return;
      const total = Number(document.getElementById("queue-count").dataset.total || 0);
      const n = allBox && allBox.checked ? total : picked().length;
      document.getElementById("bulk-n").textContent = allBox && allBox.checked ? `all ${total.toLocaleString()} matching` : n ? `${n} selected` : "none selected";
      bulkBar.classList.toggle("armed", n > 0);
      for (const id of ["bulk-approve", "bulk-reject"]) {
        const b = document.getElementById(id);
        b.disabled = n === 0 || busy;
        b.textContent = `${id === "bulk-approve" ? "Approve" : "Reject"}${n ? " " + n.toLocaleString() : ""}`;
      }
    }

    async function bulkDecide(action) {
      if (busy) return;
      const everything = allBox && allBox.checked;
      const chosen = picked();
      if (!everything && !chosen.length) return;
      busy = true;
      updateBulk();
      const comment = document.getElementById("bulk-comment").value.trim();
      const body = everything ? { action, comment, filter: queueFilter() }
        : { action, comment, ids: chosen.map((it) => Number(it.dataset.id)),
            seen: Object.fromEntries(chosen.map((it) => [it.dataset.id, it.dataset.updated])) };
      try {
        const res = await api(wsApi("/proposals/bulk"), { method: "POST", json: body });
        const status = action === "approve" ? "approved" : action === "reject" ? "rejected" : "proposed";
        const decided = new Set(res.decided_ids.map(String));
        items.forEach((it) => { if (decided.has(it.dataset.id)) { markItem(it, status); cache.delete(it.dataset.id); } });
        items.forEach((it) => { const box = it.querySelector(".pick"); if (box) box.checked = false; });
        if (allBox) allBox.checked = false;
        if (pageBox) pageBox.checked = false;
        const reasons = Object.entries(res.skipped_reasons).map(([why, n]) => `${n} ${why}`).join(", ");
        toast(`${{ approve: "Approved", reject: "Rejected", reopen: "Reopened" }[action]} ${res.decided} · skipped ${res.skipped}${reasons ? ` (${reasons})` : ""}`, "ok");
        showCounts(res.counts);
        refreshCoverage();
        if (current >= 0) select(current);
      } catch (e) {
        toast(e.message, "bad");
      } finally {
        busy = false;
        updateBulk();
      }
    }

    if (bulkBar) {
      items.forEach((it) => {
        const box = it.querySelector(".pick");
        if (box) box.addEventListener("change", () => { if (allBox) allBox.checked = false; updateBulk(); });
      });
      if (allBox) allBox.addEventListener("change", () => {
        items.forEach((it) => { const box = it.querySelector(".pick"); if (box) box.checked = allBox.checked; });
        if (pageBox) pageBox.checked = allBox.checked;
        updateBulk();
      });
      if (pageBox) pageBox.addEventListener("change", () => {
        items.forEach((it) => { const box = it.querySelector(".pick"); if (box) box.checked = pageBox.checked; });
        if (allBox) allBox.checked = false;
        updateBulk();
      });
      document.getElementById("bulk-approve").addEventListener("click", () => bulkDecide("approve"));
      document.getElementById("bulk-reject").addEventListener("click", () => bulkDecide("reject"));
      updateBulk();
    }

    function togglePick() {
      const box = items[current] && items[current].querySelector(".pick");
      if (!box) return;
      box.checked = !box.checked;
      if (allBox) allBox.checked = false;
      updateBulk();
    }

    // --- one clause: every candidate side by side, settled in one go; not applicable -------------------

    async function openClause(framework, clauseId) {
      const token = ++loadToken;
      try {
        const data = await api(wsApi(`/proposals/clause/${encodeURIComponent(framework)}/${encodeURIComponent(clauseId)}`));
        if (token !== loadToken) return;
        shown = null;
        renderClause(data);
        return data;
      } catch (e) {
        toast(e.message, "bad");
      }
    }

    function renderClause(data) {
      const c = data.clause;
      const open = data.candidates.filter((p) => p.status === "proposed" || p.status === "needs-review").length;
      const cards = data.candidates.map((p) => el("article", { class: `candidate st-${p.status}`, "data-id": p.id },
        el("header", {}, el("b", {}, p.document_name), chip(p.status)),
        el("div", { class: "cand-meta" }, `confidence ${p.confidence.toFixed(2)} · ${p.method} · ${p.coverage}`),
        ...(p.citations.length ? p.citations.map((q) => el("blockquote", { class: "cand-quote" }, q.quote))
          : [el("p", { class: "notice bad" }, "No verified citation.")]),
        CAN_REVIEW && p.citations.length ? el("button", { type: "button", class: "approve settle", onclick: () => settle(p, c) },
          open > 1 || (open === 1 && p.status !== "proposed" && p.status !== "needs-review") ? "Approve this, reject the others" : "Approve this") : null));
      detailBox.replaceChildren(
        el("header", { class: "d-head clause-head", "data-clause": c.id },
          el("div", { class: "d-kicker" }, el("span", { class: "fw" }, shortName[c.framework] || c.framework),
            el("span", { class: "cid" }, c.id), el("span", { class: "muted small" }, `${data.candidates.length} candidate${data.candidates.length === 1 ? "" : "s"}`)),
          el("h1", {}, c.title), el("p", { class: "clause-desc" }, c.description)),
        applicability(data),
        data.candidates.length ? el("div", { class: "candidates" }, cards)
          : el("p", { class: "empty" }, "No document was proposed for this clause: a gap, unless it does not apply."));
      detailBox.parentElement.scrollTop = 0;
    }

    function applicability(data) {
      const c = data.clause, na = data.not_applicable;
      const url = wsApi(`/not-applicable/${encodeURIComponent(c.framework)}/${encodeURIComponent(c.id)}`);
      if (na) {
        return el("section", { class: "na on" }, el("h3", {}, "Not applicable"),
          el("p", {}, na.reason), el("p", { class: "muted small" }, `by ${na.actor}, ${na.at.slice(0, 16).replace("T", " ")} UTC`),
          CAN_REVIEW ? el("button", { type: "button", class: "ghost", onclick: async () => {
            try { await api(url, { method: "DELETE" }); toast(`${c.id} applies again`, "ok"); refreshCounts(); openClause(c.framework, c.id); }
            catch (e) { toast(e.message, "bad"); }
          } }, "It applies after all") : null);
      }
      if (!CAN_REVIEW) return null;
      const reason = el("textarea", { rows: 2, required: true, maxlength: 4000, placeholder: "Why this clause does not apply to the organization (required, kept in the audit trail)" });
      const form = el("form", { class: "na-form", hidden: true }, reason,
        el("div", { class: "buttons" }, el("button", { type: "submit", class: "reject" }, "Mark not applicable"),
          el("button", { type: "button", class: "ghost", onclick: () => { form.hidden = true; } }, "Cancel")));
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        if (!reason.value.trim()) { toast("A reason is required", "bad"); return; }
        try {
          await api(url, { method: "PUT", json: { reason: reason.value.trim() } });
          toast(`${c.id} marked not applicable`, "ok");
          refreshCounts();
          openClause(c.framework, c.id);
        } catch (e) { toast(e.message, "bad"); }
      });
      return el("section", { class: "na" },
        el("button", { type: "button", class: "ghost", onclick: () => { form.hidden = false; reason.focus(); } }, "Not applicable…"), form);
    }

    async function settle(p, clause) {
      if (busy) return;
      busy = true;
      const comment = (document.getElementById("bulk-comment") || {}).value || "";
      try {
        const res = await api(wsApi(`/proposals/${p.id}/settle`), { method: "POST", json: { comment: comment.trim() } });
        toast(`${clause.id}: approved ${p.document_name}, ${res.decided - 1} other candidate${res.decided === 2 ? "" : "s"} rejected`, "ok");
        showCounts(res.counts);
        refreshCoverage();
        busy = false;
        const fresh = await openClause(clause.framework, clause.id);
        const status = Object.fromEntries((fresh ? fresh.candidates : []).map((q) => [String(q.id), q.status]));
        items.forEach((it) => { if (status[it.dataset.id]) { markItem(it, status[it.dataset.id]); cache.delete(it.dataset.id); } });
      } catch (e) {
        toast(e.message, "bad");
      } finally {
        busy = false;
      }
    }

    items.forEach((item, i) => item.addEventListener("click", (ev) => { if (!ev.target.matches(".pick")) select(i); }));

    document.addEventListener("keydown", (ev) => {
      const typing = ev.target.matches("input, textarea, select");
      if (ev.key === "Escape") {
        if (editing) closeEdit();
        if (typing) ev.target.blur();
        return;
      }
      if (typing) {
        if (editing && ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); saveEdit(editing); }
        else if (ev.target.id === "comment" && ev.key === "Enter") { ev.preventDefault(); ev.target.blur(); }
        return;
      }
      if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
      const keys = {
        j: () => select(current + 1), ArrowDown: () => select(current + 1),
        k: () => select(current - 1), ArrowUp: () => select(current - 1),
        a: () => decide("approve"), r: () => decide("reject"), e: openEdit, u: () => decide("reopen"),
        x: togglePick, v: () => { const it = items[current]; if (it) openClause(it.dataset.fw, it.dataset.clause); },
        "/": () => { const box = document.getElementById("search"); if (box) box.focus(); },
        c: () => { const box = document.getElementById("comment"); if (box) box.focus(); },
      };
      if (keys[ev.key]) { ev.preventDefault(); keys[ev.key](); }
    });

    const wanted = document.getElementById("open-clause");
    if (wanted) { const [fw, clause] = JSON.parse(wanted.textContent); openClause(fw, clause); }
    else if (items.length) select(0);
  }

  // --- documents: upload and mapping jobs ------------------------------------------------------------

  function documentsPage() {
    const form = document.getElementById("upload-form");
    const result = document.getElementById("upload-result");
    if (form) form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const file = document.getElementById("upload-file").files[0];
      if (!file) return;
      const data = new FormData();
      data.append("file", file);
      try {
        const r = await api(wsApi("/documents"), { method: "POST", form: data });
        const lines = [el("b", {}, r.name), ` ${r.status}` + (r.version ? `, version ${r.version}` : "") + `, ${r.passages} passages`];
        if (r.changed_sections.length) lines.push(el("div", { class: "muted small" }, `changed sections: ${r.changed_sections.join("; ")}`));
        for (const w of r.warnings || []) lines.push(el("div", { class: "notice warnings" }, w));
        if (r.drift) {
          lines.push(el("div", {}, `${r.drift.needs_review.length} mapping(s) back to review, ${r.drift.reanchored.length} still verbatim (kept). `,
            r.drift.needs_review.length ? el("a", { href: `/w/${encodeURIComponent(WS)}/review?status=needs-review` }, "Review the changes") : null));
        }
        result.replaceChildren(el("div", { class: "notice good" }, lines));
        toast(`${r.name}: ${r.status}`, "ok");
      } catch (e) {
        result.replaceChildren(el("div", { class: "notice bad" }, e.message));
      }
    });
    const run = document.getElementById("run-mapping");
    if (run) run.addEventListener("click", async () => {
      run.disabled = true;
      try {
        let job = await api(wsApi("/jobs"), { method: "POST", json: {} });
        while (job.status === "queued" || job.status === "running") {
          showJob(job);
          await new Promise((resolve) => setTimeout(resolve, 500));
          job = await api(wsApi(`/jobs/${job.id}`));
        }
        showJob(job);
        toast(`Mapping ${job.status}: ${job.message}`, job.status === "done" ? "ok" : "bad");
      } catch (e) {
        toast(e.message, "bad");
      } finally {
        run.disabled = false;
      }
    });
  }

  function showJob(job) {
    document.getElementById("job-status").textContent = `${job.status} · ${job.message}`;
    document.getElementById("job-fill").setAttribute("width", String(Math.round(100 * job.progress)));
  }

  if (body.dataset.page === "review") reviewPage();
  if (body.dataset.page === "documents") documentsPage();
})();
