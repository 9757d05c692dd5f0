// LLMPulse dashboard: draws the Plotly figures built by the server, keeps controls in the
// URL, auto-refreshes, sorts tables, opens request details.
(function () {
  "use strict";
  const css = getComputedStyle(document.documentElement);
  const color = (name) => css.getPropertyValue(name).trim();

  function themed(layout) {
    return Object.assign({}, layout, {
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      font: { color: color("--text"), size: 11 },
      xaxis: Object.assign({ gridcolor: color("--line") }, layout.xaxis || {}),
      yaxis: Object.assign({ gridcolor: color("--line") }, layout.yaxis || {}),
    });
  }

  function drawCharts() {
    const figures = JSON.parse(document.getElementById("figures").textContent || "{}");
    document.querySelectorAll("[data-chart]").forEach((el) => {
      const fig = figures[el.dataset.chart];
      if (!fig) return;
      Plotly.newPlot(el, fig.data, themed(fig.layout), { responsive: true, displaylogo: false });
    });
  }

  function controls() {
    const form = document.querySelector("form.controls");
    if (!form) return;
    form.querySelectorAll("select[name=range], select[name=refresh]").forEach((el) =>
      el.addEventListener("change", () => form.submit()));
    const range = form.querySelector("select[name=range]");
    const custom = form.querySelector(".custom");
    if (range && custom) custom.hidden = range.value !== "custom";
    const add = document.getElementById("add-filter");
    if (add) add.addEventListener("click", () => {
      const value = document.getElementById("filter-value").value.trim();
      if (!value) return;
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = document.getElementById("filter-dim").value;
      input.value = value;
      form.appendChild(input);
      form.submit();
    });
    form.querySelectorAll("input[name=compare]").forEach((el) =>
      el.addEventListener("change", () => form.submit()));
    const refresh = form.querySelector("select[name=refresh]");
    const seconds = { "5s": 5, "30s": 30 }[refresh ? refresh.value : "off"];
    if (seconds) setTimeout(() => location.reload(), seconds * 1000);
  }

  function sortableTables() {
    document.querySelectorAll("table.sortable th").forEach((th, index) => {
      th.addEventListener("click", () => {
        const tbody = th.closest("table").querySelector("tbody");
        const asc = th.dataset.order !== "asc";
        th.dataset.order = asc ? "asc" : "desc";
        const value = (tr) => {
          const cell = tr.children[index];
          const raw = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent;
          const n = parseFloat(raw);
          return isNaN(n) ? raw : n;
        };
        Array.from(tbody.rows)
          .sort((a, b) => (value(a) > value(b) ? 1 : value(a) < value(b) ? -1 : 0) * (asc ? 1 : -1))
          .forEach((tr) => tbody.appendChild(tr));
      });
    });
  }

  function field(name, value) {
    const row = document.createElement("tr");
    const k = document.createElement("th");
    k.textContent = name;
    const v = document.createElement("td");
    v.textContent = typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
    row.append(k, v);
    return row;
  }

  function callsTable(title, calls) {
    const section = document.createElement("div");
    const h = document.createElement("h2");
    h.textContent = `${title} (${calls.length})`;
    section.appendChild(h);
    const list = document.createElement("ul");
    calls.forEach((c) => {
      const li = document.createElement("li");
      li.textContent = `${c.ts}  ${c.model_id}  ${c.status}  ${Math.round(c.latency_ms)} ms  ${c.operation}`;
      list.appendChild(li);
    });
    section.appendChild(list);
    return section;
  }

  async function openDetail(eventId, row) {
    const panel = document.getElementById("detail");
    document.querySelectorAll("tr.selected").forEach((r) => r.classList.remove("selected"));
    row.classList.add("selected");
    panel.textContent = "Loading…";
    const [event, related] = await Promise.all([
      fetch(`/v1/requests/${eventId}`).then((r) => r.json()),
      fetch(`/v1/requests/${eventId}/related`).then((r) => r.json()),
    ]);
    panel.textContent = "";
    const h = document.createElement("h2");
    h.textContent = `Request ${event.event_id}`;
    panel.appendChild(h);
    ["prompt", "completion"].forEach((name) => {
      if (!event[name]) return;
      const t = document.createElement("h2");
      t.textContent = name;
      const pre = document.createElement("pre");
      pre.textContent = event[name];
      panel.append(t, pre);
    });
    const table = document.createElement("table");
    Object.entries(event).forEach(([k, val]) => {
      if (k !== "prompt" && k !== "completion") table.appendChild(field(k, val));
    });
    const wrap = document.createElement("div");
    wrap.className = "table-wrap";
    wrap.appendChild(table);
    panel.appendChild(wrap);
    panel.appendChild(callsTable("Same trace", related.trace || []));
    panel.appendChild(callsTable("Same session", related.session || []));
  }

  function requestRows() {
    document.querySelectorAll("tr[data-event]").forEach((row) =>
      row.addEventListener("click", () => openDetail(row.dataset.event, row)));
  }

  window.addEventListener("DOMContentLoaded", () => {
    controls();
    sortableTables();
    requestRows();
    if (window.Plotly) drawCharts();
  });
})();
