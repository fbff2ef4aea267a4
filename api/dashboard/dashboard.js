// The operations dashboard: polls the API every second with the key given in the page
// (or in the address as #key=...), and draws queues, workers, batches, recent tasks,
// dead letters with a replay button, and the last five minutes' throughput.
"use strict";

const POLL_MS = 1000;
const WINDOW_MS = 5 * 60 * 1000;
const state = { key: "", samples: [], lastQueues: null, timer: null };

const $ = (sel) => document.querySelector(sel);

function text(value) {
  const span = document.createElement("span");
  span.textContent = value === undefined || value === null ? "" : String(value);
  return span.innerHTML;
}

function row(cells) {
  return "<tr>" + cells.map((c) => "<td>" + c + "</td>").join("") + "</tr>";
}

async function api(method, path) {
  const res = await fetch(path, { method, headers: { Authorization: "Bearer " + state.key } });
  const body = res.status === 204 ? {} : await res.json();
  if (!res.ok) throw new Error((body.error && body.error.message) || res.status + " " + res.statusText);
  return body;
}

function duration(seconds) {
  if (seconds < 120) return seconds + " s";
  if (seconds < 7200) return Math.round(seconds / 60) + " min";
  return Math.round(seconds / 3600) + " h";
}

function drawQueues(stats, now) {
  const before = state.lastQueues;
  $("#queues tbody").innerHTML = stats.queues.map((q) => {
    let change = "";
    if (before && before.byName[q.name] !== undefined) {
      const perSecond = (q.messages - before.byName[q.name]) / ((now - before.at) / 1000);
      change = perSecond.toFixed(1);
    }
    return row([text(q.name), text(q.messages), change, text(q.consumers)]);
  }).join("");
  const byName = {};
  stats.queues.forEach((q) => { byName[q.name] = q.messages; });
  state.lastQueues = { at: now, byName };
}

function drawWorkers(stats) {
  $("#replicas").textContent = stats.replicas + (stats.replicas === 1 ? " replica" : " replicas");
  $("#workers tbody").innerHTML = stats.workers.map((w) => row([
    text(w.id), text(w.state), text(w.in_flight), text(w.processed), text(w.failed), text(w.retried),
    text(w.llm_in_flight), text(w.processed_last_minute), duration(w.uptime_seconds),
  ])).join("");
}

function drawChart(stats, now) {
  state.samples.push({ at: now, processed: stats.totals.processed });
  while (state.samples.length > 2 && now - state.samples[0].at > WINDOW_MS) state.samples.shift();
  $("#rate").textContent = stats.jobs_per_second_last_minute.toFixed(1) + " jobs/s over the last minute";
  const canvas = $("#chart");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const rates = [];
  for (let i = 1; i < state.samples.length; i++) {
    const a = state.samples[i - 1], b = state.samples[i];
    // A replica leaving lowers the total: no negative rates.
    rates.push({ at: b.at, rate: Math.max(0, (b.processed - a.processed) / ((b.at - a.at) / 1000)) });
  }
  const top = Math.max(1, ...rates.map((r) => r.rate));
  ctx.strokeStyle = "#e4e6ea";
  ctx.strokeRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = "#667";
  ctx.fillText(top.toFixed(0) + " /s", 4, 12);
  ctx.strokeStyle = "#2e6fd8";
  ctx.beginPath();
  rates.forEach((r, i) => {
    const x = canvas.width - ((now - r.at) / WINDOW_MS) * canvas.width;
    const y = canvas.height - (r.rate / top) * (canvas.height - 16);
    if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
  });
  ctx.stroke();
}

function drawWork(work) {
  $("#batches").innerHTML = work.batches.map((b) => {
    const done = b.succeeded + b.failed + b.dead + b.cancelled;
    const ok = b.total ? (100 * b.succeeded) / b.total : 0;
    const bad = b.total ? (100 * (b.failed + b.dead + b.cancelled)) / b.total : 0;
    return '<div class="batch" data-batch-id="' + text(b.id) + '" data-done="' + done + '" data-total="' + b.total + '">' +
      "<div>" + text(b.kind) + " " + text(b.id) + ' <span class="progress">' + done + " / " + b.total + "</span>" +
      " (" + b.succeeded + " succeeded, " + (b.failed + b.dead) + " failed, " + b.pending + " pending)</div>" +
      '<div class="bar"><div class="ok" style="width:' + ok + '%"></div><div class="bad" style="width:' + bad + '%"></div></div></div>';
  }).join("") || "<p>No batches yet.</p>";
  $("#tasks tbody").innerHTML = work.tasks.map((t) => row([
    text(t.id), text(t.kind), '<span class="state-' + text(t.status) + '">' + text(t.status) + "</span>",
    text(t.attempts), text(t.updated_at),
  ])).join("");
}

function drawDeadLetters(page) {
  $("#dead-count").textContent = page.total + " waiting";
  $("#dead-letters tbody").innerHTML = page.items.map((d) => row([
    text(d.dead_letter_id), text(d.queue), text(d.reason), text(d.error && d.error.code), text(d.task_status),
    '<button type="button" class="replay" data-id="' + text(d.dead_letter_id) + '">Replay</button>',
  ])).join("");
}

async function refresh() {
  if (!state.key) return;
  const now = Date.now();
  try {
    const [stats, work, dead] = await Promise.all([
      api("GET", "/api/v1/workers/stats"),
      api("GET", "/api/v1/overview?limit=20"),
      api("GET", "/api/v1/dead-letters?replayed=false&page_size=20"),
    ]);
    drawQueues(stats, now);
    drawWorkers(stats);
    drawChart(stats, now);
    drawWork(work);
    drawDeadLetters(dead);
    $("#status").textContent = "updated " + new Date(now).toLocaleTimeString();
  } catch (e) {
    $("#status").textContent = "error: " + e.message;
  }
}

async function replay(id) {
  try {
    const r = await api("POST", "/api/v1/dead-letters/" + encodeURIComponent(id) + "/replay");
    $("#replay-result").textContent = "replayed " + id + ": task " + r.task_ids[0] + " queued";
  } catch (e) {
    $("#replay-result").textContent = "replay of " + id + " failed: " + e.message;
  }
  refresh();
}

function useKey(key) {
  state.key = key.trim();
  if (state.key) localStorage.setItem("mq-key", state.key);
  $("#status").textContent = state.key ? "loading" : "no key";
  clearInterval(state.timer);
  state.samples = [];
  state.lastQueues = null;
  if (!state.key) return;
  refresh();
  state.timer = setInterval(refresh, POLL_MS);
}

$("#key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  useKey($("#key").value);
});
$("#dead-letters").addEventListener("click", (e) => {
  const button = e.target.closest("button.replay");
  if (!button) return;
  button.disabled = true;
  replay(button.dataset.id);
});
const fromHash = new URLSearchParams(location.hash.slice(1)).get("key");
useKey(fromHash || localStorage.getItem("mq-key") || "");
