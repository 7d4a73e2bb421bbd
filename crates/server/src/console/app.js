// The Gatehouse operations console: polls console/data and draws it. Every value from the
// gateway is set as text (never parsed as HTML): request paths and route names come from
// whoever sent requests or wrote routes.
"use strict";
(function () {
  const base = (document.currentScript && document.currentScript.dataset.base) || "/openig/";
  const SVG = "http://www.w3.org/2000/svg";
  const history = []; // { t: ms, requests: n }

  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === "class") e.className = v;
      else if (k === "title") e.title = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function svg(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    return e;
  }

  const num = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US", { maximumFractionDigits: 2 }));
  const ms = (v) => (v === null || v === undefined ? "–" : v < 1 ? v.toFixed(2) + " ms" : v < 100 ? v.toFixed(1) + " ms" : Math.round(v) + " ms");
  const time = (t) => new Date(t).toISOString().replace("T", " ").slice(0, 19) + " UTC";

  function ago(t, now) {
    const s = Math.max(0, Math.round((now - t) / 1000));
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.round(s / 60) + " min ago";
    if (s < 86400) return Math.round(s / 3600) + " h ago";
    return Math.round(s / 86400) + " d ago";
  }

  function uptime(s) {
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    return d > 0 ? d + "d " + h + "h" : h > 0 ? h + "h " + m + "m" : m + "m " + (s % 60) + "s";
  }

  // The sum of a figure's samples whose labels match `where`.
  function sum(figures, name, where) {
    return figures
      .filter((f) => f.name === name && Object.entries(where || {}).every(([k, v]) => f.labels[k] === v))
      .reduce((a, f) => a + f.value, 0);
  }

  function fill(tbody, rows, columns, empty) {
    tbody.replaceChildren();
    if (rows.length === 0) {
      tbody.append(el("tr", {}, el("td", { class: "empty", colspan: String(columns) }, empty)));
    }
    for (const r of rows) tbody.append(r);
  }

  function tile(label, value, bad) {
    return el("div", { class: "tile" + (bad ? " bad" : "") }, el("div", { class: "label" }, label), el("div", { class: "value" }, value));
  }

  function tiles(d) {
    const f = d.figures;
    const requests = sum(f, "gatehouse_responses_total");
    const errors = sum(f, "gatehouse_responses_total", { class: "5xx" });
    const failedLoads = sum(f, "gatehouse_route_loads_total", { outcome: "failed" });
    const soon = d.certificates.filter((c) => c.daysLeft < 30).length;
    document.getElementById("tiles").replaceChildren(
      tile("Requests", num(requests)),
      tile("Server errors", num(errors), errors > 0),
      tile("Routes loaded", num(d.routes.filter((r) => r.loaded).length)),
      tile("Failed route loads", num(failedLoads), failedLoads > 0),
      tile("Open connections", num(sum(f, "gatehouse_connections_open"))),
      tile("In flight", num(sum(f, "gatehouse_exchanges_in_flight"))),
      tile("Certificates expiring < 30 d", num(soon), soon > 0),
      tile("Uptime", uptime(Math.round((d.gateway.now - d.gateway.started) / 1000)))
    );
  }

  function traffic(d) {
    history.push({ t: d.gateway.now, requests: sum(d.figures, "gatehouse_responses_total") });
    if (history.length > 151) history.shift();
    const box = document.getElementById("traffic");
    const rates = [];
    for (let i = 1; i < history.length; i++) {
      const dt = (history[i].t - history[i - 1].t) / 1000;
      rates.push(dt > 0 ? Math.max(0, history[i].requests - history[i - 1].requests) / dt : 0);
    }
    if (rates.length === 0) {
      box.replaceChildren(el("p", { class: "small" }, "Collecting: the chart starts with the next refresh."));
      return;
    }
    const width = 600, height = 120, top = Math.max(1, ...rates);
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", class: "spark", role: "img" });
    const w = width / 150;
    rates.forEach((r, i) => {
      const h = Math.max(1, (r / top) * (height - 4));
      chart.append(svg("rect", { x: width - (rates.length - i) * w, y: height - h, width: Math.max(1, w - 1), height: h }));
    });
    const now = rates[rates.length - 1];
    box.replaceChildren(chart, el("p", { class: "small" }, `now ${num(now)} req/s · peak ${num(top)} req/s`));
  }

  // A small histogram of a route's latency buckets.
  function latencyBars(counts, bounds) {
    const top = Math.max(1, ...counts);
    const chart = svg("svg", { viewBox: "0 0 130 24", width: 130, height: 24, class: "spark", role: "img" });
    counts.forEach((c, i) => {
      const h = c === 0 ? 0 : Math.max(2, (c / top) * 22);
      const bar = svg("rect", { x: i * 10, y: 24 - h, width: 8, height: h });
      const title = svg("title");
      title.textContent = (i < bounds.length ? "≤ " + bounds[i] * 1000 + " ms" : "> " + bounds[bounds.length - 1] + " s") + ": " + c;
      bar.append(title);
      chart.append(bar);
    });
    return chart;
  }

  function routes(d) {
    const rows = d.routes.map((r) =>
      el(
        "tr",
        { class: r.loaded ? "" : "removed" },
        el("td", {}, el("strong", {}, r.name), r.loaded ? null : " (removed)", el("div", { class: "small" }, r.file)),
        el("td", {}, r.condition ? el("code", {}, r.condition) : el("span", { class: "small" }, "always")),
        el("td", { class: "n" }, num(r.requests)),
        el("td", { class: "n" }, num(r.classes["2xx"])),
        el("td", { class: "n" }, num(r.classes["3xx"])),
        el("td", { class: "n" }, num(r.classes["4xx"])),
        el("td", { class: "n" + (r.classes["5xx"] > 0 ? " bad-text" : "") }, num(r.classes["5xx"])),
        el("td", { class: "n" }, ms(r.p50)),
        el("td", { class: "n" }, ms(r.p90)),
        el("td", { class: "n" }, ms(r.p99)),
        el("td", {}, latencyBars(r.latency, d.latencyBounds))
      )
    );
    fill(document.querySelector("#routes tbody"), rows, 11, "No routes have loaded.");
  }

  function errors(d) {
    const rows = d.errors.map((e) =>
      el(
        "tr",
        {},
        el("td", { title: time(e.at) }, ago(e.at, d.gateway.now)),
        el("td", {}, el("span", { class: "badge bad" }, e.status)),
        el("td", {}, el("code", {}, e.method + " " + e.path)),
        el("td", {}, e.route || "–"),
        el("td", { class: "small" }, e.requestId)
      )
    );
    fill(document.querySelector("#errors tbody"), rows, 5, "No server errors.");
  }

  function reloads(d) {
    const kind = { loaded: "ok", reloaded: "ok", removed: "", failed: "bad" };
    const rows = d.reloads.map((r) =>
      el(
        "tr",
        {},
        el("td", { title: time(r.at) }, ago(r.at, d.gateway.now)),
        el("td", {}, el("span", { class: "badge " + (kind[r.outcome] || "") }, r.outcome)),
        el("td", {}, r.route || "–"),
        el("td", {}, el("div", { class: "small" }, r.file), r.message ? el("div", { class: "message" }, r.message) : null)
      )
    );
    fill(document.querySelector("#reloads tbody"), rows, 4, "No route loads yet.");
  }

  function certificates(d) {
    const rows = d.certificates.map((c) => {
      const span = Math.max(1, c.notAfter - c.notBefore);
      const used = Math.min(100, Math.max(0, ((d.gateway.now - c.notBefore) / span) * 100));
      const level = c.daysLeft < 14 ? "bad" : c.daysLeft < 30 ? "warn" : "";
      return el(
        "tr",
        {},
        el("td", {}, c.subject, el("div", { class: "small" }, "issued by " + c.issuer)),
        el("td", { class: "small" }, c.names.join(", ") || "–"),
        el("td", { class: "small" }, c.secretId),
        el("td", {}, time(c.notAfter).slice(0, 10)),
        el("td", { class: "n" + (level === "bad" ? " bad-text" : "") }, c.daysLeft < 0 ? "expired" : num(c.daysLeft) + " days"),
        el("td", {}, el("div", { class: "bar", title: Math.round(used) + "% of its validity used" }, el("div", { class: level })))
      );
    });
    fill(document.querySelector("#certificates tbody"), rows, 6, "No TLS certificates are in use.");
    // Widths through the CSSOM (the page's policy forbids inline style attributes).
    document.querySelectorAll("#certificates .bar > div").forEach((bar, i) => {
      const c = d.certificates[i];
      const span = Math.max(1, c.notAfter - c.notBefore);
      bar.style.width = Math.min(100, Math.max(2, ((d.gateway.now - c.notBefore) / span) * 100)) + "%";
    });
  }

  function label(f) {
    const labels = Object.entries(f.labels).map(([k, v]) => k + "=" + v);
    return f.name.replace(/^gatehouse_/, "") + (labels.length ? " {" + labels.join(", ") + "}" : "");
  }

  function figureList(figures, empty) {
    if (figures.length === 0) return el("p", { class: "small" }, empty);
    const dl = el("dl", { class: "figures" });
    for (const f of figures) dl.append(el("dt", {}, label(f)), el("dd", {}, num(f.value)));
    return dl;
  }

  // Horizontal bars of a labelled counter summed by one label.
  function hbars(figures, name, by) {
    const totals = {};
    for (const f of figures.filter((f) => f.name === name)) totals[f.labels[by]] = (totals[f.labels[by]] || 0) + f.value;
    const entries = Object.entries(totals);
    if (entries.length === 0) return null;
    const top = Math.max(1, ...entries.map(([, v]) => v));
    const box = el("div", { class: "hbars", role: "img" });
    for (const [k, v] of entries) {
      const fillBar = el("div", { class: "fill" });
      box.append(el("span", {}, k), el("div", { class: "track" }, fillBar), el("span", { class: "n" }, num(v)));
      fillBar.style.width = Math.max(2, (v / top) * 100) + "%";
    }
    return box;
  }

  function groups(d) {
    const f = d.figures;
    const tokens = f.filter((x) => /^gatehouse_(tokens?_|client_token)/.test(x.name));
    const relay = f.filter((x) => x.name.startsWith("gatehouse_relay_"));
    const other = f.filter((x) => /^gatehouse_(connections|tls_|session|accept|exchanges|upstream|secret_store|trace_)/.test(x.name));
    document.getElementById("tokens").replaceChildren(
      figureList(tokens, "No token service in this configuration.")
    );
    document.getElementById("relay").replaceChildren(
      figureList(relay, "No messaging relay in this configuration."),
      hbars(f, "gatehouse_relay_commands_total", "state") || ""
    );
    document.getElementById("other").replaceChildren(figureList(other, "No figures yet."));
  }

  function render(d) {
    document.getElementById("version").textContent =
      "v" + d.gateway.version + " (" + d.gateway.revision + ") · " + d.gateway.mode;
    const status = document.getElementById("status");
    status.textContent = "live";
    status.className = "badge ok";
    tiles(d);
    traffic(d);
    routes(d);
    errors(d);
    reloads(d);
    certificates(d);
    groups(d);
    document.getElementById("updated").textContent = "Last refresh " + time(d.gateway.now) + ".";
  }

  async function refresh() {
    try {
      const r = await fetch(base + "console/data", { cache: "no-store", credentials: "same-origin" });
      if (!r.ok) throw new Error("HTTP " + r.status);
      render(await r.json());
    } catch (e) {
      const status = document.getElementById("status");
      status.textContent = "unreachable: " + e.message;
      status.className = "badge bad";
    }
    setTimeout(refresh, 2000);
  }

  refresh();
})();
