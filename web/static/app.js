// Pitwall's pages: live values over server-sent events, the feed, and
// history charts drawn with uPlot. No framework, no external requests.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf"]').content;

// The account's time zone: every time on the page is shown in it.
const zone = () => (document.querySelector('meta[name="tz"]') || {}).content || "UTC";

function at(t) {
  try {
    return new Intl.DateTimeFormat("en-GB", { timeZone: zone(), weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZoneName: "short" }).format(new Date(t));
  } catch (e) {
    return new Date(t).toUTCString().slice(0, 22);
  }
}

// Forms that ask for the browser's time zone (sign-up) get it filled in.
function browserZone() {
  let tz = "UTC";
  try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (e) { /* keep UTC */ }
  document.querySelectorAll("[data-browser-zone]").forEach((el) => { if (!el.value || el.value === "UTC") el.value = tz; });
}

// "Use my location" buttons fill the named latitude and longitude fields.
function locate() {
  document.querySelectorAll("[data-locate]").forEach((b) => {
    if (!navigator.geolocation) { b.disabled = true; b.title = "This browser does not share its location"; return; }
    b.addEventListener("click", () => {
      const [lat, lon] = b.dataset.locate.split(",").map((id) => document.getElementById(id));
      b.textContent = "Locating…";
      navigator.geolocation.getCurrentPosition((p) => {
        lat.value = p.coords.latitude.toFixed(4);
        lon.value = p.coords.longitude.toFixed(4);
        b.textContent = "Use my location";
      }, (err) => { b.textContent = "Location refused: type it"; }, { timeout: 10000 });
    });
  });
}

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
        scope.querySelectorAll("[data-device-online]").forEach((d) => {
          const on = !!(v.device_online || {})[d.dataset.deviceOnline];
          if (d.classList.contains("dot")) d.classList.toggle("on", on);
          else if (d.textContent === "online" || d.textContent === "offline") d.textContent = on ? "online" : "offline";
        });
      });
      // The odometer: the dongle's reading, else what the owner said.
      document.querySelectorAll('[data-odometer="' + v.id + '"]').forEach((el) => { el.textContent = fmt("", v.odometer_km); });
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
    when.textContent = at(it.time) + " ";
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
    new uPlot({ title: g.title, width, height: 200, scales, axes, tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), zone()),
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

// A booking page follows its booking: the stream says when anything on it
// changed (a progress step, an extra, a payment, a complaint), and the page
// fetches itself and swaps in the parts that changed, leaving alone a part
// where the reader is typing.
function bookingLive() {
  document.querySelectorAll("[data-booking-live]").forEach((root) => {
    const es = new EventSource(root.dataset.bookingLive);
    es.addEventListener("booking", async (ev) => {
      const v = String(JSON.parse(ev.data).version);
      if (v === root.dataset.version) { root.dataset.synced = v; return; }
      let doc;
      try {
        const resp = await fetch(location.pathname, { credentials: "same-origin" });
        if (!resp.ok) return;
        doc = new DOMParser().parseFromString(await resp.text(), "text/html");
      } catch (e) { return; }
      const fresh = doc.querySelector("[data-booking-live]");
      if (!fresh) return;
      fresh.querySelectorAll("[data-live-part][id]").forEach((part) => {
        const old = document.getElementById(part.id);
        if (!old) { root.appendChild(document.importNode(part, true)); return; }
        if (old.contains(document.activeElement) && document.activeElement.matches("input, select, textarea")) return;
        old.replaceWith(document.importNode(part, true));
      });
      const st = doc.getElementById("booking-status");
      const here = document.getElementById("booking-status");
      if (st && here) here.textContent = st.textContent;
      root.dataset.version = v;
      root.dataset.synced = v; // what the page shows is the stream's latest
    });
  });
}

document.addEventListener("DOMContentLoaded", () => { browserZone(); locate(); live(); feed(); ranges(); charts(24); bookingLive(); });
