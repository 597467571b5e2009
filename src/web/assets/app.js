// engarde's management page: polls /api/v1/get-list once a second and
// draws the client's interfaces or the server's client addresses.
// Plain JavaScript, no framework, no build step; everything the page shows
// comes from the API, so the page and scripts always agree.
"use strict";

const POLL_MS = 1000;
// A link that has heard nothing for this long while another link hears the
// server is dead: the server's replies reach us, but not over it.
const DEAD_BEHIND_MS = 3000;
// When no link has heard anything for this long, the whole tunnel is quiet.
const QUIET_MS = 5000;

// Same-origin URLs without the user:password a browser may show in the
// address bar (fetch refuses URLs carrying credentials).
const api = (path) => new URL(path, window.location.origin + window.location.pathname);

const $ = (id) => document.getElementById(id);
let previous = null; // { at, counters: Map(key -> counters) } for rates
let busy = false;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function count(n) {
  return Number(n).toLocaleString("en-US");
}

function bytes(n) {
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let value = Number(n);
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return (unit === 0 ? value : value.toFixed(value < 10 ? 2 : 1)) + " " + units[unit];
}

function duration(ms) {
  if (ms < 1000) return (ms / 1000).toFixed(1) + " s";
  const s = Math.round(ms / 1000);
  if (s < 120) return s + " s";
  const m = Math.round(s / 60);
  if (m < 120) return m + " min";
  return Math.round(m / 60) + " h";
}

function rate(key, now, counters, field, bits) {
  const before = previous && previous.counters.get(key);
  if (!before || !counters) return null;
  const seconds = (now - previous.at) / 1000;
  const delta = counters[field] - before[field];
  if (seconds <= 0 || delta < 0) return null;
  const perSecond = delta / seconds;
  if (bits) {
    const value = perSecond * 8;
    if (value >= 1e6) return (value / 1e6).toFixed(1) + " Mbit/s";
    if (value >= 1e3) return (value / 1e3).toFixed(1) + " kbit/s";
    return value.toFixed(0) + " bit/s";
  }
  return perSecond.toFixed(perSecond < 10 ? 1 : 0) + " pkt/s";
}

function numbers(key, now, counters) {
  if (!counters) return el("p", { class: "route", text: "No traffic counted yet." });
  const drops = counters.sendDropped + counters.receiveDropped;
  const item = (label, main, details, problem) =>
    el("div", { class: problem ? "problem" : null },
      el("dt", { text: label }),
      el("dd", {}, main, ...details.filter(Boolean).map((d) => el("small", { text: d }))));
  const sentRate = [rate(key, now, counters, "sentPackets"), rate(key, now, counters, "sentBytes", true)]
    .filter(Boolean).join(" · ");
  const receivedRate = [rate(key, now, counters, "receivedPackets"), rate(key, now, counters, "receivedBytes", true)]
    .filter(Boolean).join(" · ");
  return el("dl", { class: "numbers" },
    item("Sent", count(counters.sentPackets) + " pkts", [bytes(counters.sentBytes), sentRate]),
    item("Received", count(counters.receivedPackets) + " pkts", [bytes(counters.receivedBytes), receivedRate]),
    item("Drops", count(drops), ["out " + count(counters.sendDropped) + " · in " + count(counters.receiveDropped)], drops > 0),
    item("Send errors", count(counters.sendErrors), [], counters.sendErrors > 0));
}

function percent(part, whole) {
  if (!whole) return "–";
  const value = (100 * part) / whole;
  return (value < 10 && value > 0 ? value.toFixed(1) : value.toFixed(0)) + " %";
}

function ms(value) {
  if (value === null || value === undefined) return "–";
  return (value < 10 ? value.toFixed(1) : value.toFixed(0)) + " ms";
}

