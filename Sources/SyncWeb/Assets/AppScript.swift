/// The app's script: views drawn by the URL's hash, data from /api/v1, live
/// updates from the event stream (no inline script: the CSP forbids it).
enum AppScript {
    static let source = #"""
"use strict";
// The syncd web app: one page, views drawn by the URL's hash, data from
// /api/v1, live updates from /api/v1/events. No inline script (CSP), no
// innerHTML with data: every text goes through text nodes.

const state = { marks: {}, csrf: null, author: "", device: "", schemaHash: null, collections: [], lastEvent: 0, live: false, view: null };
const main = () => document.getElementById("main");

function render(...children) {
  main().replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// `withHash`: answer { data, hash } with the hash of the schema the answer
// was made with (X-Schema-Hash); any answer made with another schema than
// the page holds makes the page reload it.
async function api(method, path, body, withHash) {
  const headers = { "Accept": "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && state.csrf) headers["X-CSRF-Token"] = state.csrf;
  let response;
  try {
    response = await fetch("/api/v1" + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
  } catch (error) {
    setConnection(false);
    throw { status: 0, error: "The daemon is not reachable (it may have stopped): " + error.message };
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = { error: text }; }
  const hash = response.headers.get("X-Schema-Hash");
  if (!response.ok) {
    if (response.status === 401) showLoginNeeded(data && data.error);
    throw Object.assign({ status: response.status }, data || { error: response.statusText });
  }
  if (withHash) return { data, hash };
  noticeSchema(hash);
  return data;
}

function showLoginNeeded(message) {
  document.title = "Log in · syncd";
  render(h("section", { class: "narrow" },
    h("h1", { text: "Log in" }),
    h("p", {}, "Run ", h("code", { text: "syncctl ui --open" }), " on this machine (or ", h("code", { text: "syncctl ui" }), " and open the link it prints)."),
    message ? h("p", { class: "muted", text: message }) : null));
}

function toast(message) {
  const box = document.getElementById("toast");
  box.textContent = message;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.textContent = ""; }, 5000);
}

function setConnection(up, text) {
  const box = document.getElementById("connection");
  state.live = up;
  box.className = "connection " + (up ? "up" : "down");
  box.textContent = text || (up ? "live" : "Daemon stopped or unreachable — retrying…");
}

function formatValue(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "boolean") return value ? "yes" : "no";
  return String(value);
}

function formatTime(text) {
  if (!text) return "never";
  const date = new Date(text);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function ago(text) {
  if (!text) return "never";
  const seconds = Math.round((Date.now() - new Date(text).getTime()) / 1000);
  if (seconds < 60) return seconds + " s ago";
  if (seconds < 3600) return Math.round(seconds / 60) + " min ago";
  if (seconds < 86400) return Math.round(seconds / 3600) + " h ago";
  return Math.round(seconds / 86400) + " days ago";
}

const deviceNames = {};

function deviceName(device, replica) {
  if (device && deviceNames[device]) return deviceNames[device];
  if (device) return device.split("-")[0];
  return "replica " + replica.slice(0, 8);
}

function who(version) {
  return version.author + " on " + deviceName(version.device, version.replica);
}

function collectionSchema(name) { return state.collections.find((c) => c.name === name); }

// A field's display name: its label where the team gave one.
function fieldLabel(field) { return field.label || field.name; }

// The fields forms and tables show: deprecated ones are hidden (their data
// stays readable on the record's page).
function shownFields(schema) { return schema.fields.filter((f) => !f.deprecated); }

function refLink(ref, titles) {
  const title = titles && titles[ref];
  const [collection, ...rest] = ref.split("/");
  // The team's schema records are shown on the Schema page.
  if (collection === "_schema") return h("a", { href: "#/schema" }, ref);
  return h("a", { href: "#/r/" + encodeURIComponent(collection) + "/" + encodeURIComponent(rest.join("/")) }, title ? title + " (" + ref + ")" : ref);
}

function isRefField(field) { return field.type === "ref" || (field.type === "set" && field.of === "ref"); }

function changedMark(key) {
  const mark = state.marks[key];
  if (!mark || mark.until < Date.now()) return null;
  return h("span", { class: "changed-by", "data-changed-by": mark.version.author, text: "changed by " + who(mark.version) });
}

// ---- The schema, followed while the page is open ---------------------------

// The collections and the hash of the schema they were made with.
async function loadCollections() {
  const { data, hash } = await api("GET", "/collections", undefined, true);
  state.collections = data;
  state.schemaHash = hash;
  return data;
}

// A hash from an answer or the event stream: another schema than the one
// the page holds means the team changed it (here, on another replica, or
// with syncctl); reload it, once, however many answers say so.
function noticeSchema(hash) {
  if (!hash || !state.schemaHash || hash === state.schemaHash) return;
  // Noticed while a reload runs: looked at again when it ends.
  if (reloadSchema.running) { reloadSchema.pending = hash; return; }
  clearTimeout(noticeSchema.timer);
  noticeSchema.timer = setTimeout(reloadSchema, 50);
}

function isEditing() {
  const view = state.view || {};
  const active = document.activeElement;
  // A Schema-page form with something typed in it counts too, focused or not:
  // a redraw would wipe what the analyst typed.
  const typed = Array.from(document.querySelectorAll(".schema-form input, .schema-form textarea"))
    .some((input) => input.type !== "hidden" && input.value !== input.defaultValue);
  return (view.name === "r" && view.parts[3] === "edit") || view.name === "new" || typed || Boolean(active && active.closest && active.closest(".conflict, .schema-form"));
}

// What a new schema changed against the collections the page held, in
// words; a field just added becomes a column of its table, where the
// analyst looks.
function schemaChanges(before) {
  const words = [];
  for (const collection of state.collections) {
    const old = before.find((c) => c.name === collection.name);
    if (!old) { words.push("new collection " + collection.name); continue; }
    const fresh = shownFields(collection).filter((f) => !old.fields.some((o) => o.name === f.name));
    for (const field of fresh) words.push("new field " + collection.name + "." + field.name);
    for (const field of collection.fields) {
      const was = old.fields.find((o) => o.name === field.name);
      if (field.deprecated && was && !was.deprecated) words.push(collection.name + "." + field.name + " deprecated");
    }
    const columns = fresh.filter((f) => f.type !== "set");
    if (columns.length) {
      const shown = visibleColumns(collection);
      for (const field of columns) if (!shown.includes(field.name)) shown.push(field.name);
      localStorage.setItem("columns:" + collection.name, JSON.stringify(shown));
    }
  }
  return words;
}

async function reloadSchema() {
  if (reloadSchema.running) return;
  reloadSchema.running = true;
  const before = state.collections;
  const hashBefore = state.schemaHash;
  try {
    await loadCollections();
  } catch (_) {
    return; // the connection state says why; the next answer or event tries again
  } finally {
    reloadSchema.running = false;
    const pending = reloadSchema.pending;
    reloadSchema.pending = null;
    if (pending) noticeSchema(pending);
  }
  document.body.dataset.schema = state.schemaHash;
  if (state.schemaHash === hashBefore) return; // taken up already (this page's own change)
  const words = schemaChanges(before);
  const what = words.length ? words.join(", ") : "labels or descriptions";
  if (isEditing()) { toast("The schema changed (" + what + "); leave this form to see it."); return; }
  toast("The schema changed: " + what);
  // At most one redraw per 2 s however many changes arrive (a burst of
  // schema changes from a peer would otherwise redraw the page for each).
  const wait = 2000 - (Date.now() - (reloadSchema.routedAt || 0));
  if (wait > 0) {
    clearTimeout(reloadSchema.routeTimer);
    reloadSchema.routeTimer = setTimeout(() => { reloadSchema.routedAt = Date.now(); if (!isEditing()) route(); }, wait);
    return;
  }
  reloadSchema.routedAt = Date.now();
  await route();
}

// ---- Routing ---------------------------------------------------------------

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query || "") };
}

