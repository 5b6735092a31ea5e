// sms-dispatch dashboard: reads /v1/dashboard with the operator key kept in this tab.
"use strict";
const OUTCOMES = ["accepted", "retryable", "ambiguous", "rejected", "provider_error"];
const $ = (id) => document.getElementById(id);

function key() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("key");
  if (fromHash) {
    sessionStorage.setItem("smsd-key", fromHash);
    history.replaceState(null, "", location.pathname);  // keep the key out of the address bar
  }
  return sessionStorage.getItem("smsd-key");
}

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) tr.append(cell instanceof Node ? cell : el("td", cell));
  return tr;
}

const iso = (ms) => new Date(ms).toISOString().slice(0, 19).replace("T", " ");
const pct = (v) => (v === null || v === undefined ? "-" : (v * 100).toFixed(1) + "%");
const num = (v) => (v === null || v === undefined ? "-" : Math.round(v));

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { Authorization: "Bearer " + key(), ...(options.headers || {}) },
  });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error ? body.error.code + ": " + body.error.message : response.status);
  return body;
}

function summary(data) {
  const cards = [
    ...["sms.high", "sms.normal", "sms.bulk"].map((q) => [`${q}: jobs, ready`, `${data.queues[q]}, ${data.ready[q]}`]),
    ["in flight", data.in_flight],
    ["waiting to retry", data.waiting_to_retry], ["dead letters", data.dead_letters],
    ["callbacks pending", data.callbacks_pending], ["awaiting reports", data.awaiting_reports],
    ["opt-outs", data.opt_outs], ["inbound texts kept", data.inbound_kept],
    ...Object.entries(data.refused || {}).map(([code, n]) => [`refused: ${code.replaceAll("_", " ")}`, n]),
    ["smart-encoded to GSM-7", data.smart_encoded],
    ...(data.spend ? [[`spend today, ${data.spend.currency}`, data.spend.day.all || 0],
      [`spend this month, ${data.spend.currency}`, data.spend.month.all || 0],
      ...data.spend.caps.map((cap) => [`cap ${cap.name} (${cap.period})`, `${Math.round(cap.share * 100)}%`])] : []),
    ...Object.entries(data.brakes || {}).filter(([, until]) => until > data.at_ms)
      .map(([country, until]) => [`OTPs to ${country} held until`, new Date(until).toISOString().slice(11, 19)]),
    ...Object.entries(data.awaiting_lookups || {}).filter(([, n]) => n > 0)
      .map(([provider, n]) => [`${provider}: awaiting status lookup`, n]),
  ];
  $("summary").replaceChildren(...cards.map(([label, value]) => {
    const card = el("div", label, "card");
    card.prepend(el("b", value));
    return card;
  }));
  $("workers").replaceChildren(...(data.workers.length ? data.workers.map((w) =>
    el("li", `${w.name}: last job or canary ${(w.age_ms / 1000).toFixed(1)} s ago${w.stale ? " (STALE)" : ""}`,
      w.stale ? "stale" : "")) : [el("li", "no worker has been seen", "stale")]));
}

function providers(data) {
  $("providers").tBodies[0].replaceChildren(...data.providers.map((p) => {
    const notes = [];
    if (p.circuit !== "closed") notes.push(p.circuit_reason);
    if (p.paused_until_ms) notes.push("paused after 429");
    if (!p.enabled) notes.push("disabled");
    return row([
      el("td", p.name), el("td", p.circuit, p.circuit), el("td", p.window.calls, "num"),
      el("td", pct(p.window.success_rate), "num"), el("td", num(p.window.p50_ms), "num"),
      el("td", num(p.window.p95_ms), "num"), el("td", pct(p.rate_use), "num"), el("td", notes.join("; ")),
    ]);
  }));
}