// What the path was worth next to the others (only once there is something to compare).
function analytics(a) {
  if (!a || (!a.expected && !a.delaySamples)) return null;
  const item = (label, main, detail, problem) =>
    el("div", { class: problem ? "problem" : null },
      el("dt", { text: label }),
      el("dd", {}, main, detail ? el("small", { text: detail }) : null));
  const packets = Math.max(a.expected, a.wins);
  return el("dl", { class: "numbers analytics", "aria-label": "Compared with the other paths" },
    item("First copy", percent(a.wins, packets), count(a.wins) + " of " + count(packets)),
    item("Rescued", count(a.rescued), "came on this path only"),
    item("Lost", percent(a.lost, a.expected), count(a.lost) + " of " + count(a.expected),
      a.lossRatio !== null && a.lossRatio > 0.01),
    item("Behind fastest", ms(a.delayMedianMs), "median · p99 " + ms(a.delayP99Ms)));
}

// How an active link is doing, judged against the freshest link.
function health(entry, freshest) {
  if (entry.status !== "active") return "off";
  if (entry.lastMs === null || entry.lastMs === undefined) {
    return freshest !== null && freshest < QUIET_MS ? "dead" : "quiet";
  }
  if (freshest !== null && freshest < QUIET_MS && entry.lastMs - freshest > DEAD_BEHIND_MS) return "dead";
  if (entry.lastMs >= QUIET_MS) return "quiet";
  return "ok";
}

function healthText(entry, state, server) {
  if (entry.status === "excluded") {
    return entry.reasonCode === "excluded-at-run-time"
      ? "Excluded from this page, until included again or engarde restarts"
      : "Excluded in the configuration";
  }
  if (entry.status === "idle") return "Not used: " + (entry.reason || "idle");
  if (entry.lastMs === null || entry.lastMs === undefined) return "Nothing heard from the server yet";
  const ago = duration(entry.lastMs);
  if (server) {
    if (state === "dead") return "Silent for " + ago + " while others talk — address looks dead";
    if (state === "quiet") return "Quiet for " + ago;
    return "Heard " + ago + " ago";
  }
  if (state === "dead") return "No reply for " + ago + " — link looks dead";
  if (state === "quiet") return "Quiet for " + ago;
  return "Server heard " + ago + " ago";
}

async function post(path, body) {
  const response = await fetch(api(path), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? "{}" : JSON.stringify(body),
    credentials: "same-origin",
  });
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response.json();
}

async function toggle(entry, button, activeCount) {
  const excluding = entry.status !== "excluded";
  if (excluding && entry.status === "active" && activeCount === 1 &&
      !window.confirm(entry.name + " is the only active link: excluding it cuts the tunnel. Exclude it?")) {
    return;
  }
  button.disabled = true;
  try {
    await post(excluding ? "api/v1/exclude" : "api/v1/include", { interface: entry.name });
  } catch (error) {
    showBanner("Could not " + (excluding ? "exclude " : "include ") + entry.name + ": " + error.message);
  }
  refresh();
}

function showBanner(text, warn) {
  const banner = $("banner");
  banner.textContent = text;
  banner.className = warn ? "banner warn" : "banner";
  banner.hidden = !text;
}

function stat(value, label, tone) {
  return el("div", { class: "stat" + (tone ? " " + tone : "") },
    el("div", { class: "value", text: value }),
    el("div", { class: "label", text: label }));
}