function setHash(parts, params) {
  const path = "#/" + parts.map(encodeURIComponent).join("/");
  const query = params && params.toString();
  location.hash = query ? path + "?" + query : path;
}

async function route() {
  const { parts, params } = parseHash();
  const name = parts[0] || "overview";
  for (const link of document.querySelectorAll("[data-nav]")) {
    const active = link.dataset.nav === name || (link.dataset.nav === "collections" && ["c", "r", "new"].includes(name));
    if (active) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  state.view = { name, parts, params };
  if (name !== "schema") state.schemaNotice = null;
  try {
    if (name === "overview") await viewOverview();
    else if (name === "collections") await viewCollections();
    else if (name === "c") await viewTable(parts[1], params);
    else if (name === "r" && parts[3] === "edit") await viewEdit(parts[1], parts[2]);
    else if (name === "r") await viewRecord(parts[1], parts[2]);
    else if (name === "new") await viewEdit(parts[1], null);
    else if (name === "conflicts") await viewConflicts();
    else if (name === "changes") await viewChanges(params);
    else if (name === "schema") await viewSchema();
    else render(h("h1", { text: "Not found" }), h("p", {}, h("a", { href: "#/" }, "Back to the overview")));
  } catch (error) {
    if (error.status !== 401) render(h("h1", { text: "Something went wrong" }), h("p", { class: "problem", role: "alert", text: error.error || String(error) }));
  }
}

function focusMain(title) {
  document.title = title + " · syncd";
  const heading = main().querySelector("h1");
  if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus({ preventScroll: true }); }
}

// ---- Overview --------------------------------------------------------------

async function viewOverview() {
  const [status, snapshots, collections] = await Promise.all([api("GET", "/status"), api("GET", "/snapshots"), loadCollections()]);
  const peers = status.peers || [];
  const online = peers.filter((p) => p.state === "connected").length;
  const problems = [];
  if (status.schemaProblems) problems.push(status.schemaProblems + " stored value(s) do not fit the schema (`syncctl check`).");
  if (status.dotCollisions) problems.push(status.dotCollisions + " version(s) held with two contents — a copied database (`syncctl check`).");
  for (const skew of status.clockSkewedPeers || []) problems.push((skew.peer || skew.replica.slice(0, 8)) + " sent " + skew.versions + " version(s) dated up to " + Math.round(skew.maxAheadSeconds) + " s ahead: check its clock.");
  for (const peer of peers) if (peer.lastError) problems.push(peer.name + ": " + peer.lastError);
  if (status.refusedHandshakes) problems.push(status.refusedHandshakes + " connection(s) from unknown devices refused.");
  if (status.sqlEdits && status.sqlEdits.refused) {
    const refused = await api("GET", "/sql-edits");
    for (const edit of refused.edits) {
      problems.push("SQL edit #" + edit.edit + " (" + edit.operation + " " + edit.collection + "/" + edit.id + ") was refused and is kept: " + edit.reason +
        " Settle it with `syncctl sql retry " + edit.edit + "` or `syncctl sql discard " + edit.edit + "`.");
    }
  }
  if (status.pendingDevices) problems.push(status.pendingDevices + " device(s) asked to connect and are not peers: `syncctl peers pending` lists them, `syncctl peers accept NAME` makes one a peer.");
  if (status.sqlEdits && status.sqlEdits.pending) problems.push(status.sqlEdits.pending + " SQL edit(s) of the tables waiting to be taken up.");
  const last = snapshots[0];
  render(
    h("h1", { text: "Overview" }),
    h("p", { class: "muted" }, "This is ", h("strong", { text: status.deviceName }), ", editing as ", h("strong", { text: state.author }), "."),
    h("div", { class: "cards" },
      h("a", { class: "card", href: "#/conflicts" }, h("div", { class: "big", text: String(status.conflicts) }), "open conflict(s)"),
      h("div", { class: "card" }, h("div", { class: "big", text: online + " / " + peers.length }), "peers online"),
      h("div", { class: "card" }, h("div", { class: "big", text: last ? ago(last.createdAt) : "none" }), "last snapshot", last ? h("div", { class: "muted", text: last.file }) : null),
      h("div", { class: "card" }, h("div", { class: "big", text: String(collections.reduce((n, c) => n + c.records, 0)) }), "records")),
    h("h2", { text: "Peers" }),
    peers.length === 0 ? h("p", { class: "muted" }, "No peers yet: add one with ", h("code", { text: "syncctl peers add DEVICE-ID --address HOST:PORT" }), ".") :
      h("div", { class: "table-wrap" }, h("table", { id: "peers" },
        h("caption", { class: "muted", text: "Peers, their connection and lag" }),
        h("thead", {}, h("tr", {}, ["Peer", "State", "Lag (changes)", "Last sync", "Mode", "Problem", "Snapshot (joining)"].map((t) => h("th", { scope: "col", text: t })))),
        h("tbody", {}, peers.map((p) => h("tr", {},
          h("td", { text: p.name }), h("td", { text: p.state === "connected" ? "online" : "offline (" + p.state + ")" }),
          h("td", { text: String(p.lag ?? Math.max(0, (p.remoteHighestSeq || 0) - (p.cursor || 0))) }), h("td", { text: ago(p.lastSync) }), h("td", { text: p.mode }), h("td", { text: p.lastError || "" }),
          h("td", { class: "muted", text: p.join || "" })))))),
    h("h2", { text: "Problems" }),
    problems.length ? h("ul", {}, problems.map((p) => h("li", { class: "problem", text: p }))) : h("p", { class: "ok", text: "None." }),
    h("h2", { text: "Snapshots" }),
    h("p", {}, last ? "Latest: " + last.file + ", " + formatTime(last.createdAt) + ", " + last.records + " records. " : "No snapshot yet. ",
      h("button", { type: "button", id: "take-snapshot", onclick: takeSnapshot }, "Take a snapshot now")));
  focusMain("Overview");
}

async function takeSnapshot(event) {
  event.target.disabled = true;
  try {
    const manifest = await api("POST", "/snapshots", {});
    toast("Snapshot taken: " + manifest.file);
    await viewOverview();
  } catch (error) { toast(error.error || "Snapshot failed"); event.target.disabled = false; }
}

// ---- Collections and tables ------------------------------------------------

