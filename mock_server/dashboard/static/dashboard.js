// ltxstudio-mock dashboard: polls GET /__admin/dashboard/data and drives the control API.
// Plain browser JavaScript, no build step. Every value from the server is written with
// textContent (never innerHTML), so request paths and bodies cannot inject markup.
"use strict";

(() => {
  const body = document.body;
  const BASE = body.dataset.base.replace(/\/$/, "");
  const ADMIN = body.dataset.admin;
  // ?poll=MS overrides the refresh interval (tests use a short one; 100 ms at least).
  const POLL_MS = Math.max(100, Number(new URLSearchParams(location.search).get("poll")) || Number(body.dataset.pollMs) || 1000);
  // With `ltx-mock serve --admin-token T`, open the page as /__admin/dashboard#token=T: the fragment never
  // reaches the server or its logs; the token is kept for this tab only and sent as X-Admin-Token.
  const ADMIN_TOKEN = (() => {
    const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (m) {
      sessionStorage.setItem("ltxAdminToken", decodeURIComponent(m[1]));
      history.replaceState(null, "", location.pathname + location.search);
    }
    return sessionStorage.getItem("ltxAdminToken") || "";
  })();
  const AUTH = ADMIN_TOKEN ? { "X-Admin-Token": ADMIN_TOKEN } : {};

  const state = {
    tab: "jobs",
    live: true,
    inflight: false,
    jobsOffset: 0, jobsLimit: 25,
    requestsOffset: 0, requestsLimit: 50,
    webhooksOffset: 0, webhooksLimit: 25,
    filters: { method: "", status: "", path: "" },
    data: null,
    drawer: null, // {kind, id}
    timer: null,
  };
  const artifacts = new Map(); // jobId -> artifact (first signed URLs seen, reused while valid)

  // -- small DOM helpers ---------------------------------------------------
  const $ = (sel) => document.querySelector(sel);
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "text") el.textContent = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  function setText(el, text) {
    const t = text === undefined || text === null ? "" : String(text);
    if (el.textContent !== t) el.textContent = t;
  }
  const fmtInt = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));
  function fmtDuration(ms) {
    if (ms === null || ms === undefined) return "–";
    const s = ms / 1000;
    if (s < 60) return `${s.toFixed(1)} s`;
    const m = Math.floor(s / 60), r = Math.floor(s % 60);
    if (m < 60) return `${m} min ${String(r).padStart(2, "0")} s`;
    return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
  }
  const simTime = (iso) => (iso ? iso.replace("T", " ").replace(/\.\d+Z$/, "Z") : "–");
  function clockTime(ms) {
    if (!ms) return "–";
    const d = new Date(ms);
    return d.toISOString().slice(11, 23);
  }
  function shortJob(jobId) {
    const m = /-job:([0-9a-f]{8})[0-9a-f-]*-type:(\w+)$/.exec(jobId || "");
    return m ? `${m[1]}… ${m[2]}` : jobId;
  }
  function badge(status, extra) {
    return h("span", { class: `badge st-${status}${extra ? " " + extra : ""}`, text: status });
  }
  function toast(message, kind) {
    const el = $("#toast");
    el.textContent = message;
    el.className = `toast ${kind || ""}`;
    el.hidden = false;
    clearTimeout(toast.t);
    toast.t = setTimeout(() => { el.hidden = true; }, 3500);
  }

  // -- server calls --------------------------------------------------------
  async function getJSON(url) {
    const resp = await fetch(url, { headers: { Accept: "application/json", ...AUTH }, cache: "no-store",
                                    credentials: "same-origin" });
    const text = await resp.text();
    const data = text ? JSON.parse(text) : null;
    if (!resp.ok) throw new Error((data && data.error) || `${resp.status} ${resp.statusText}`);
    return data;
  }
  async function admin(method, path, payload) {
    const resp = await fetch(ADMIN + path, {
      method,
      // JSON bodies only: the control API refuses any other Content-Type (cross-site protection)
      headers: payload === undefined ? { ...AUTH } : { "Content-Type": "application/json", ...AUTH },
      body: payload === undefined ? undefined : JSON.stringify(payload),
      credentials: "same-origin",
    });
    const text = await resp.text();
    const data = text ? JSON.parse(text) : null;
    if (!resp.ok) throw new Error((data && data.error) || `${resp.status} ${resp.statusText}`);
    return data;
  }
  async function control(label, method, path, payload) {
    try {
      const out = await admin(method, path, payload);
      toast(label, "ok");
      await refresh();
      return out;
    } catch (err) {
      toast(`${label} failed: ${err.message}`, "bad");
      return null;
    }
  }

  function dataURL() {
    const p = new URLSearchParams({
      jobs_offset: state.jobsOffset, jobs_limit: state.jobsLimit,
      requests_offset: state.requestsOffset, requests_limit: state.requestsLimit,
      webhooks_offset: state.webhooksOffset, webhooks_limit: state.webhooksLimit,
    });
    if (state.tab === "timeline") p.set("timeline_limit", 500); // read only while the tab is open
    if (state.filters.method) p.set("requests_method", state.filters.method);
    if (state.filters.status) p.set("requests_status", state.filters.status);
    if (state.filters.path) p.set("requests_path", state.filters.path);
    return `${BASE}/data?${p}`;
  }

  async function refresh() {
    if (state.inflight) { state.again = true; return; } // one at a time; re-run once with the newest filters
    state.inflight = true;
    try {
      const data = await getJSON(dataURL());
      state.data = data;
      try {
        render(data);
        setLive(true);
      } catch (err) {
        setLive(false, `display error: ${err.message}`);
        setTimeout(() => { throw err; }); // a bug in this script: surface it (the browser tests fail on it)
      }
    } catch (err) {
      setLive(false, err.message);
    } finally {
      state.inflight = false;
    }
    if (state.again) { state.again = false; await refresh(); }
  }
  function schedule() {
    clearTimeout(state.timer);
    if (!state.live) return;
    state.timer = setTimeout(async () => {
      if (!document.hidden) await refresh();
      schedule();
    }, POLL_MS);
  }
  function setLive(ok, why) {
    const dot = $("#live-dot");
    dot.className = `dot ${ok ? (state.live ? "on" : "idle") : "off"}`;
    const when = new Date().toLocaleTimeString();
    setText($("#live-text"), ok ? (state.live ? `live · ${when}` : `updates paused · ${when}`) : `offline: ${why}`);
    body.dataset.updated = String(Date.now());
  }

  // -- rendering -----------------------------------------------------------
  // Rows are keyed and updated in place, so a progress bar animates and a thumbnail
  // is not reloaded on every poll.
  function syncRows(tbody, items, key, build) {
    const old = new Map();
    for (const tr of Array.from(tbody.children)) old.set(tr.dataset.key, tr);
    let prev = null;
    for (const item of items) {
      const k = key(item);
      let tr = old.get(k);
      if (tr) old.delete(k);
      else { tr = document.createElement("tr"); tr.dataset.key = k; tr._cells = null; }
      const sig = JSON.stringify(item);
      if (tr._sig !== sig) { build(tr, item); tr._sig = sig; }
      const want = prev ? prev.nextSibling : tbody.firstChild;
      if (want !== tr) tbody.insertBefore(tr, want);
      prev = tr;
    }
    for (const tr of old.values()) tr.remove();
  }
  function cells(tr, n, classes) {
    if (!tr._cells) {
      tr._cells = [];
      for (let i = 0; i < n; i++) tr.append((tr._cells[i] = h("td", { class: classes && classes[i] })));
    }
    return tr._cells;
  }

  function render(d) {
    const c = d.clock;
    const pill = $("#clock-state");
    setText(pill, c.paused ? "paused" : "running");
    pill.className = `pill ${c.paused ? "paused" : "running"}`;
    setText($("#clock-now"), simTime(c.nowUTC));
    setText($("#clock-speed"), `×${c.speed}`);
    body.dataset.clockPaused = String(c.paused);
    body.dataset.clockNow = String(c.now);
    const speed = $("#speed");
    if (document.activeElement !== speed) speed.value = c.speed;
    $("#btn-pause").disabled = c.paused;
    $("#btn-resume").disabled = !c.paused;

    setText($("#stat-jobs"), fmtInt(d.counts.jobs));
    setText($("#stat-running"), fmtInt(d.counts.running));
    setText($("#stat-tenants"), fmtInt(d.counts.tenants));
    setText($("#stat-users"), fmtInt(d.counts.ltxUsers));
    setText($("#stat-requests"), fmtInt(d.counts.requests));
    setText($("#stat-webhooks"), d.counts.webhooksPending ? `${fmtInt(d.counts.webhooks)} (${d.counts.webhooksPending} due)` : fmtInt(d.counts.webhooks));

    const queued = (d.outcomes || []).map((o) => `${o.outcome}${o.count > 1 ? " ×" + o.count : ""}${o.progress ? " @" + o.progress + "%" : ""}`);
    setText($("#outcomes"), queued.length ? `queued: ${queued.join(", ")}` : "no outcome queued: next jobs complete");

    renderRunning(d.running);
    renderJobs(d.jobs);
    renderAccounts(d.tenants);
    renderUsers(d.ltxUsers);
    renderRequests(d.requests);
    renderWebhooks(d.webhooks);
    if (d.timeline) renderTimeline(d.timeline);
    if (state.drawer && state.drawer.kind === "job" && !state.drawer.final) refreshJobDrawer();
  }

  function progressBar(status, progress) {
    const wrap = h("div", { class: `bar st-${status}`, dataset: { progress: String(progress) } });
    const fill = h("span", { class: "fill" });
    fill.style.width = `${progress}%`;
    wrap.append(fill, h("em", { text: `${progress}%` }));
    return wrap;
  }
  function updateBar(td, status, progress) {
    let bar = td.querySelector(".bar");
    if (!bar) { bar = progressBar(status, progress); td.replaceChildren(bar); }
    bar.className = `bar st-${status}`;
    bar.dataset.progress = String(progress);
    bar.querySelector(".fill").style.width = `${progress}%`;
    setText(bar.querySelector("em"), `${progress}%`);
  }
  function jobLink(job) {
    return h("a", { href: `#job=${encodeURIComponent(job.jobId)}`, class: "mono job-link", title: job.jobId,
      text: shortJob(job.jobId), onclick: (e) => { e.preventDefault(); e.stopPropagation(); openJob(job.jobId); } });
  }

  function renderRunning(r) {
    setText($("#running-count"), r.total > r.items.length ? `${r.items.length} of ${fmtInt(r.total)}` : fmtInt(r.total));
    $("#running-empty").hidden = r.items.length > 0;
    syncRows($("#running-table tbody"), r.items, (j) => j.jobId, (tr, j) => {
      tr.dataset.jobId = j.jobId;
      tr.className = "clickable";
      tr.onclick = () => openJob(j.jobId);
      const td = cells(tr, 7, [null, null, null, "w-progress", null, null, "num"]);
      td[0].replaceChildren(jobLink(j), j.stalled ? h("span", { class: "badge st-stalled", text: "stalled" }) : "");
      setText(td[1], j.email);
      setText(td[2], j.model);
      updateBar(td[3], j.stalled ? "stalled" : j.status, j.progress);
      setText(td[4], fmtDuration(j.durationMs));
      setText(td[5], j.stalled ? "never (stalled)" : fmtDuration(Math.max(0, j.endsAt - Number(body.dataset.clockNow))));
      setText(td[6], fmtInt(j.credits));
    });
  }

  function artifactFor(job) {
    // Signed URLs change on every read; keep the first one while it is valid.
    const have = artifacts.get(job.jobId);
    const now = Number(body.dataset.clockNow) || 0;
    if (have && have.expires > now + 60000) return have;
    if (job.artifact) artifacts.set(job.jobId, job.artifact);
    return job.artifact || null;
  }
  function thumb(job) {
    const a = artifactFor(job);
    if (!a) {
      if (job.status === "active") return h("div", { class: "thumb placeholder", text: `${job.progress}%` });
      if (job.artifactPending) return h("div", { class: "thumb placeholder", text: "pending" });
      return h("div", { class: "thumb placeholder", text: job.status === "failed" ? "✕" : "–" });
    }
    const isVideo = a.mimeType.startsWith("video/");
    return h("button", { class: `thumb ${isVideo ? "video" : "image"}`, type: "button", title: `Open ${a.mimeType}`,
      dataset: { artifact: a.mimeType },
      onclick: (e) => { e.stopPropagation(); openJob(job.jobId, true); } },
      h("img", { src: a.thumbnailUrl, alt: `${job.media} artifact`, loading: "lazy" }),
      isVideo ? h("span", { class: "play", text: "▶" }) : null);
  }

  function renderJobs(p) {
    setText($("#jobs-count"), fmtInt(p.total));
    $("#jobs-empty").hidden = p.items.length > 0;
    pager($("#jobs-pager"), p.offset, p.limit, p.total, p.items.length, (o) => { state.jobsOffset = o; refresh(); });
    syncRows($("#jobs-table tbody"), p.items, (j) => j.jobId, (tr, j) => {
      tr.dataset.jobId = j.jobId;
      tr.dataset.status = j.status;
      tr.className = "clickable";
      tr.onclick = () => openJob(j.jobId);
      const td = cells(tr, 8, ["w-thumb", null, "status", null, null, null, null, "num"]);
      const a = artifactFor(j);
      const key = a ? a.url : `${j.status}:${j.status === "active" ? j.progress : ""}:${j.artifactPending || ""}`;
      if (td[0]._key !== key) { td[0].replaceChildren(thumb(j)); td[0]._key = key; }
      td[1].replaceChildren(jobLink(j), h("div", { class: "muted small ellipsis", text: j.prompt || j.operation, title: j.prompt }));
      if (j.status === "active") {
        const b = td[2].querySelector(".bar");
        if (!b || td[2].childNodes.length !== 2) td[2].replaceChildren(badge(j.stalled ? "stalled" : "active"), progressBar(j.status, j.progress));
        else { setText(td[2].firstChild, j.stalled ? "stalled" : "active"); updateBar(td[2], j.status, j.progress); }
      } else {
        td[2].replaceChildren(badge(j.status), j.cancelled ? h("span", { class: "badge st-cancelled", text: "untracked" }) : "",
          j.message ? h("div", { class: "small error-text", text: j.message }) : "");
      }
      setText(td[3], j.model);
      setText(td[4], j.email);
      setText(td[5], simTime(j.createdUTC));
      setText(td[6], fmtDuration(j.durationMs));
      td[7].replaceChildren(fmtInt(j.credits), j.refunded ? h("div", { class: "muted small", text: "refunded" }) : "");
    });
  }

  function pager(el, offset, limit, total, shown, go) {
    const known = total !== null && total !== undefined;
    const from = shown ? offset + 1 : 0;
    const label = known ? `${fmtInt(from)}–${fmtInt(offset + shown)} of ${fmtInt(total)}` : `${fmtInt(from)}–${fmtInt(offset + shown)}`;
    const hasNext = known ? offset + shown < total : el._more;
    const sig = `${label}|${offset > 0}|${hasNext}`;
    if (el._sig === sig) return;
    el._sig = sig;
    el.replaceChildren(
      h("button", { type: "button", class: "ghost", disabled: offset <= 0, text: "‹ Newer", onclick: () => go(Math.max(0, offset - limit)) }),
      h("span", { class: "muted", text: label }),
      h("button", { type: "button", class: "ghost", disabled: !hasNext, text: "Older ›", onclick: () => go(offset + limit) }));
  }

  function renderAccounts(tenants) {
    const rows = [];
    for (const t of tenants) {
      if (!t.accounts.length) rows.push({ tenant: t, account: null });
      for (const a of t.accounts) rows.push({ tenant: t, account: a });
    }
    $("#accounts-empty").hidden = rows.length > 0;
    syncRows($("#accounts-table tbody"), rows, (r) => `${r.tenant.id}/${r.account ? r.account.email : ""}`, (tr, r) => {
      const a = r.account;
      const td = cells(tr, 10, [null, null, "num", "num", "num", "num", null, null, null, "actions"]);
      td[0].replaceChildren(h("span", { class: "mono", text: r.tenant.hint || "?" }), h("div", { class: "muted small mono", text: r.tenant.id }));
      if (!a) { setText(td[1], "no account configured"); for (let i = 2; i < 10; i++) setText(td[i], ""); return; }
      tr.dataset.email = a.email;
      setText(td[1], a.email);
      setText(td[2], a.maxJobs);
      setText(td[3], a.executing);
      td[4].replaceChildren(h("span", { class: a.available ? "" : "error-text", text: String(a.available) }));
      td[5].replaceChildren(h("span", { class: `credits ${a.credits === 0 ? "error-text" : ""}`, text: fmtInt(a.credits) }));
      setText(td[6], a.subscription ? "active" : "none");
      setText(td[7], simTime(a.tokenExpireUTC));
      td[8].replaceChildren(a.sessionError ? h("span", { class: "badge st-failed", title: a.sessionError, text: "expired" }) : h("span", { class: "badge st-completed", text: "ok" }));
      td[9].replaceChildren(
        h("button", { type: "button", class: "small warn drain", text: "Drain credits",
          onclick: () => control(`Drained ${a.email}`, "PATCH", `/ltx-users/${encodeURIComponent(a.email)}`, { credits: 0 }) }),
        h("button", { type: "button", class: "small ghost refill", text: "Refill",
          onclick: () => control(`Refilled ${a.email}`, "PATCH", `/ltx-users/${encodeURIComponent(a.email)}`, { credits: state.data.config.demoCredits }) }),
        h("button", { type: "button", class: "small ghost expire", text: "Expire session",
          onclick: () => control(`Expired the session of ${a.email}`, "PATCH", `/ltx-users/${encodeURIComponent(a.email)}`, { tokenExpired: true }) }));
    });
  }

  function renderUsers(p) {
    setText($("#users-count"), fmtInt(p.total));
    syncRows($("#users-table tbody"), p.items, (u) => u.email, (tr, u) => {
      const td = cells(tr, 7, [null, null, "num", null, null, null, null]);
      setText(td[0], u.email);
      setText(td[1], u.name);
      setText(td[2], fmtInt(u.credits));
      setText(td[3], u.subscription ? "active" : "none");
      setText(td[4], simTime(u.tokenExpireUTC));
      setText(td[5], simTime(u.refreshTokenExpireUTC));
      td[6].replaceChildren(u.sessionError ? h("span", { class: "badge st-failed", title: u.sessionError, text: u.revoked ? "revoked" : "expired" }) : h("span", { class: "badge st-completed", text: "ok" }));
    });
  }

  function renderRequests(p) {
    const el = $("#requests-pager");
    el._more = p.more;
    pager(el, p.offset, p.limit, p.total, p.items.length, (o) => { state.requestsOffset = o; refresh(); });
    setText($("#requests-count"), p.filtered ? (p.total === null ? "filtered" : `${fmtInt(p.total)} matching`) : fmtInt(p.total));
    setText($("#requests-note"), p.truncated ? `searched the newest ${fmtInt(p.scanned)} requests` : "");
    $("#requests-empty").hidden = p.items.length > 0;
    syncRows($("#requests-table tbody"), p.items, (r) => String(r.id), (tr, r) => {
      tr.dataset.requestId = String(r.id);
      tr.className = "clickable";
      tr.onclick = () => openRequest(r.id);
      const td = cells(tr, 7, ["num muted", "mono", null, "mono path", "num", "num", "muted"]);
      setText(td[0], r.id);
      setText(td[1], clockTime(r.time));
      td[2].replaceChildren(h("span", { class: `method m-${r.method}`, text: r.method }));
      const qs = new URLSearchParams(r.query || {}).toString();
      setText(td[3], qs ? `${r.path}?${qs}` : r.path);
      td[4].replaceChildren(h("span", { class: `code c${String(r.status)[0]}xx`, text: r.status }), r.fault ? h("span", { class: "badge st-stalled", text: "fault" }) : "");
      setText(td[5], `${Number(r.durationMs).toFixed(1)} ms`);
      setText(td[6], r.operation || "");
    });
  }

  function renderWebhooks(p) {
    setText($("#webhooks-count"), fmtInt(p.total));
    $("#webhooks-empty").hidden = p.items.length > 0;
    pager($("#webhooks-pager"), p.offset, p.limit, p.total, p.items.length, (o) => { state.webhooksOffset = o; refresh(); });
    syncRows($("#webhooks-table tbody"), p.items, (w) => w.id, (tr, w) => {
      tr.dataset.deliveryId = w.id;
      tr.dataset.state = w.state;
      tr.className = "clickable";
      tr.onclick = () => openWebhook(w);
      const td = cells(tr, 5, [null, "mono path", "status", "attempts", "muted"]);
      td[0].replaceChildren(jobLink(w), w.id !== w.jobId ? h("span", { class: "muted small", text: ` copy ${w.id.split("#").pop()}` }) : "");
      setText(td[1], w.url);
      td[2].replaceChildren(badge(w.state));
      td[3].replaceChildren(...(w.attempts.length ? w.attempts.map((a, i) => h("span", {
        class: `chip ${a.ok ? "ok" : "bad"}`, title: `${new Date(a.at_ms).toLocaleTimeString()} · ${a.duration_ms} ms${a.error ? " · " + a.error : ""}`,
        text: `#${i + 1} ${a.status === null || a.status === undefined ? (a.error || "error") : a.status}` })) : [h("span", { class: "muted", text: "not yet attempted" })]));
      setText(td[4], new Date(w.created).toLocaleTimeString());
    });
  }

  // -- the detail drawer ---------------------------------------------------
  function openDrawer(kind, id, title) {
    state.drawer = { kind, id };
    setText($("#drawer-title"), title);
    $("#drawer").hidden = false;
    body.classList.add("with-drawer");
  }
  function closeDrawer() {
    state.drawer = null;
    $("#drawer").hidden = true;
    $("#drawer-body").replaceChildren();
    body.classList.remove("with-drawer");
  }
  function jsonBlock(title, value, cls) {
    return h("section", { class: `block ${cls || ""}` }, h("h3", { text: title }),
      h("pre", { class: "json", text: value === null || value === undefined ? "(empty)" : (typeof value === "string" ? value : JSON.stringify(value, null, 2)) }));
  }
  function kv(pairs) {
    return h("dl", { class: "kv" }, pairs.filter(Boolean).flatMap(([k, v]) => [h("dt", { text: k }), h("dd", {}, v instanceof Node ? v : String(v ?? "–"))]));
  }

  async function openJob(jobId, focusArtifact) {
    openDrawer("job", jobId, shortJob(jobId));
    state.drawer.focusArtifact = Boolean(focusArtifact);
    state.drawer.artifactShown = null;
    $("#drawer-body").replaceChildren(h("p", { class: "muted", text: "loading…" }));
    await refreshJobDrawer();
  }
  async function refreshJobDrawer() {
    const dr = state.drawer;
    if (!dr || dr.kind !== "job" || dr.loading) return;
    dr.loading = true;
    let d;
    try {
      d = await getJSON(`${BASE}/jobs/${encodeURIComponent(dr.id)}`);
    } catch (err) {
      $("#drawer-body").replaceChildren(h("p", { class: "error-text", text: err.message }));
      return;
    } finally {
      dr.loading = false;
    }
    if (state.drawer !== dr) return;
    const r = d.row;
    const bodyEl = $("#drawer-body");
    if (!dr.media) {
      dr.media = h("div", { class: "artifact-view" });
      dr.info = h("div", { class: "info" });
      bodyEl.replaceChildren(dr.media, dr.info);
    }
    // The media element is built once per artifact: rebuilding it would stop a playing video.
    const a = artifactFor(r);
    const placeholder = r.status === "active" ? `${r.progress}%` : (r.artifactPending ? "artifact pending" : r.status);
    if (a && dr.artifactShown !== a.url) {
      dr.artifactShown = a.url;
      const view = a.mimeType.startsWith("video/")
        ? h("video", { id: "artifact-video", src: a.previewUrl, poster: a.thumbnailUrl, controls: true, muted: true, loop: true, playsinline: true, preload: "metadata" })
        : h("img", { id: "artifact-image", src: a.previewUrl, alt: "artifact" });
      dr.media.replaceChildren(view, h("a", { href: a.url, target: "_blank", rel: "noopener", class: "open-artifact", text: `Open ${a.mimeType} ↗` }));
    } else if (!a && dr.media.dataset.placeholder !== placeholder) {
      dr.media.dataset.placeholder = placeholder;
      dr.media.replaceChildren(h("div", { class: "thumb placeholder big", text: placeholder }));
    }
    const actions = h("div", { class: "actions" });
    if (r.stalled) {
      actions.append(h("button", { type: "button", class: "warn", id: "btn-release", text: "Release stalled job",
        onclick: () => control("Released the job", "POST", `/jobs/${encodeURIComponent(r.jobId)}/release`).then(refreshJobDrawer) }));
    }
    const sig = JSON.stringify([d.job.status.type, d.job.status.progress, r.durationMs, r.stalled, a ? a.url : null]);
    if (dr.sig !== sig) {
      dr.sig = sig;
      dr.info.replaceChildren(
        kv([["Status", h("span", {}, badge(r.stalled && r.status === "active" ? "stalled" : r.status), r.status === "active" ? progressBar(r.status, r.progress) : "")],
          r.message && ["Message", r.message],
          ["Job id", h("span", { class: "mono small", text: r.jobId })],
          ["Account", r.email], ["Model", `${r.model} (${r.operation})`], ["Cost", `${fmtInt(r.credits)} credits${r.refunded ? " (refunded: the job failed)" : ""}`],
          ["Created (sim)", simTime(r.createdUTC)], ["Duration", fmtDuration(r.durationMs)],
          ["Prompt", r.prompt || "–"]]),
        actions,
        jsonBlock("Job model (GET /assets/{jobId})", d.job, "job-model"),
        jsonBlock("Request parameters", d.params),
        jsonBlock("Simulator plan", d.plan));
    }
    dr.final = r.status === "failed" || (r.status === "completed" && Boolean(a));
    if (dr.focusArtifact) { dr.focusArtifact = false; dr.media.scrollIntoView({ block: "nearest" }); }
  }

  async function openRequest(id) {
    openDrawer("request", id, `Request #${id}`);
    $("#drawer-body").replaceChildren(h("p", { class: "muted", text: "loading…" }));
    try {
      const e = await getJSON(`${BASE}/requests/${id}`);
      if (!state.drawer || state.drawer.id !== id) return;
      setText($("#drawer-title"), `${e.method} ${e.path}`);
      $("#drawer-body").replaceChildren(
        kv([["Status", h("span", { class: `code c${String(e.status)[0]}xx`, text: e.status })], ["Operation", e.operation || "–"],
          ["Time", new Date(e.time_ms).toISOString()], ["Simulated time", e.sim_ms ? new Date(e.sim_ms).toISOString() : "–"],
          ["Duration", `${e.duration_ms} ms`], ["Tenant", e.tenant || "–"], e.fault && ["Fault", e.fault]]),
        jsonBlock("Query", e.query),
        jsonBlock("Request headers", e.headers),
        jsonBlock("Request body", e.body, "request-body"),
        jsonBlock("Response body", e.response, "response-body"));
    } catch (err) {
      $("#drawer-body").replaceChildren(h("p", { class: "error-text", text: err.message }));
    }
  }

  function openWebhook(w) {
    openDrawer("webhook", w.id, `Webhook ${shortJob(w.jobId)}`);
    $("#drawer-body").replaceChildren(
      kv([["State", badge(w.state)], ["URL", h("span", { class: "mono small", text: w.url })], ["Delivery", h("span", { class: "mono small", text: w.id })]]),
      jsonBlock("Attempts", w.attempts),
      jsonBlock("Body", w.body));
  }

  // -- the timeline: plain SVG, redrawn from each poll ------------------------------
  // Lanes per account (height: its maxJobs, in slots), bars from admission to end coloured by outcome, marks
  // for 429/402 refusals, the LTX user's credits as a line. The window is simulated time: it follows the
  // simulator's clock (so it stands still while the clock is paused); zoom with the wheel or the buttons.
  const SVG_NS = "http://www.w3.org/2000/svg";
  const TL = { label: 210, slot: 20, gap: 14, axis: 28, right: 16 };
  state.tl = { window: "all", zoom: null }; // zoom: {start, end} chosen by the user, else the window
  function s(tag, attrs, text) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
    if (text !== undefined) el.textContent = text;
    return el;
  }
  function tlRange(t) {
    if (state.tl.zoom) return state.tl.zoom;
    const end = t.now;
    if (state.tl.window !== "all") return { start: end - Number(state.tl.window) * 1000, end };
    const span = Math.max(10_000, end - t.start);
    return { start: t.start - span * 0.03, end: end + span * 0.03 };
  }
  function slots(bars, now) {
    // interval partitioning: each bar takes the lowest slot free at its start, so bars never overlap
    const ends = [];
    for (const b of [...bars].sort((a, c) => a.start - c.start)) {
      const end = b.end === null ? now : b.end;
      let i = ends.findIndex((e) => e <= b.start);
      if (i < 0) { i = ends.length; ends.push(end); } else ends[i] = end;
      b.slot = i;
    }
    return ends.length;
  }
  function tickStep(ms) {
    for (const st of [1e3, 2e3, 5e3, 1e4, 15e3, 3e4, 6e4, 12e4, 3e5, 6e5, 9e5, 18e5, 36e5, 72e5, 216e5, 864e5]) {
      if (ms / st <= 8) return st;
    }
    return 864e5 * 7;
  }
  function renderTimeline(t) {
    const svg = $("#timeline-svg");
    setText($("#timeline-count"), `${t.bars.length} jobs · ${t.marks.length} refusals`);
    $("#timeline-empty").hidden = t.bars.length + t.marks.length > 0;
    svg.dataset.bars = String(t.bars.length);
    svg.dataset.marks = String(t.marks.length);
    if (state.tab !== "timeline") return;
    const width = Math.max(640, $("#timeline-wrap").clientWidth || 1200);
    const { start, end } = tlRange(t);
    svg.dataset.start = String(Math.round(start));
    svg.dataset.end = String(Math.round(end));
    const plot = width - TL.label - TL.right;
    const x = (ms) => TL.label + ((ms - start) / (end - start)) * plot;
    const clipX = (ms) => Math.max(TL.label, Math.min(TL.label + plot, x(ms)));
    const byLane = new Map(t.lanes.map((l) => [l.key, []]));
    for (const b of t.bars) (byLane.get(b.lane) || byLane.set(b.lane, []).get(b.lane)).push({ ...b });
    const nodes = [];
    let y = TL.axis;
    // axis: ticks of simulated time
    const step = tickStep(end - start);
    for (let ms = Math.ceil(start / step) * step; ms <= end; ms += step) {
      nodes.push(s("line", { x1: x(ms), x2: x(ms), y1: TL.axis - 6, y2: "100%", class: "tl-grid" }));
      const label = new Date(ms).toISOString().slice(step >= 864e5 ? 5 : 11, step >= 864e5 ? 16 : step >= 6e4 ? 16 : 19).replace("T", " ");
      if (Math.abs(x(ms) - x(t.now)) > 70 || t.now < start || t.now > end) nodes.push(s("text", { x: x(ms) + 3, y: TL.axis - 10, class: "tl-tick" }, label));
    }
    const active = t.lanes.filter((l) => (byLane.get(l.key) || []).length || t.marks.some((m) => m.lane === l.key));
    const idle = t.lanes.length - active.length;
    svg.dataset.idleLanes = String(idle);
    if (idle) nodes.push(s("text", { x: 8, y: TL.axis - 10, class: "tl-sub" }, `${idle} idle account${idle > 1 ? "s" : ""} not shown`));
    for (const lane of active) {
      const bars = byLane.get(lane.key) || [];
      const used = slots(bars, t.now);
      const rows = Math.max(lane.maxJobs || 1, used);
      const height = rows * TL.slot;
      const g = s("g", { class: "tl-lane", "data-email": lane.email, "data-max-jobs": lane.maxJobs });
      g.append(s("rect", { x: TL.label, y, width: plot, height: (lane.maxJobs || 1) * TL.slot, class: "tl-capacity" }));
      if (used > (lane.maxJobs || 1)) {
        g.append(s("rect", { x: TL.label, y: y + (lane.maxJobs || 1) * TL.slot, width: plot, height: (used - (lane.maxJobs || 1)) * TL.slot, class: "tl-over" }));
      }
      g.append(s("text", { x: 8, y: y + 13, class: "tl-email" }, lane.email));
      g.append(s("text", { x: 8, y: y + 27, class: "tl-sub" }, `maxJobs ${lane.maxJobs}${lane.hint ? " · token " + lane.hint : ""}`));
      // credits: a step line across the lane, from its least (bottom) to its most (top) in the data
      const pts = (lane.credits || []).filter((p) => p[0] <= end);
      if (pts.length) {
        const hi = Math.max(...pts.map((p) => p[1])), lo = Math.min(...pts.map((p) => p[1]));
        const cy = (c) => (hi === lo ? y + 3 : y + height - 3 - ((c - lo) / (hi - lo)) * (height - 6));
        g.append(s("text", { x: TL.label + plot - 4, y: y + 11, class: "tl-credit-label", "text-anchor": "end" }, `${pts[pts.length - 1][1]} credits`));
        const path = [[start, pts.filter((p) => p[0] <= start).map((p) => p[1]).pop() ?? pts[0][1]], ...pts.filter((p) => p[0] > start), [Math.min(end, t.now), pts[pts.length - 1][1]]];
        const line = s("polyline", { class: "tl-credits", points: path.map((p) => `${clipX(p[0]).toFixed(1)},${cy(p[1]).toFixed(1)}`).join(" ") });
        line.append(s("title", {}, `${lane.email}: ${pts[pts.length - 1][1]} credits now`));
        g.append(line);
      }
      for (const b of bars) {
        const bEnd = b.end === null ? t.now : b.end;
        if (bEnd < start || b.start > end) continue;
        const x0 = clipX(b.start), x1 = Math.max(clipX(bEnd), x0 + 2);
        const r = s("rect", { x: x0, y: y + b.slot * TL.slot + 2, width: x1 - x0, height: TL.slot - 4, rx: 3,
          class: `tl-bar st-${b.status}`, "data-job-id": b.jobId, "data-status": b.status });
        r.append(s("title", {}, `${b.operation} ${b.model} · ${b.status} · ${fmtDuration(bEnd - b.start)}\n${b.jobId}`));
        r.addEventListener("click", () => openJob(b.jobId));
        g.append(r);
      }
      for (const m of t.marks.filter((mk) => mk.lane === lane.key)) {
        if (m.at < start || m.at > end) continue;
        const mx = x(m.at);
        g.append(s("line", { x1: mx, x2: mx, y1: y, y2: y + height, class: `tl-mark-line m${m.status}` }));
        const d = m.status === 402 ? `M${mx} ${y - 1} l5 5 l-5 5 l-5 -5 z` : `M${mx - 5} ${y - 2} l10 0 l-5 9 z`;
        const mark = s("path", { d, class: `tl-mark m${m.status}`, "data-status": m.status, "data-at": m.at });
        mark.append(s("title", {}, `${m.status} ${m.operation || ""} at ${new Date(m.at).toISOString().slice(11, 23)}: ${m.error}`));
        g.append(mark);
      }
      nodes.push(g);
      y += height + TL.gap;
    }
    if (t.now >= start && t.now <= end) {
      nodes.push(s("line", { x1: x(t.now), x2: x(t.now), y1: TL.axis - 6, y2: y, class: "tl-now" }));
      nodes.push(s("text", { x: x(t.now) - 4, y: TL.axis - 10, class: "tl-now-label", "text-anchor": "end" }, "now"));
    }
    svg.setAttribute("width", width);
    svg.setAttribute("height", Math.max(y, TL.axis + 40));
    svg.setAttribute("viewBox", `0 0 ${width} ${Math.max(y, TL.axis + 40)}`);
    svg.replaceChildren(...nodes);
  }
  function tlZoom(factor, atMs) {
    const t = state.data && state.data.timeline;
    if (!t) return;
    const { start, end } = tlRange(t);
    const at = atMs === undefined ? (start + end) / 2 : atMs;
    const span = Math.max(1000, (end - start) * factor);
    const left = (at - start) / (end - start);
    state.tl.zoom = { start: at - span * left, end: at + span * (1 - left) };
    renderTimeline(t);
  }
  function wireTimeline() {
    $("#tl-window").addEventListener("change", () => { state.tl.window = $("#tl-window").value; state.tl.zoom = null; if (state.data) renderTimeline(state.data.timeline); });
    $("#tl-zoom-in").addEventListener("click", () => tlZoom(0.5));
    $("#tl-zoom-out").addEventListener("click", () => tlZoom(2));
    $("#tl-fit").addEventListener("click", () => { state.tl.zoom = null; state.tl.window = "all"; $("#tl-window").value = "all"; if (state.data) renderTimeline(state.data.timeline); });
    $("#timeline-svg").addEventListener("wheel", (e) => {
      const t = state.data && state.data.timeline;
      if (!t) return;
      e.preventDefault();
      const box = $("#timeline-svg").getBoundingClientRect();
      const { start, end } = tlRange(t);
      const frac = (e.clientX - box.left - TL.label) / (box.width - TL.label - TL.right);
      tlZoom(e.deltaY < 0 ? 0.8 : 1.25, start + Math.max(0, Math.min(1, frac)) * (end - start));
    }, { passive: false });
  }

  // -- tabs and controls ---------------------------------------------------
  function showTab(name) {
    if (!["jobs", "timeline", "accounts", "requests", "webhooks"].includes(name)) name = "jobs";
    state.tab = name;
    for (const s of document.querySelectorAll("section.tab")) s.hidden = s.dataset.tab !== name;
    for (const a of document.querySelectorAll("nav.tabs a")) a.classList.toggle("active", a.dataset.tab === name);
    body.dataset.tab = name;
    if (name === "timeline") {
      if (state.data && state.data.timeline) renderTimeline(state.data.timeline);
      refresh();
    }
  }
  function fromHash() {
    const hash = location.hash.replace(/^#/, "");
    if (hash.startsWith("job=")) { openJob(decodeURIComponent(hash.slice(4))); return; }
    showTab(hash || "jobs");
  }

  function wire() {
    window.addEventListener("hashchange", fromHash);
    $("#drawer-close").addEventListener("click", closeDrawer);
    document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeDrawer(); });
    $("#live-toggle").addEventListener("click", () => {
      state.live = !state.live;
      setText($("#live-toggle"), state.live ? "Pause updates" : "Resume updates");
      if (state.live) { refresh(); schedule(); } else { clearTimeout(state.timer); setLive(true); }
    });
    $("#btn-pause").addEventListener("click", () => control("Clock paused", "POST", "/clock", { paused: true }));
    $("#btn-resume").addEventListener("click", () => control("Clock resumed", "POST", "/clock", { paused: false }));
    for (const b of document.querySelectorAll("button.advance")) {
      b.addEventListener("click", () => control(`Advanced ${b.textContent.replace("+", "")}`, "POST", "/clock", { advance: Number(b.dataset.seconds) }));
    }
    $("#btn-advance").addEventListener("click", () => {
      const s = Number($("#advance-seconds").value);
      if (!(s > 0)) { toast("Enter a number of seconds to advance", "bad"); return; }
      control(`Advanced ${s} s`, "POST", "/clock", { advance: s });
    });
    $("#btn-speed").addEventListener("click", () => {
      const s = Number($("#speed").value);
      if (!(s > 0)) { toast("Speed must be above 0", "bad"); return; }
      control(`Speed set to ×${s}`, "POST", "/clock", { speed: s });
    });
    const progress = () => Math.max(0, Math.min(99, Number($("#outcome-progress").value) || 0));
    $("#btn-fail").addEventListener("click", () => {
      const message = $("#fail-message").value.trim() || "Generation failed";
      control("The next job will fail", "POST", "/next-outcome", { outcome: "failed", message, count: 1, progress: progress() });
    });
    $("#btn-stall").addEventListener("click", () => control("The next job will stall", "POST", "/next-outcome", { outcome: "stalled", count: 1, progress: progress() || 50 }));
    $("#btn-clear-outcomes").addEventListener("click", () => control("Outcome queue cleared", "DELETE", "/next-outcome"));
    $("#btn-reset").addEventListener("click", () => {
      if (!window.confirm("Reset the simulator? Every job, account change, request and webhook is forgotten.")) return;
      artifacts.clear();
      closeDrawer();
      state.jobsOffset = state.requestsOffset = state.webhooksOffset = 0;
      control("Simulator reset", "POST", "/reset");
    });
    let debounce = null;
    const onFilter = () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => {
        state.filters = { method: $("#filter-method").value, status: $("#filter-status").value.trim(), path: $("#filter-path").value.trim() };
        state.requestsOffset = 0;
        refresh();
      }, 200);
    };
    for (const id of ["#filter-method", "#filter-status", "#filter-path"]) {
      $(id).addEventListener("input", onFilter);
      $(id).addEventListener("change", onFilter);
    }
  }

  wire();
  wireTimeline();
  fromHash();
  refresh().then(schedule);
})();
