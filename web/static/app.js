// Pitwall's pages: live values over server-sent events, the feed, and
// history charts drawn with uPlot. No framework, no external requests.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf"]').content;

function fmt(sig, v) {
  if (v === undefined || v === null) return "–";
  const digits = /Voltage/.test(sig) ? 1 : 0;
  return Number(v).toFixed(digits);
}

// Live: each [data-live] element streams vehicle views; elements inside a
// [data-vehicle] carrying data-sig or data-field are updated.
function live() {
  document.querySelectorAll("[data-live]").forEach((root) => {
    const es = new EventSource(root.dataset.live);
    es.addEventListener("vehicle", (ev) => {
      const v = JSON.parse(ev.data);
      const scopes = document.querySelectorAll('[data-vehicle="' + v.id + '"]');
      scopes.forEach((scope) => {
        scope.querySelectorAll("[data-sig]").forEach((el) => { el.textContent = fmt(el.dataset.sig, v.latest[el.dataset.sig]); });
        scope.querySelectorAll("[data-gauge]").forEach((g) => {
          const val = v.latest[g.dataset.gauge];
          if (val === undefined) return;
          const min = +g.dataset.min, max = +g.dataset.max;
          g.querySelector(".fill").style.width = Math.max(0, Math.min(100, 100 * (val - min) / (max - min))) + "%";
        });
        const st = scope.querySelector('[data-field="status"]');
        if (st) st.textContent = v.online ? "online" : "offline";
        scope.querySelectorAll('[data-field="online"]').forEach((d) => d.classList.toggle("on", v.online));
      });
      // The odometer and other values outside the card.
      document.querySelectorAll('[data-sig="Vehicle.TraveledDistance"]').forEach((el) => { el.textContent = fmt("", v.latest["Vehicle.TraveledDistance"]); });
    });
  });
}

function feed() {
  const list = document.querySelector("[data-feed]");
  if (!list) return;
  const es = new EventSource(list.dataset.feed);
  es.addEventListener("alert", (ev) => {
    const empty = list.querySelector(".empty");
    if (empty) empty.remove();
    const it = JSON.parse(ev.data);
    const li = document.createElement("li");
    const when = document.createElement("span");
    when.className = "muted";
    when.textContent = new Date(it.time).toUTCString().slice(0, 22) + " ";
    li.append(when, document.createTextNode(it.summary));
    list.prepend(li);
  });
}

const chartGroups = [
  { title: "Speed and engine", sigs: ["Vehicle.Speed", "Vehicle.Powertrain.CombustionEngine.Speed"], names: ["Speed km/h", "Engine rpm"], scales: ["y", "rpm"] },
  { title: "Coolant temperature", sigs: ["Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature"], names: ["Coolant °C"], scales: ["y"] },
  { title: "Battery", sigs: ["Vehicle.LowVoltageBattery.CurrentVoltage"], names: ["Battery V"], scales: ["y"] },
];
const colours = ["#0b6bcb", "#b76e00", "#c62828", "#1f8a4c"];

// Merge series with their own timestamps onto one time axis.
function align(series, sigs) {
  const times = new Set();
  sigs.forEach((s) => (series[s] || []).forEach((p) => times.add(p[0])));
  const xs = Array.from(times).sort((a, b) => a - b);
  const idx = new Map(xs.map((t, i) => [t, i]));
  const out = [xs];
  sigs.forEach((s) => {
    const ys = new Array(xs.length).fill(null);
    (series[s] || []).forEach((p) => { ys[idx.get(p[0])] = p[1]; });
    out.push(ys);
  });
  return out;
}

async function charts(hours) {
  const box = document.getElementById("charts");
  if (!box || typeof uPlot === "undefined") return;
  const status = document.getElementById("chart-status");
  const to = new Date(), from = new Date(to - hours * 3600e3);
  const sigs = chartGroups.flatMap((g) => g.sigs);
  const t0 = performance.now();
  const res = await fetch(box.dataset.history + "?signals=" + encodeURIComponent(sigs.join(",")) + "&from=" + from.toISOString() + "&to=" + to.toISOString());
  if (!res.ok) { status.textContent = "History unavailable: " + (await res.json()).error.message; return; }
  const data = await res.json();
  box.innerHTML = "";
  let points = 0;
  chartGroups.forEach((g) => {
    const aligned = align(data.series, g.sigs);
    points += aligned[0].length * g.sigs.length;
    const div = document.createElement("div");
    div.className = "chart";
    box.append(div);
    const width = Math.max(300, box.clientWidth);
    const scales = { x: { time: true } };
    const axes = [{}, { scale: "y" }];
    if (g.scales.includes("rpm")) { scales.rpm = {}; axes.push({ scale: "rpm", side: 1, grid: { show: false } }); }
    new uPlot({ title: g.title, width, height: 200, scales, axes,
      series: [{}].concat(g.names.map((n, i) => ({ label: n, stroke: colours[i], width: 1.5, scale: g.scales[i], spanGaps: false }))) }, aligned, div);
  });
  const ms = Math.round(performance.now() - t0);
  box.dataset.rendered = ms;
  box.dataset.points = points;
  status.textContent = points ? points + " points in " + ms + " ms" : "No data in this range yet.";
}

function ranges() {
  const r = document.getElementById("range");
  if (!r) return;
  r.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-hours]");
    if (!b) return;
    r.querySelectorAll("button").forEach((x) => x.classList.toggle("active", x === b));
    charts(+b.dataset.hours);
  });
}

document.addEventListener("DOMContentLoaded", () => { live(); feed(); ranges(); charts(24); });