async function viewCollections() {
  const collections = await loadCollections();
  render(h("h1", { text: "Data" }),
    h("ul", { class: "cards", role: "list" }, collections.map((c) => h("li", { class: "card" },
      h("a", { href: "#/c/" + encodeURIComponent(c.name) }, h("strong", { text: c.name })),
      h("div", { class: "muted", text: c.records + " records" }), c.description ? h("div", { text: c.description }) : null))));
  focusMain("Data");
}

function visibleColumns(schema) {
  const fields = shownFields(schema);
  const saved = localStorage.getItem("columns:" + schema.name);
  if (saved) { try { return JSON.parse(saved).filter((name) => fields.some((f) => f.name === name)); } catch (_) { /* fall through */ } }
  return fields.filter((f) => f.type !== "set" && !["notes", "summary", "terms", "excerpt"].includes(f.name)).slice(0, 4).map((f) => f.name);
}

async function viewTable(name, params) {
  const schema = collectionSchema(name);
  if (!schema) throw { error: "No collection named " + name };
  const columns = visibleColumns(schema);
  const query = new URLSearchParams();
  for (const key of ["q", "sort", "order", "after", "conflicted"]) if (params.get(key)) query.set(key, params.get(key));
  for (const filter of params.getAll("where")) query.append("where", filter);
  query.set("limit", "50");
  const page = await api("GET", "/collections/" + encodeURIComponent(name) + "/records?" + query.toString());
  const sort = params.get("sort") || "id";
  const descending = params.get("order") === "desc";
  const history = (params.get("back") || "").split(",").filter(Boolean);

  const navigate = (changes) => {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(changes)) {
      if (key === "where") { next.delete("where"); for (const w of value) next.append("where", w); }
      else if (value === null || value === "") next.delete(key); else next.set(key, value);
    }
    if (!("after" in changes)) { next.delete("after"); next.delete("back"); }
    setHash(["c", name], next);
  };

  const search = h("input", { id: "search", type: "search", value: params.get("q") || "", placeholder: "words in any text field", "aria-describedby": "search-help" });
  const fields = shownFields(schema);
  const filters = fields.filter((f) => f.type === "enum");
  const current = Object.fromEntries(params.getAll("where").map((w) => [w.slice(0, w.indexOf("=")), w.slice(w.indexOf("=") + 1)]));
  const filterControls = filters.map((f) => h("div", {},
    h("label", { for: "filter-" + f.name, text: fieldLabel(f) }),
    h("select", { id: "filter-" + f.name, "data-field": f.name }, h("option", { value: "", text: "any" }),
      f.values.map((v) => h("option", { value: v, selected: current[f.name] === v, text: v })))));
  const conflicted = h("input", { id: "only-conflicted", type: "checkbox", checked: params.get("conflicted") === "1" });
  const apply = (event) => {
    event.preventDefault();
    const where = filterControls.map((d) => d.querySelector("select")).filter((s) => s.value).map((s) => s.dataset.field + "=" + s.value);
    navigate({ q: search.value.trim(), where, conflicted: conflicted.checked ? "1" : null });
  };
  const columnChooser = h("fieldset", { class: "columns" }, h("legend", { text: "Columns" }),
    fields.map((f) => h("label", {}, h("input", { type: "checkbox", value: f.name, checked: columns.includes(f.name),
      onchange: (event) => {
        const chosen = [...columnChooser.querySelectorAll("input:checked")].map((i) => i.value);
        localStorage.setItem("columns:" + name, JSON.stringify(chosen));
        route();
      } }), " " + fieldLabel(f))));

  const header = (label, field) => {
    const active = sort === field;
    return h("th", { scope: "col", "data-field": field, "aria-sort": active ? (descending ? "descending" : "ascending") : "none" },
      field && schema.fields.find((f) => f.name === field && f.type === "set") ? label :
        h("button", { type: "button", onclick: () => navigate({ sort: field === "id" ? null : field, order: active && !descending ? "desc" : null }) },
          label + (active ? (descending ? " ▼" : " ▲") : "")));
  };
  const cell = (record, field) => {
    const value = record.fields[field.name];
    if (Array.isArray(value)) return h("td", {}, value.join(", "));
    if (field.type === "ref" && value) return h("td", {}, refLink(value));
    return h("td", { text: formatValue(value) });
  };
  const rows = page.records.map((record) => h("tr", { "data-id": record.id, class: changedMark(name + "/" + record.id) ? "flash" : null },
    h("td", {}, h("a", { href: "#/r/" + encodeURIComponent(name) + "/" + encodeURIComponent(record.id) }, record.id),
      record.conflicted ? h("span", { class: "badge", title: "in conflict", text: "!" }) : null, changedMark(name + "/" + record.id)),
    columns.map((c) => cell(record, schema.fields.find((f) => f.name === c)))));

  render(
    h("h1", { text: name }),
    h("p", {}, h("a", { href: "#/new/" + encodeURIComponent(name) }, "New record in " + name)),
    h("form", { class: "toolbar", role: "search", onsubmit: apply },
      h("div", {}, h("label", { for: "search", text: "Search" }), search, h("div", { id: "search-help", class: "muted", text: "" })),
      filterControls,
      h("div", {}, h("label", { for: "only-conflicted", text: "Only in conflict" }), conflicted),
      h("div", {}, h("button", { type: "submit", class: "primary" }, "Apply"))),
    columnChooser,
    h("div", { class: "table-wrap" }, h("table", { id: "records" },
      h("caption", { class: "muted", text: page.records.length ? "Records " + (history.length * 50 + 1) + "–" + (history.length * 50 + page.records.length) : "No records match." }),
      h("thead", {}, h("tr", {}, header("id", "id"), columns.map((c) => header(fieldLabel(fields.find((f) => f.name === c)), c)))),
      h("tbody", {}, rows))),
    h("nav", { class: "pager", "aria-label": "Pages" },
      h("button", { type: "button", disabled: history.length === 0, onclick: () => {
        const back = history.slice(0, -1);
        const next = new URLSearchParams(params);
        const previous = history[history.length - 1];
        if (previous === "-") next.delete("after"); else next.set("after", previous);
        if (back.length) next.set("back", back.join(",")); else next.delete("back");
        setHash(["c", name], next);
      } }, "Previous page"),
      h("button", { type: "button", id: "next-page", disabled: !page.next, onclick: () => {
        const next = new URLSearchParams(params);
        next.set("back", history.concat([params.get("after") || "-"]).join(","));
        next.set("after", page.next);
        setHash(["c", name], next);
      } }, "Next page")));
  focusMain(name);
}

// ---- One record ------------------------------------------------------------