function interfaceCard(entry, now, freshest, activeCount) {
  const state = health(entry, freshest);
  const badge = state === "dead" ? "dead" : entry.status;
  const title = entry.label || entry.name;
  // One line per link (address family): source → destination, and what a
  // host name resolved to; idle links are marked.
  const links = (entry.links || []).filter((l) => l.senderAddress || l.status === "active");
  const routes = links.length
    ? links.map((l) => el("div", { class: "route", "data-link": l.name },
        l.family + " " + (l.localAddress || l.senderAddress || "no address") + " → " + (l.dstAddress || "nowhere") +
        (l.resolvedDstAddress && l.resolvedDstAddress !== l.dstAddress ? " (" + l.resolvedDstAddress + ")" : "") +
        (l.status === "active" ? "" : " · not open") +
        (l.silentRecreations ? " · re-created " + l.silentRecreations + "× for silence" : "")))
    : entry.senderAddress || entry.dstAddress
      ? [el("div", { class: "route", text: (entry.senderAddress || "no address") + " → " + (entry.dstAddress || "nowhere") })]
      : [];
  const excluded = entry.status === "excluded";
  const button = el("button", {
    type: "button",
    class: "button " + (excluded ? "include" : "exclude"),
    "data-action": excluded ? "include" : "exclude",
    "aria-label": (excluded ? "Include " : "Exclude ") + entry.name,
    text: excluded ? "Include" : "Exclude",
  });
  button.addEventListener("click", () => toggle(entry, button, activeCount));
  return el("article", {
    class: "card health-" + state,
    "data-interface": entry.name,
    "data-status": entry.status,
    "data-health": state,
  },
    el("div", { class: "card-head" },
      el("div", { class: "title" },
        el("div", { class: "main", text: title }),
        entry.label ? el("div", { class: "sub", text: entry.name }) : null),
      el("span", { class: "badge status " + badge, text: badge === "dead" ? "dead" : entry.status })),
    el("div", { class: "health", text: healthText(entry, state) }),
    routes,
    numbers("if:" + entry.name, now, entry.counters),
    analytics(entry.analytics),
    el("div", { class: "card-foot" }, button));
}

function socketCard(socket, now, freshest) {
  const entry = { status: "active", lastMs: socket.lastMs };
  const state = health(entry, freshest);
  return el("article", { class: "card health-" + state, "data-address": socket.address, "data-health": state },
    el("div", { class: "card-head" },
      el("div", { class: "title" },
        el("div", { class: "main mono", text: socket.address }),
        socket.client ? el("div", { class: "sub", text: "client " + socket.client }) : null),
      el("span", { class: "badge status " + (state === "dead" ? "dead" : "active"), text: state === "dead" ? "dead" : "live" })),
    el("div", { class: "health", text: healthText(entry, state, true) }),
    numbers("sock:" + socket.address, now, socket.counters),
    analytics(socket.analytics));
}

// Interfaces nobody would use as a link go in the folded list.
const hiddenReasons = new Set(["loopback", "wireguard"]);

function drawClient(data, now) {
  const active = data.interfaces.filter((i) => i.status === "active");
  const ages = active.map((i) => i.lastMs).filter((ms) => ms !== null && ms !== undefined);
  const freshest = ages.length ? Math.min(...ages) : null;
  const dead = active.filter((i) => health(i, freshest) === "dead");
  const excluded = data.interfaces.filter((i) => i.status === "excluded");
  $("summary").replaceChildren(
    stat(active.length + " / " + data.interfaces.filter((i) => !hiddenReasons.has(i.reasonCode)).length, "links active", active.length ? "ok" : "bad"),
    stat(String(dead.length), "dead links", dead.length ? "bad" : null),
    stat(String(excluded.length), "excluded"),
    stat(count(data.wireguard.receivedPackets), "from WireGuard"),
    stat(count(data.wireguard.sentPackets), "to WireGuard"));
  const shown = data.interfaces.filter((i) => !hiddenReasons.has(i.reasonCode));
  const folded = data.interfaces.filter((i) => hiddenReasons.has(i.reasonCode));
  const rank = (i) => (i.status === "active" ? 0 : i.status === "idle" ? 1 : 2);
  shown.sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
  $("cards").replaceChildren(...(shown.length
    ? shown.map((i) => interfaceCard(i, now, freshest, active.length))
    : [el("p", { class: "empty", text: "No interface can carry a link." })]));
  $("others").hidden = folded.length === 0;
  $("others-title").textContent = "Interfaces never used as links (" + folded.length + ")";
  $("others-cards").replaceChildren(...folded.map((i) => interfaceCard(i, now, freshest, active.length)));
  $("actions").hidden = !data.interfaces.some((i) => i.changedAtRunTime);
  if (active.length === 0) {
    showBanner("No link is active: the tunnel is down.");
  } else if (freshest === null || freshest >= QUIET_MS) {
    showBanner("Nothing heard from the server on any link for " + (freshest === null ? "ever" : duration(freshest)) +
      " (idle tunnel, or the server is unreachable).", true);
  } else if (dead.length) {
    showBanner(dead.map((i) => i.label || i.name).join(", ") + (dead.length > 1 ? " look" : " looks") +
      " dead: no reply while other links hear the server.");
  } else {
    showBanner("");
  }
  return new Map(data.interfaces.filter((i) => i.counters).map((i) => ["if:" + i.name, i.counters]));
}

