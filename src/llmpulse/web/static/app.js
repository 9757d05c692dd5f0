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

  // Every table gets "Download CSV": its rows as shown (after sorting), as a file.
  function csvCell(text) {
    const value = text.replace(/\s+/g, " ").trim();
    return /[",\n]/.test(value) ? '"' + value.replace(/"/g, '""') + '"' : value;
  }

  function downloadButtons() {
    document.querySelectorAll(".table-wrap > table").forEach((table) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "download-csv";
      button.textContent = "Download CSV";
      button.addEventListener("click", () => {
        const rows = Array.from(table.querySelectorAll("tr"))
          .filter((tr) => !tr.querySelector("td[colspan]"))
          .map((tr) => Array.from(tr.children).map((cell) => csvCell(cell.textContent)).join(","));
        const blob = new Blob([rows.join("\n") + "\n"], { type: "text/csv" });
        const link = document.createElement("a");
        link.href = URL.createObjectURL(blob);
        link.download = (table.id || "table") + ".csv";
        link.click();
        URL.revokeObjectURL(link.href);
      });
      table.parentElement.before(button);
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

  // The whole trace as an indented tree: LLM calls and the chains, tools and agents around them.
  function traceTree(trace, currentSpan) {
    const section = document.createElement("div");
    section.id = "trace-tree";
    const h = document.createElement("h2");
    h.textContent = `Trace (${trace.spans.length} spans, ${Math.round(trace.duration_ms)} ms)`;
    section.appendChild(h);
    // Spans without an id, with a missing or their own parent, are roots; a loop of
    // parents (bad data) is drawn once, never walked forever.
    const ids = new Set(trace.spans.map((sp) => sp.span_id).filter(Boolean));
    const parentOf = (sp) => (sp.parent_span_id && sp.parent_span_id !== sp.span_id &&
      ids.has(sp.parent_span_id) ? sp.parent_span_id : null);
    const children = new Map();
    trace.spans.forEach((sp) => {
      const parent = parentOf(sp);
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent).push(sp);
    });
    const start = Date.parse(trace.start);
    const list = document.createElement("ul");
    const drawn = new Set();
    const draw = (sp, depth) => {
      if (drawn.has(sp)) return;
      drawn.add(sp);
      const li = document.createElement("li");
      li.style.paddingLeft = `${depth * 1.2}em`;
      li.dataset.span = sp.span_id;
      if (sp.span_id && sp.span_id === currentSpan) li.className = "current";
      const offset = Date.parse(sp.ts) - start;
      li.textContent = `${sp.name} (${sp.type === "llm" ? sp.kind + ", LLM" : sp.kind})  ` +
        `+${offset} ms  ${Math.round(sp.latency_ms)} ms  ${sp.status}` +
        (sp.error_type ? ` ${sp.error_type}` : "");
      list.appendChild(li);
      if (sp.span_id) (children.get(sp.span_id) || []).forEach((child) => draw(child, depth + 1));
    };
    (children.get(null) || []).forEach((sp) => draw(sp, 0));
    trace.spans.forEach((sp) => draw(sp, 0));  // what a loop of parents left out
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
    if (event.trace_id) {
      const res = await fetch(`/v1/traces/${encodeURIComponent(event.trace_id)}`);
      if (res.ok) panel.appendChild(traceTree(await res.json(), event.span_id));
    }
    panel.appendChild(callsTable("Same trace", related.trace || []));
    panel.appendChild(callsTable("Same session", related.session || []));
    if (event.trace_id) panel.appendChild(await traceLogs(event));
  }

  // The application's log records of the call's trace, a day either side of the call.
  async function traceLogs(event) {
    const at = Date.parse(event.ts);
    const day = 86400000;
    const params = new URLSearchParams({
      trace_id: event.trace_id, limit: "200",
      from: new Date(at - day).toISOString(), to: new Date(at + day).toISOString(),
    });
    const res = await fetch(`/v1/logs?${params}`);
    const logs = res.ok ? (await res.json()).logs : [];
    const section = document.createElement("div");
    section.id = "trace-logs";
    const h = document.createElement("h2");
    const link = document.createElement("a");
    link.href = `/logs?range=custom&trace_id=${encodeURIComponent(event.trace_id)}&from=${params.get("from")}&to=${params.get("to")}`;
    link.textContent = `Logs of this trace (${logs.length})`;
    h.appendChild(link);
    section.appendChild(h);
    const list = document.createElement("ul");
    logs.forEach((r) => {
      const li = document.createElement("li");
      li.className = `level-${r.level.toLowerCase()}`;
      li.textContent = `${r.ts}  ${r.level}  ${r.service}  ${r.message}`;
      list.appendChild(li);
    });
    section.appendChild(list);
    return section;
  }

  function requestRows() {
    document.querySelectorAll("tr[data-event]").forEach((row) =>
      row.addEventListener("click", () => openDetail(row.dataset.event, row)));
  }

  // --- Playground: stream an answer, then show the stored event's cost. ---
  async function apiJson(method, path, body) {
    const res = await fetch(path, {
      method, headers: { "Content-Type": "application/json" },
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = await res.json();
    if (!res.ok) throw new Error(data.error || res.statusText);
    return data;
  }

  function setText(id, text) { document.getElementById(id).textContent = text; }

  async function showCost(eventId) {
    for (let i = 0; i < 40; i++) {  // the loader stores it within a second or two
      // A search, not /v1/requests/{id}: "not stored yet" is then an empty list, not a 404.
      const res = await fetch(`/v1/requests?from=-1h&q=${encodeURIComponent(eventId)}`);
      const found = res.ok ? (await res.json()).requests : [];
      if (found.length) {
        const e = found[0];
        setText("pg-cost", e.cost_usd == null ? "unpriced" : `$${e.cost_usd.toFixed(6)}`);
        const link = document.createElement("a");
        link.href = `/requests?q=${eventId}`;
        link.textContent = eventId;
        document.getElementById("pg-event").replaceChildren(link);
        return;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async function send() {
    const maxTokens = document.getElementById("pg-max-tokens").value;
    const body = {
      endpoint: document.getElementById("pg-endpoint").value,
      model: document.getElementById("pg-model").value,
      prompt: document.getElementById("pg-prompt").value,
      max_tokens: maxTokens ? Number(maxTokens) : null,
    };
    const answer = document.getElementById("pg-answer");
    answer.textContent = "";
    ["pg-latency", "pg-ttft", "pg-tokens", "pg-cost", "pg-event"].forEach((id) => setText(id, "…"));
    const res = await fetch("/v1/playground/chat", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    if (!res.ok) {
      answer.textContent = (await res.json()).error;
      return;
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const message = JSON.parse(buffer.slice(0, cut).replace(/^data: /, ""));
        buffer = buffer.slice(cut + 2);
        if (message.delta) answer.textContent += message.delta;
        if (message.error) answer.textContent += `\n[${message.error}]`;
        if (message.done) {
          const e = message.done;
          setText("pg-latency", `${e.latency_ms.toFixed(0)} ms`);
          setText("pg-ttft", e.ttft_ms == null ? "-" : `${e.ttft_ms.toFixed(0)} ms`);
          setText("pg-tokens", `${e.tokens_in ?? "-"} / ${e.tokens_out ?? "-"}`);
          showCost(e.event_id);
        }
      }
    }
  }

  function autoProgress(run) {
    setText("auto-progress", run.running || run.sent
      ? `${run.running ? "running" : "stopped"}: ${run.sent} of ${run.total ?? run.sent} sent, ` +
        `${run.ok ?? 0} ok, ${run.failed ?? 0} failed` +
        (run.last_latency_ms ? `, last ${run.last_latency_ms.toFixed(0)} ms` : "")
      : "not running");
    return run.running;
  }

  function autoRun() {
    const value = (id) => document.getElementById(id).value;
    return {
      endpoint: value("pg-endpoint"),
      model: value("pg-model"),
      prompts: value("auto-prompts"),
      delay_s: Number(value("auto-delay")),
      count: Number(value("auto-count")),
      max_tokens: Number(value("auto-max-tokens")),
    };
  }

  // What a run would cost at most, shown before it is started and kept up to date.
  async function showEstimate() {
    try {
      const e = await apiJson("POST", "/v1/playground/autostream/estimate", autoRun());
      const cost = e.cost_source === "unpriced"
        ? "cost unknown (the model has no price)"
        : `at most $${e.max_cost_usd.toFixed(4)}`;
      setText("auto-estimate",
        `Estimate: ${e.calls.toLocaleString("en-US")} calls over ~${Math.round(e.duration_s)} s, ` +
        `~${e.tokens_in.toLocaleString("en-US")} tokens in, ` +
        `≤ ${e.max_tokens_out.toLocaleString("en-US")} out, ${cost}`);
    } catch (err) { setText("auto-estimate", `Cannot start: ${err.message}`); }
  }

  function playground() {
    const section = document.getElementById("playground");
    if (!section) return;
    document.getElementById("pg-send").addEventListener("click", () =>
      send().catch((err) => setText("pg-answer", String(err))));
    let poll = null;
    const watch = () => {
      clearInterval(poll);
      poll = setInterval(async () => {
        if (!autoProgress(await apiJson("GET", "/v1/playground/autostream"))) clearInterval(poll);
      }, 500);
    };
    ["pg-endpoint", "pg-model", "auto-prompts", "auto-delay", "auto-count", "auto-max-tokens"]
      .forEach((id) => document.getElementById(id).addEventListener("change", showEstimate));
    showEstimate();
    document.getElementById("auto-start").addEventListener("click", async () => {
      try {
        autoProgress(await apiJson("POST", "/v1/playground/autostream", autoRun()));
        watch();
      } catch (err) { setText("auto-progress", String(err)); }
    });
    document.getElementById("auto-stop").addEventListener("click", async () =>
      autoProgress(await apiJson("DELETE", "/v1/playground/autostream")));
    apiJson("GET", "/v1/playground/autostream").then((run) => { if (autoProgress(run)) watch(); });
  }

  // --- Alerts: enable a starter, end a silence; the rule editor's backtest and save. ---
  function alertButtons() {
    document.querySelectorAll("[data-enable]").forEach((b) => b.addEventListener("click", async () => {
      await apiJson("PUT", `/v1/alerts/rules/${b.dataset.enable}`, JSON.parse(b.dataset.rule));
      location.reload();
    }));
    document.querySelectorAll("[data-unsilence]").forEach((b) => b.addEventListener("click", async () => {
      await apiJson("DELETE", `/v1/alerts/silences/${b.dataset.unsilence}`);
      location.reload();
    }));
  }

  function ruleFromForm(form) {
    const rule = {};
    const text = (name) => form.elements[name].value.trim();
    ["name", "metric", "comparison", "window", "every", "no_data"].forEach((n) => { rule[n] = text(n); });
    ["for", "keep_firing_for"].forEach((n) => { if (text(n)) rule[n] = text(n); });
    ["warning", "critical", "confidence"].forEach((n) => { if (text(n)) rule[n] = Number(text(n)); });
    if (text("min_requests")) rule.min_requests = Number(text("min_requests"));
    const picked = (name) => [...form.elements[name].selectedOptions].map((o) => o.value);
    rule.group_by = picked("group_by");
    rule.channels = picked("channels");
    rule.filters = {};
    text("filters").split(",").map((f) => f.trim()).filter(Boolean).forEach((f) => {
      const [k, v] = f.split("=").map((x) => x.trim());
      (rule.filters[k] = rule.filters[k] || []).push(v);
    });
    return rule;
  }

  function fillForm(form, rule) {
    Object.entries(rule).forEach(([k, v]) => {
      const el = form.elements[k];
      if (!el || v === null || v === undefined) return;
      if (el.multiple) [...el.options].forEach((o) => { o.selected = v.includes(o.value); });
      else if (k === "filters") el.value = Object.entries(v).flatMap(([d, vals]) => vals.map((x) => `${d}=${x}`)).join(", ");
      else el.value = v;
    });
  }

  function drawBacktest(result, rule) {
    const traces = result.series.map((s) => ({
      type: "scatter", mode: "lines", name: Object.values(s.group).join("/") || rule.metric,
      x: s.points.map((p) => p.t), y: s.points.map((p) => p.value),
    }));
    const span = result.series.length ? result.series[0].points : [];
    ["warning", "critical"].forEach((level) => {
      if (rule[level] === undefined || !span.length) return;
      traces.push({ type: "scatter", mode: "lines", name: level, line: { dash: "dash" },
        x: [span[0].t, span[span.length - 1].t], y: [rule[level], rule[level]] });
    });
    Plotly.newPlot("backtest-chart", traces, themed({ height: 300, margin: { l: 48, r: 12, t: 8, b: 36 } }),
      { responsive: true, displaylogo: false });
    const body = document.querySelector("#episodes tbody");
    body.replaceChildren(...result.episodes.map((e) => {
      const tr = document.createElement("tr");
      [e.fired_at, e.resolved_at || "still firing", e.severity, Object.values(e.group).join("/"),
       e.peak == null ? "" : e.peak.toPrecision(4)].forEach((text) => {
        const td = document.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      });
      return tr;
    }));
  }

  function ruleEditor() {
    const form = document.getElementById("rule-form");
    if (!form) return;
    fillForm(form, JSON.parse(form.dataset.rule));
    const message = (text) => setText("rule-message", text);
    document.getElementById("backtest").addEventListener("click", async () => {
      const rule = ruleFromForm(form);
      try {
        const result = await apiJson("POST", "/v1/alerts/rules/backtest", { rule });
        drawBacktest(result, rule);
        message(`Would have fired ${result.fired} time(s) in ${result.evaluations} evaluations (every ${result.step} s).`);
      } catch (err) { message(err.message); }
    });
    const save = document.getElementById("save-rule");
    if (save) save.addEventListener("click", async () => {
      const rule = ruleFromForm(form);
      const id = form.elements.id.value.trim() ||
        rule.name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
      try {
        await apiJson("PUT", `/v1/alerts/rules/${encodeURIComponent(id)}`, rule);
        location.href = "/alerts";
      } catch (err) { message(err.message); }
    });
  }

  window.addEventListener("DOMContentLoaded", () => {
    alertButtons();
    ruleEditor();
    playground();
    controls();
    sortableTables();
    downloadButtons();
    requestRows();
    if (window.Plotly) drawCharts();
  });
})();