async function viewRecord(collection, id) {
  const path = "/records/" + encodeURIComponent(collection) + "/" + encodeURIComponent(id);
  const [detail, history] = await Promise.all([api("GET", path), api("GET", path + "/history")]);
  const schema = collectionSchema(collection);
  if (!schema) throw { error: "No collection named " + collection };
  const record = detail.record;
  // Null-prototype maps: a field may be named "constructor" or "__proto__".
  const byField = Object.create(null);
  for (const entry of history.versions) (byField[entry.field] = byField[entry.field] || []).push(entry);
  const title = (schema.titleField && record.fields[schema.titleField]) || id;

  const valueOf = (field) => {
    const value = record.fields[field.name];
    if (Array.isArray(value)) {
      return value.length ? h("ul", { class: "chips", "aria-label": field.name }, value.map((m) => h("li", { class: "chip" }, field.of === "ref" ? refLink(m, detail.titles) : m))) : h("span", { class: "muted", text: "none" });
    }
    if (field.type === "ref" && value) return refLink(value, detail.titles);
    return h("span", { text: formatValue(value) });
  };
  const historyOf = (field) => {
    const entries = (byField[field.name] || []).slice().reverse();
    if (!entries.length) return null;
    return h("details", { class: "history" }, h("summary", {}, "History (" + entries.length + ")"),
      h("ol", {}, entries.map((e) => h("li", {},
        (e.member ? (e.version.value.value === false || e.version.value === false ? "removed " : "added ") + e.member : formatValue(e.version.value)),
        " — ", who(e.version), ", ", formatTime(e.version.time), e.current ? "" : " (superseded)"))));
  };
  const fieldEntry = (field) => [
    h("dt", { id: "label-" + field.name, text: fieldLabel(field), title: field.label ? field.name : null }),
    h("dd", { "data-field": field.name, "aria-labelledby": "label-" + field.name, class: changedMark(collection + "/" + id + " " + field.name) ? "flash" : null },
      valueOf(field), changedMark(collection + "/" + id + " " + field.name), conflictNote(field.name), historyOf(field))];
  // Deprecated fields that hold something (a value, members, history or a conflict).
  const deprecated = schema.fields.filter((f) => f.deprecated && (byField[f.name] || record.conflicts[f.name] ||
    (Array.isArray(record.fields[f.name]) ? record.fields[f.name].length : record.fields[f.name] !== null && record.fields[f.name] !== undefined)));
  const conflictNote = (name) => record.conflicts[name] ? h("div", { class: "problem" }, "In conflict: ",
    record.conflicts[name].map((v) => formatValue(v.value) + " (" + who(v) + ")").join(" vs "), ". ", h("a", { href: "#/conflicts" }, "Resolve")) : null;

  render(
    h("h1", {}, title, h("span", { class: "muted", text: "  " + collection + "/" + id })),
    record.exists ? null : h("p", { class: "problem", text: "This record is deleted." }),
    conflictNote("_exists"),
    h("p", {}, h("a", { href: "#/r/" + encodeURIComponent(collection) + "/" + encodeURIComponent(id) + "/edit", id: "edit-link" }, "Edit"), " · ",
      h("a", { href: "#/c/" + encodeURIComponent(collection) }, "All " + collection)),
    h("dl", { class: "fields" }, shownFields(schema).map(fieldEntry)),
    deprecated.length ? h("section", { id: "deprecated-fields", "aria-labelledby": "deprecated-heading" },
      h("h2", { id: "deprecated-heading", text: "Deprecated fields" }),
      h("p", { class: "muted", text: "The team deprecated these fields: forms and tables no longer show them; their data is kept and shown here." }),
      h("dl", { class: "fields" }, deprecated.map(fieldEntry))) : null,
    h("h2", { text: "What refers to it" }),
    detail.referrers.length ? h("ul", {}, detail.referrers.map((r) => h("li", {}, refLink(r.ref, { [r.ref]: r.title }), " — as " + r.field))) :
      h("p", { class: "muted", text: "Nothing refers to this record." }));
  focusMain(title);
}

// ---- Editing ---------------------------------------------------------------

const longText = ["notes", "summary", "terms", "excerpt"];
let unwrittenToken = "";

function completion(field, input) {
  const list = h("datalist", { id: "complete-" + field.name + "-" + Math.random().toString(36).slice(2) });
  input.setAttribute("list", list.id);
  input.setAttribute("autocomplete", "off");
  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const text = input.value;
      const targets = field.targets || [];
      const [collection, prefix] = text.includes("/") ? [text.slice(0, text.indexOf("/")), text.slice(text.indexOf("/") + 1)] : [null, text];
      const options = [];
      for (const target of targets) {
        if (collection && collection !== target) continue;
        try {
          for (const m of await api("GET", "/collections/" + encodeURIComponent(target) + "/complete?prefix=" + encodeURIComponent(prefix))) options.push(m);
        } catch (_) { /* completion is a help only */ }
      }
      list.replaceChildren(...options.map((m) => h("option", { value: m.ref, text: m.title || m.ref })));
    }, 150);
  });
  return list;
}

function fieldControl(field, value) {
  const id = "field-" + field.name;
  const common = { id, name: field.name, "aria-describedby": "error-" + field.name };
  if (field.type === "enum") {
    return h("select", common, h("option", { value: "", text: "(empty)" }), field.values.map((v) => h("option", { value: v, selected: value === v, text: v })));
  }
  if (field.type === "bool") {
    return h("select", common, h("option", { value: "", text: "(empty)" }), h("option", { value: "true", selected: value === true, text: "yes" }), h("option", { value: "false", selected: value === false, text: "no" }));
  }
  if (field.type === "date") {
    const full = value === null || value === undefined || /^\d{4}-\d{2}-\d{2}$/.test(value);
    return full ? h("input", Object.assign({ type: "date", value: value || "" }, common))
      : h("input", Object.assign({ type: "text", value, pattern: "\\d{4}(-\\d{2}(-\\d{2})?)?", title: "YYYY, YYYY-MM or YYYY-MM-DD" }, common));
  }
  if (field.type === "integer") return h("input", Object.assign({ type: "number", step: "1", value: value ?? "" }, common));
  if (field.type === "text" && longText.includes(field.name)) return h("textarea", common, value ?? "");
  return h("input", Object.assign({ type: "text", value: value ?? "", inputmode: field.type === "decimal" ? "decimal" : null }, common));
}

function setEditor(field, members, pending) {
  const chips = h("ul", { class: "chips", "aria-label": field.name + " members" });
  const draw = () => chips.replaceChildren(...[...pending.current].map((m) => h("li", { class: "chip" }, m,
    h("button", { type: "button", "aria-label": "Remove " + m + " from " + field.name, onclick: () => { pending.current.delete(m); draw(); } }, "×"))));
  draw();
  const input = h("input", { type: "text", id: "field-" + field.name, "aria-describedby": "error-" + field.name, placeholder: field.of === "ref" ? "collection/id" : "member" });
  const add = () => {
    const value = input.value.trim();
    if (!value) return;
    pending.current.add(value);
    input.value = "";
    draw();
    input.focus();
  };
  input.addEventListener("keydown", (event) => { if (event.key === "Enter") { event.preventDefault(); add(); } });
  return h("div", {}, chips, h("div", { class: "toolbar" }, input, field.of === "ref" ? completion(field, input) : null,
    h("button", { type: "button", onclick: add, "aria-label": "Add to " + field.name }, "Add")));
}