function drawServer(data, now) {
  const ages = data.sockets.map((s) => s.lastMs).filter((ms) => ms !== null && ms !== undefined);
  const freshest = ages.length ? Math.min(...ages) : null;
  const refused = Object.values(data.refused || {}).reduce((a, b) => a + b, 0);
  $("summary").replaceChildren(
    stat(String(data.clients || 0), "clients", data.clients ? "ok" : "bad"),
    stat(String(data.sockets.length), "client addresses", data.sockets.length ? "ok" : "bad"),
    stat(count(data.wireguard.sentPackets), "to WireGuard"),
    stat(count(data.wireguard.receivedPackets), "from WireGuard"),
    stat(count(data.wireguard.droppedNoPath), "replies with no client", data.wireguard.droppedNoPath ? "bad" : null),
    stat(count(refused), "refused (not WireGuard, strangers)"));
  // A client's addresses side by side.
  const sockets = [...data.sockets].sort((a, b) => a.client - b.client || a.address.localeCompare(b.address));
  $("cards").replaceChildren(...(sockets.length
    ? sockets.map((s) => socketCard(s, now, freshest))
    : [el("p", { class: "empty", text: "No client has sent anything recently." })]));
  $("others").hidden = true;
  $("actions").hidden = true;
  showBanner(data.sockets.length ? "" : "No client address is live: no engarde-client has been heard recently.", true);
  return new Map(data.sockets.map((s) => ["sock:" + s.address, s.counters]));
}

function drawHeader(data) {
  document.title = "engarde " + data.type + (data.description ? " · " + data.description : "");
  $("role").textContent = data.type;
  $("description").textContent = data.description || "engarde-" + data.type;
  const facts = data.type === "client"
    ? ["WireGuard sends to ", el("code", { text: data.listenAddress })]
    : ["Listening on ", el("code", { text: data.listenAddress }), ", WireGuard at ", el("code", { text: data.dstAddress })];
  $("facts").replaceChildren(...facts);
  $("version").textContent = "engarde " + data.version;
}

async function refresh() {
  if (busy) return;
  busy = true;
  const freshness = $("freshness");
  try {
    const response = await fetch(api("api/v1/get-list"), { cache: "no-store", credentials: "same-origin" });
    if (!response.ok) throw new Error(response.status + " " + response.statusText);
    const data = await response.json();
    const now = Date.now();
    drawHeader(data);
    const counters = data.type === "client" ? drawClient(data, now) : drawServer(data, now);
    previous = { at: now, counters };
    freshness.className = "freshness live";
    freshness.textContent = "live · " + new Date(now).toLocaleTimeString();
  } catch (error) {
    freshness.className = "freshness lost";
    freshness.textContent = "connection lost";
    showBanner("Cannot reach engarde (" + error.message + "); retrying every second.");
  } finally {
    busy = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("reset").addEventListener("click", async () => {
    try { await post("api/v1/reset-exclusions"); } catch (error) { showBanner("Reset failed: " + error.message); }
    refresh();
  });
  refresh();
  window.setInterval(refresh, POLL_MS);
});