function delivery(data) {
  const seconds = (ms) => (ms === null ? "-" : (ms / 1000).toFixed(1));
  const rows = data.providers.flatMap((p) => Object.entries(p.delivery || {}).map(([country, d]) => row([
    el("td", p.name), el("td", /^\d+$/.test(country) ? `+${country}` : country),
    el("td", d.delivered, "num"), el("td", d.undelivered, "num"), el("td", pct(d.delivery_rate), "num"),
    el("td", seconds(d.report_p50_ms), "num"), el("td", seconds(d.report_p95_ms), "num"),
  ])));
  $("delivery").tBodies[0].replaceChildren(...(rows.length ? rows
    : [row([Object.assign(el("td", "no final delivery report in the window"), { colSpan: 7 })])]));
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

function chart(name, minutes) {
  const width = 600, height = 80, bar = width / minutes.length;
  const most = Math.max(1, ...minutes.map((m) => OUTCOMES.reduce((s, o) => s + m.outcomes[o], 0)));
  const latencies = minutes.map((m) => m.mean_latency_ms).filter((v) => v !== null);
  const slowest = Math.max(1, ...latencies);
  const picture = svg("svg", {
    viewBox: `0 0 ${width} ${height}`, width: "100%", height, role: "img", preserveAspectRatio: "none",
  });
  picture.append(svg("title", {}));
  picture.firstChild.textContent = `${name}: attempts per minute by outcome, and mean latency`;
  const points = [];
  minutes.forEach((m, i) => {
    let y = height;
    for (const outcome of OUTCOMES) {
      const h = (m.outcomes[outcome] / most) * (height - 4);
      if (h > 0) {
        y -= h;
        picture.append(svg("rect", { x: i * bar + 1, y, width: bar - 2, height: h, class: outcome }));
      }
    }
    if (m.mean_latency_ms !== null) {
      points.push(`${i * bar + bar / 2},${height - (m.mean_latency_ms / slowest) * (height - 4)}`);
    }
  });
  if (points.length > 1) picture.append(svg("polyline", { points: points.join(" "), class: "latency" }));
  const total = minutes.reduce((s, m) => s + OUTCOMES.reduce((t, o) => t + m.outcomes[o], 0), 0);
  const box = el("div", null, "chart");
  box.dataset.provider = name;
  const title = total
    ? `${name}: ${total} attempts in the last hour; slowest minute ${Math.round(slowest)} ms mean`
    : `${name}: no attempts in the last hour`;
  box.append(el("h3", title), picture);
  return box;
}

function deadLetters(data) {
  $("dead-letters").tBodies[0].replaceChildren(...data.dead_letters_latest.map((d) => {
    const button = el("button", "Replay");
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const done = await api(`/v1/dead-letters/${encodeURIComponent(d.id)}/replay`, { method: "POST" });
        button.replaceWith(el("span", "replayed as " + done.id));
      } catch (error) {
        button.replaceWith(el("span", String(error)));
      }
    });
    const action = el("td");
    action.append(button);
    return row([d.id, iso(d.dead_lettered_at_ms), d.final_reason, d.provider || "-", d.to,
      (d.final_detail || "").slice(0, 80), action]);
  }));
}

async function refresh() {
  try {
    const data = await api("/v1/dashboard");
    summary(data);
    providers(data);
    delivery(data);
    $("charts").replaceChildren(...Object.entries(data.hour).map(([name, minutes]) => chart(name, minutes)));
    deadLetters(data);
    $("updated").textContent = "updated " + iso(data.at_ms) + " UTC";
    $("board").hidden = false;
    $("error").hidden = true;
  } catch (error) {
    $("error").textContent = String(error);
    $("error").hidden = false;
    if (String(error).startsWith("unauthorized") || String(error).startsWith("forbidden")) {
      sessionStorage.removeItem("smsd-key");
      $("login").hidden = false;
    }
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem("smsd-key", $("key").value);
    $("login").hidden = true;
    refresh();
  });
  if (!key()) {
    $("login").hidden = false;
    return;
  }
  refresh();
  setInterval(refresh, 5000);
});