async function viewEdit(collection, id) {
  const schema = collectionSchema(collection);
  if (!schema) throw { error: "No collection named " + collection };
  let record = null;
  let versions = {};
  if (id) {
    const detail = await api("GET", "/records/" + encodeURIComponent(collection) + "/" + encodeURIComponent(id));
    record = detail.record;
    versions = detail.versions || {};
  }
  const sets = {};
  const idInput = id ? null : h("input", { id: "field-id", name: "id", type: "text", required: true, "aria-describedby": "error-id" });
  const fields = shownFields(schema);
  const controls = fields.map((field) => {
    const value = record ? record.fields[field.name] : (field.type === "set" ? [] : null);
    let control;
    if (field.type === "set") {
      sets[field.name] = { original: new Set(value), current: new Set(value) };
      control = setEditor(field, value, sets[field.name]);
    } else {
      control = fieldControl(field, value);
    }
    const extra = field.type === "ref" ? completion(field, control) : null;
    const conflicted = record && record.conflicts && record.conflicts[field.name];
    return h("div", { class: "field", "data-field": field.name },
      conflicted ? h("p", { class: "problem" }, "In conflict: saving a value here replaces every version. ", h("a", { href: "#/conflicts" }, "Resolve it instead")) : null,
      h("label", { for: "field-" + field.name }, fieldLabel(field) + (field.required ? " (required)" : ""), field.description ? h("span", { class: "muted", text: " — " + field.description }) : null),
      control, extra, h("div", { class: "error", id: "error-" + field.name, role: "alert" }));
  });
  const status = h("div", { id: "form-status", role: "alert" });
  const markDirty = (event) => { if (event.target.id && event.target.id.startsWith("field-")) event.target.dataset.dirty = "1"; };
  const form = h("form", { id: "edit-form", novalidate: true, oninput: markDirty, onchange: markDirty, onsubmit: async (event) => {
    event.preventDefault();
    for (const box of form.querySelectorAll(".error")) box.textContent = "";
    for (const box of form.querySelectorAll("[aria-invalid]")) box.removeAttribute("aria-invalid");
    status.textContent = "";
    const body = { fields: Object.create(null), add: Object.create(null), remove: Object.create(null) };
    for (const field of fields) {
      if (field.type === "set") {
        const s = sets[field.name];
        // A member typed but not yet added with Enter or "Add" still counts.
        const pending = form.querySelector("#field-" + CSS.escape(field.name));
        if (pending && pending.value.trim()) { s.current.add(pending.value.trim()); pending.value = ""; }
        const added = [...s.current].filter((m) => !s.original.has(m));
        const removed = [...s.original].filter((m) => !s.current.has(m));
        if (added.length) body.add[field.name] = added;
        if (removed.length) body.remove[field.name] = removed;
        continue;
      }
      const control = form.querySelector("#field-" + CSS.escape(field.name));
      // Only what the analyst touched is sent: a value the control cannot
      // show (a peer's enum value unknown here, a partial date) is never
      // overwritten by the control's idea of it.
      if (control.dataset.dirty !== "1") continue;
      const text = control.value;
      if (!record && text === "") continue;
      body.fields[field.name] = text === "" ? null : (field.type === "bool" ? text === "true" : text);
      // Refuse the save if the field changed since the form was opened.
      if (record) {
        body.expect = body.expect || Object.create(null);
        body.expect[field.name] = Object.prototype.hasOwnProperty.call(versions, field.name) ? versions[field.name] : unwrittenToken;
      }
    }
    try {
      let saved;
      if (record) saved = await api("PATCH", "/records/" + encodeURIComponent(collection) + "/" + encodeURIComponent(id), body);
      else saved = await api("POST", "/collections/" + encodeURIComponent(collection) + "/records", Object.assign({ id: idInput.value.trim() }, body));
      toast("Saved " + collection + "/" + saved.record.id);
      setHash(["r", collection, saved.record.id]);
    } catch (error) {
      const fields = error.fields || {};
      let first = null;
      for (const [name, message] of Object.entries(fields)) {
        const box = form.querySelector("#error-" + CSS.escape(name));
        const control = form.querySelector("#field-" + CSS.escape(name));
        if (box) box.textContent = message;
        if (control) { control.setAttribute("aria-invalid", "true"); first = first || control; }
      }
      if (error.status === 409 && record) {
        // Take the versions as they are now: the next Save is judged against
        // what the messages below show, not against what the form first showed.
        try {
          const fresh = await api("GET", "/records/" + encodeURIComponent(collection) + "/" + encodeURIComponent(id));
          versions = fresh.versions || {};
          for (const name of Object.keys(fields)) {
            const now = fresh.record.fields[name];
            if (Object.prototype.hasOwnProperty.call(fields, name)) fields[name] += " Now: " + formatValue(now) + ". Save again to replace it.";
          }
          record = fresh.record;
        } catch (_) { /* the message below still says what happened */ }
      }
      status.textContent = error.status === 409 ? "Not saved: " + error.error
        : Object.keys(fields).length ? "Not saved: fix the fields marked below." : "Not saved: " + (error.error || "unknown error");
      status.className = "problem";
      (first || status).focus();
    }
  } },
    status,
    idInput ? h("div", { class: "field" }, h("label", { for: "field-id", text: "id (required)" }), idInput, h("div", { class: "error", id: "error-id", role: "alert" })) : null,
    controls,
    h("div", { class: "toolbar" }, h("button", { type: "submit", class: "primary" }, id ? "Save" : "Create"),
      h("a", { href: id ? "#/r/" + encodeURIComponent(collection) + "/" + encodeURIComponent(id) : "#/c/" + encodeURIComponent(collection) }, "Cancel"),
      id ? h("button", { type: "button", class: "danger", onclick: async () => {
        if (!confirm("Delete " + collection + "/" + id + "? (An edit made elsewhere at the same time surfaces as a conflict.)")) return;
        try { await api("DELETE", "/records/" + encodeURIComponent(collection) + "/" + encodeURIComponent(id)); toast("Deleted " + collection + "/" + id); setHash(["c", collection]); }
        catch (error) { status.textContent = error.error; status.className = "problem"; }
      } }, "Delete") : null));
  render(h("h1", { text: (id ? "Edit " : "New record in ") + collection + (id ? "/" + id : "") }), form);
  focusMain(id ? "Edit " + id : "New " + collection);
}

// ---- Conflicts -------------------------------------------------------------

function conflictCard(conflict, message) {
  const [collection, ...rest] = conflict.record.split("/");
  const id = rest.join("/");
  const schema = collectionSchema(collection);
  const field = schema && schema.fields.find((f) => f.name === conflict.field);
  const isExists = conflict.field === "_exists";
  const show = (value) => isExists ? (value === true ? "keep the record" : "delete the record") : formatValue(value);
  const card = h("section", { class: "conflict", "data-conflict": conflict.record + " " + conflict.field, "aria-label": "Conflict on " + conflict.record + " " + conflict.field });
  const status = h("div", { role: "alert", class: message ? "problem" : "", text: message || "" });
  const resolve = async (choice) => {
    try {
      await api("POST", "/records/" + encodeURIComponent(collection) + "/" + encodeURIComponent(id) + "/resolve", Object.assign({ field: conflict.field, token: conflict.token }, choice));
      toast("Resolved " + conflict.record + " " + conflict.field);
      card.remove();
      refreshBadges();
      if (!document.querySelector("[data-conflict]")) viewConflicts();
    } catch (error) {
      if (error.status === 409 && error.conflict) {
        const fresh = conflictCard(error.conflict, "Not resolved: the versions changed since they were shown (another edit arrived). Here they are now; decide again.");
        card.replaceWith(fresh);
        fresh.querySelector("button").focus();
      } else {
        status.textContent = error.fields ? Object.values(error.fields).join(" ") : error.error;
        status.className = "problem";
        const input = card.querySelector("input, select");
        if (input && error.fields) { input.setAttribute("aria-invalid", "true"); input.focus(); }
      }
    }
  };
  const typed = isExists ? null : (field ? fieldControl(field, null) : h("input", { type: "text" }));
  if (typed) { typed.id = "typed-" + conflict.record.replace(/[^a-z0-9]/gi, "-") + "-" + conflict.field; typed.removeAttribute("aria-describedby"); }
  card.append(
    h("h2", {}, h("a", { href: "#/r/" + encodeURIComponent(collection) + "/" + encodeURIComponent(id) }, conflict.record), " — ", isExists ? "deleted on one side, edited on another" : conflict.field),
    status,
    h("div", { class: "siblings" }, conflict.siblings.map((s) => h("div", { class: "sibling" },
      h("div", { class: "value", text: show(s.version.value) }),
      h("div", { class: "muted", text: "by " + who(s.version) }),
      h("div", { class: "muted", text: formatTime(s.version.time) }),
      h("button", { type: "button", "aria-label": "Keep " + show(s.version.value) + " by " + s.version.author, onclick: () => resolve({ pick: s.number }) }, "Keep this")))),
    typed ? h("form", { class: "toolbar", onsubmit: (event) => { event.preventDefault(); resolve({ value: typed.value }); } },
      h("div", {}, h("label", { for: typed.id, text: "Or a new value" }), typed),
      h("button", { type: "submit" }, "Use this value")) : null);
  return card;
}

async function viewConflicts() {
  const conflicts = await api("GET", "/conflicts");
  setBadge("conflict-badge", conflicts.length);
  render(h("h1", { text: "Conflicts" }),
    conflicts.length ? h("p", { class: "muted", text: conflicts.length + " open. Each shows the versions side by side; keep one or type a new value." })
      : h("p", { class: "ok", text: "No open conflicts." }),
    conflicts.map((c) => conflictCard(c)));
  focusMain("Conflicts");
}

// ---- Recent changes --------------------------------------------------------

// Seqs are this replica's: after a restore (a new replica id) they start
// again, so what was seen is kept per replica.
function seenKey() { return "lastSeenSeq:" + (state.replica || ""); }
function lastSeen() { return Number(localStorage.getItem(seenKey()) || "0"); }

async function viewChanges(params) {
  const since = params.get("all") === "1" ? null : lastSeen();
  const query = new URLSearchParams({ limit: "200" });
  if (since) query.set("since_seq", String(since));
  for (const key of ["author", "device", "collection"]) if (params.get(key)) query.set(key, params.get(key));
  const first = await api("GET", "/changes?" + query.toString());
  const newest = first.changes.reduce((max, c) => Math.max(max, c.seq), since || 0);
  localStorage.setItem(seenKey(), String(Math.max(newest, state.lastEvent, lastSeen())));
  setBadge("changes-badge", 0);
  state.unseen = 0;
  const author = h("input", { id: "filter-author", type: "text", value: params.get("author") || "" });
  const device = h("input", { id: "filter-device", type: "text", value: params.get("device") || "" });
  const rows = h("tbody", {});
  const note = h("p", { class: "muted", role: "status" });
  const older = h("button", { type: "button", id: "older-changes" }, "Show older changes");
  const show = (page) => {
    rows.append(...page.changes.map((c) => h("tr", {},
      h("td", { text: formatTime(c.version.time) }), h("td", { text: who(c.version) }),
      h("td", {}, refLink(c.record)), h("td", { text: c.member ? c.field + " [" + c.member + "]" : c.field }),
      h("td", { text: c.member ? (c.version.value ? "added" : "removed") : formatValue(c.version.value) }))));
    older.hidden = !page.more;
    note.textContent = page.truncated ? "Stopped looking after the most recent 50,000 transactions; narrow the filter to see older ones." : "";
    const oldest = page.nextBefore ?? null;
    older.onclick = oldest === null ? null : async () => {
      query.set("before_seq", String(oldest));
      try { show(await api("GET", "/changes?" + query.toString())); } catch (error) { note.textContent = error.error; }
    };
  };
  show(first);
  render(h("h1", { text: "Recent changes" }),
    h("p", { class: "muted", text: since ? "What the team changed since you last looked." : "The latest changes." }),
    h("form", { class: "toolbar", onsubmit: (event) => {
      event.preventDefault();
      const next = new URLSearchParams(params);
      for (const [key, input] of [["author", author], ["device", device]]) { if (input.value.trim()) next.set(key, input.value.trim()); else next.delete(key); }
      setHash(["changes"], next);
    } },
      h("div", {}, h("label", { for: "filter-author", text: "Author" }), author),
      h("div", {}, h("label", { for: "filter-device", text: "Device ID" }), device),
      h("button", { type: "submit" }, "Filter"),
      h("a", { href: "#/changes?all=1" }, "Show all recent")),
    first.changes.length ? h("div", { class: "table-wrap" }, h("table", { id: "changes" },
      h("thead", {}, h("tr", {}, ["When", "Who", "Record", "Field", "Value"].map((t) => h("th", { scope: "col", text: t })))), rows))
      : h("p", { class: "ok", text: "Nothing new." }),
    note, older);
  focusMain("Recent changes");
}

// ---- Schema ----------------------------------------------------------------

const fieldTypes = ["text", "integer", "decimal", "date", "bool", "enum", "ref", "set:text", "set:ref"];

function typeText(field) { return field.type === "set" ? "set:" + (field.of || "text") : field.type; }

// A comma-separated list, as `syncctl schema add-field --values` reads it.
function splitList(text) { return text.split(",").map((item) => item.trim()).filter(Boolean); }

function redrawSchemaSoon() {
  clearTimeout(redrawSchemaSoon.timer);
  redrawSchemaSoon.timer = setTimeout(() => { if (state.view && state.view.name === "schema" && !isEditing()) viewSchema(); }, 300);
}

// A select of fields ("collection.field"), grouped by collection.
function fieldSelect(id, collections, keep, withCollections) {
  return h("select", { id }, collections.map((c) => {
    const fields = c.fields.filter(keep);
    if (!fields.length && !withCollections) return null;
    return h("optgroup", { label: c.name },
      withCollections ? h("option", { value: c.name, text: c.name + " (the collection)" }) : null,
      fields.map((f) => h("option", { value: c.name + "." + f.name, text: c.name + "." + f.name + (f.label ? " “" + f.label + "”" : "") })));
  }));
}

// "collection.field" (names never hold a dot) → [collection, field or null].
function splitFieldName(value) {
  const dot = value.indexOf(".");
  return dot < 0 ? [value, null] : [value.slice(0, dot), value.slice(dot + 1)];
}

function labelled(control, text) {
  return h("div", {}, h("label", { for: control.id, text }), control);
}

// One change: its controls, a line for the refusal, and a submit that posts
// the change; when it is made, the schema is reloaded and this page drawn
// again with what was done.
function schemaForm(action, title, help, controls, body, confirmText) {
  const status = h("div", { id: action + "-status", role: "alert", tabindex: "-1" });
  const form = h("form", { id: action + "-form", class: "schema-form card", "aria-labelledby": action + "-heading", novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    status.textContent = "";
    status.className = "";
    state.schemaNotice = null;
    const shown = document.getElementById("schema-result");
    if (shown) shown.remove();
    let request;
    try { request = body(); } catch (message) { status.textContent = String(message); status.className = "problem"; status.focus(); return; }
    if (confirmText && !confirm(confirmText(request))) return;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const answer = await api("POST", "/schema/" + action, request);
      const before = state.collections;
      await loadCollections();
      schemaChanges(before);
      // Kept for a while: the event stream may redraw this page meanwhile.
      state.schemaNotice = { until: Date.now() + 15000,
        text: answer.message + (answer.withheld.length ? ". Withheld on this replica: " + answer.withheld.map((w) => w.message).join("; ") : "") };
      toast(answer.message);
      document.activeElement.blur();
      await viewSchema();
    } catch (error) {
      status.textContent = "Not changed: " + (error.error || "unknown error");
      status.className = "problem";
      button.disabled = false;
      status.focus();
    }
  } },
    h("h2", { id: action + "-heading", text: title }),
    help ? h("p", { class: "muted", text: help }) : null,
    controls,
    h("div", { class: "toolbar" }, h("button", { type: "submit", class: "primary" }, title)),
    status);
  return form;
}

async function viewSchema() {
  const [schema, collections] = await Promise.all([api("GET", "/schema"), loadCollections()]);
  const notice = state.schemaNotice && state.schemaNotice.until > Date.now() ? state.schemaNotice.text : null;
  const names = collections.map((c) => c.name);

  // Add a field.
  const fieldCollection = h("select", { id: "add-field-collection" }, names.map((n) => h("option", { value: n, text: n })));
  const fieldName = h("input", { id: "add-field-name", type: "text", autocomplete: "off", placeholder: "value_usd" });
  const fieldType = h("select", { id: "add-field-type" }, fieldTypes.map((t) => h("option", { value: t, text: t })));
  const fieldValues = h("input", { id: "add-field-values", type: "text", placeholder: "producing, exploration" });
  const valuesBox = labelled(fieldValues, "Values (comma-separated)");
  const targetsBox = h("fieldset", { id: "add-field-targets", class: "columns" }, h("legend", { text: "Targets" }),
    names.map((n) => h("label", {}, h("input", { type: "checkbox", value: n }), " " + n)));
  const fieldDescription = h("input", { id: "add-field-description", type: "text" });
  const showLists = () => {
    valuesBox.hidden = fieldType.value !== "enum";
    targetsBox.hidden = !["ref", "set:ref"].includes(fieldType.value);
  };
  fieldType.addEventListener("change", showLists);
  showLists();
  const addField = schemaForm("add-field", "Add a field", "A new column on every replica. It is never required; its type is never changed.",
    [h("div", { class: "toolbar" }, labelled(fieldCollection, "Collection"), labelled(fieldName, "Name"), labelled(fieldType, "Type")),
     valuesBox, targetsBox, labelled(fieldDescription, "Description")],
    () => ({ collection: fieldCollection.value, field: fieldName.value.trim(), type: fieldType.value,
      values: fieldType.value === "enum" ? splitList(fieldValues.value) : [],
      targets: [...targetsBox.querySelectorAll("input:checked")].filter(() => !targetsBox.hidden).map((i) => i.value),
      description: fieldDescription.value.trim() || undefined }));

  // Add a collection.
  const collectionName = h("input", { id: "add-collection-name", type: "text", autocomplete: "off", placeholder: "mines" });
  const collectionDescription = h("input", { id: "add-collection-description", type: "text" });
  const addCollection = schemaForm("add-collection", "Add a collection", "A new table on every replica; add its fields next.",
    [labelled(collectionName, "Name"), labelled(collectionDescription, "Description")],
    () => ({ collection: collectionName.value.trim(), description: collectionDescription.value.trim() || undefined }));

  // Allow one more value in an enum.
  const valueField = fieldSelect("add-value-field", collections, (f) => f.type === "enum" && !f.deprecated);
  const valueText = h("input", { id: "add-value-value", type: "text", autocomplete: "off" });
  const addValue = schemaForm("add-value", "Add an enum value", "Values are only ever added: every replica accepts the old ones too.",
    [labelled(valueField, "Field"), labelled(valueText, "Value")],
    () => { const [collection, field] = splitFieldName(valueField.value); return { collection, field, value: valueText.value.trim() }; });

  // Let a reference point into one more collection.
  const targetField = fieldSelect("add-target-field", collections, (f) => (f.type === "ref" || (f.type === "set" && f.of === "ref")) && !f.deprecated);
  const targetCollection = h("select", { id: "add-target-target" }, names.map((n) => h("option", { value: n, text: n })));
  const addTarget = schemaForm("add-target", "Add a target", "A reference field may then point into one more collection.",
    [labelled(targetField, "Field"), labelled(targetCollection, "Target collection")],
    () => { const [collection, field] = splitFieldName(targetField.value); return { collection, field, target: targetCollection.value }; });

  // Label and describe a field (or describe a collection).
  const describeWhat = fieldSelect("describe-field", collections, (f) => !f.deprecated, true);
  const describeLabel = h("input", { id: "describe-label", type: "text" });
  const describeDescription = h("input", { id: "describe-description", type: "text" });
  const current = () => {
    const [collection, field] = splitFieldName(describeWhat.value);
    const c = collections.find((x) => x.name === collection) || { fields: [] };
    return field === null ? { collection, field, label: "", description: c.description || "" }
      : Object.assign({ collection, field }, (({ label, description }) => ({ label: label || "", description: description || "" }))(c.fields.find((f) => f.name === field) || {}));
  };
  const fill = () => {
    const now = current();
    describeLabel.value = now.label;
    describeDescription.value = now.description;
    describeLabel.disabled = now.field === null;
  };
  describeWhat.addEventListener("change", fill);
  fill();
  const describe = schemaForm("describe", "Label or describe", "The label is the name forms and tables show; the description says what it means.",
    [labelled(describeWhat, "Field or collection"), labelled(describeLabel, "Label"), labelled(describeDescription, "Description")],
    () => {
      // Only what was changed is written: an unchanged text would supersede a peer's concurrent edit of it.
      const now = current();
      const request = { collection: now.collection, field: now.field || undefined };
      if (now.field !== null && describeLabel.value.trim() !== now.label) request.label = describeLabel.value.trim();
      if (describeDescription.value.trim() !== now.description) request.description = describeDescription.value.trim();
      if (request.label === undefined && request.description === undefined) throw "Nothing to change: type a new label or description.";
      return request;
    });

  // Deprecate a field.
  const deprecateWhat = fieldSelect("deprecate-field-field", collections, (f) => !f.deprecated && !f.required);
  const deprecate = schemaForm("deprecate-field", "Deprecate a field",
    "Hides the field from forms and tables on every replica; its data is kept and shown on each record's page. It cannot be undone.",
    [labelled(deprecateWhat, "Field")],
    () => { const [collection, field] = splitFieldName(deprecateWhat.value); return { collection, field }; },
    (request) => "Deprecate " + request.collection + "." + request.field + "? Forms and tables on every replica stop showing it; its data is kept. This cannot be undone.");

  const describeField = (f) => [
    f.values ? "values: " + f.values.join(", ") : null,
    f.targets ? "targets: " + f.targets.join(", ") : null].filter(Boolean).join("; ");
  render(
    h("h1", { text: "Schema" }),
    h("p", { class: "muted" }, "The team's schema is data: a change made here reaches every peer like an edit, and every page follows it. ",
      "Changes only add: a field is never removed or retyped (deprecate it and add another). The same changes: ", h("code", { text: "syncctl schema" }), "."),
    notice ? h("p", { id: "schema-result", class: "ok", role: "status", text: notice }) : null,
    schema.withheld.length ? h("section", { id: "withheld", "aria-label": "Withheld definitions" },
      h("h2", { text: "Withheld definitions" }),
      h("p", { class: "muted", text: "These definitions cannot be used as they stand on this replica; their data is kept. Conflicting ones are in the Conflicts inbox." }),
      h("ul", {}, schema.withheld.map((w) => h("li", { class: "problem", text: w.message })))) : null,
    h("div", { class: "schema-forms" }, addField, addCollection, addValue, addTarget, describe, deprecate),
    h("h2", { text: "The schema now" }),
    h("p", { class: "muted", text: "Hash " + schema.hash.slice(0, 12) + " (peers compare it)." }),
    schema.collections.map((c) => h("section", { id: "schema-" + c.name, class: "schema-collection" },
      h("h3", {}, c.name, c.description ? h("span", { class: "muted", text: " — " + c.description }) : null),
      h("div", { class: "table-wrap" }, h("table", {},
        h("thead", {}, h("tr", {}, ["Field", "Label", "Type", "Values or targets", "Description", "Note"].map((t) => h("th", { scope: "col", text: t })))),
        h("tbody", {}, c.fields.map((f) => h("tr", { "data-field": f.name, class: f.deprecated ? "deprecated" : null },
          h("td", {}, h("code", { text: f.name })), h("td", { text: f.label || "" }), h("td", { text: typeText(f) }),
          h("td", { text: describeField(f) }), h("td", { text: f.description || "" }),
          h("td", { text: [f.required ? "required" : null, f.deprecated ? "deprecated: hidden from forms and tables" : null].filter(Boolean).join("; ") })))))))));
  focusMain("Schema");
}

// ---- Live updates ----------------------------------------------------------

function setBadge(id, count) {
  const badge = document.getElementById(id);
  badge.textContent = count ? String(count) : "";
}

async function refreshBadges() {
  try { setBadge("conflict-badge", (await api("GET", "/conflicts")).length); } catch (_) { /* shown by the connection state */ }
}

function onChange(change) {
  state.lastEvent = Math.max(state.lastEvent, change.seq);
  // For tests and tools: the last change's seq and when it arrived.
  document.body.dataset.lastChange = change.seq + ":" + Date.now();
  // A schema record: the "schema" event reloads the schema and says what changed.
  if (change.collection === "_schema") { if (state.view && state.view.name === "schema" && !isEditing()) redrawSchemaSoon(); return; }
  const mine = change.version.author === state.author && change.version.device === state.deviceID;
  if (!mine && state.view && state.view.name !== "changes") {
    state.unseen = (state.unseen || 0) + 1;
    setBadge("changes-badge", state.unseen);
  }
  const view = state.view || {};
  const exists = change.field === "_exists";
  const label = who(change.version) + (exists ? (change.version.value === false ? " deleted " : " edited ") + change.record
    : " changed " + change.record + " " + (change.member ? change.field + " [" + change.member + "]" : change.field));
  if (!mine) {
    // Marks stay for a minute, through any redraw of the page.
    if (!exists) state.marks[change.record + " " + change.field] = { version: change.version, until: Date.now() + 60000 };
    state.marks[change.record] = { version: change.version, until: Date.now() + 60000 };
  }
  const redraw = (draw) => { clearTimeout(onChange.timer); onChange.timer = setTimeout(draw, 50); };
  if (view.name === "r" && view.parts[1] === change.collection && view.parts[2] === change.id && view.parts[3] !== "edit") {
    redraw(() => viewRecord(change.collection, change.id));
  } else if (view.name === "c" && view.parts[1] === change.collection && main().querySelector('tr[data-id="' + CSS.escape(change.id) + '"]')) {
    redraw(() => viewTable(view.parts[1], view.params));
  } else if (view.name === "overview") {
    clearTimeout(onChange.timer);
    onChange.timer = setTimeout(viewOverview, 300);
  }
  if (!mine) toast(label);
}

function connectEvents() {
  const source = new EventSource("/api/v1/events");
  source.addEventListener("open", () => setConnection(true));
  source.addEventListener("error", () => setConnection(false));
  source.addEventListener("hello", (event) => {
    const data = JSON.parse(event.data);
    state.lastEvent = Math.max(state.lastEvent, data.seq);
    // Reconnected after the schema changed: reload it.
    noticeSchema(data.schema);
  });
  source.addEventListener("schema", (event) => noticeSchema(JSON.parse(event.data).hash));
  source.addEventListener("change", (event) => onChange(JSON.parse(event.data)));
  source.addEventListener("reload", () => {
    const view = state.view || {};
    const editing = (view.name === "r" && view.parts[3] === "edit") || view.name === "new" || document.activeElement.closest(".conflict");
    if (editing) { toast("Many changes arrived; the page will show them when you leave this form."); return; }
    toast("Many changes arrived");
    route();
  });
  source.addEventListener("problem", (event) => toast(JSON.parse(event.data).message));
  source.addEventListener("conflicts", (event) => {
    const open = JSON.parse(event.data).open;
    setBadge("conflict-badge", open);
    if (state.view && state.view.name === "conflicts" && !document.activeElement.closest(".conflict")) viewConflicts();
  });
  source.addEventListener("peers", (event) => {
    for (const peer of JSON.parse(event.data)) deviceNames[peer.deviceID] = peer.name;
    if (state.view && state.view.name === "overview") viewOverview(); });
}

async function start() {
  try {
    const session = await api("GET", "/session");
    state.csrf = session.csrf;
    state.author = session.author;
    state.device = session.device;
    state.deviceID = session.deviceID;
    unwrittenToken = session.unwrittenToken || "";
    deviceNames[session.deviceID] = session.device + " (this device)";
    await loadCollections();
    document.body.dataset.schema = state.schemaHash;
    state.replica = session.replica;
    if (!localStorage.getItem(seenKey()) || lastSeen() > session.highestSeq) localStorage.setItem(seenKey(), String(session.highestSeq));
  } catch (error) {
    if (error.status !== 401) render(h("h1", { text: "Cannot reach the daemon" }), h("p", { class: "problem", text: error.error || String(error) }));
    setConnection(false, error.status === 401 ? "not logged in" : undefined);
    return;
  }
  connectEvents();
  window.addEventListener("hashchange", route);
  await route();
  refreshBadges();
}

document.addEventListener("DOMContentLoaded", start);
"""#
}
