// The page of `signkd serve`: upload or record a clip, POST it to /api/recognize, then show the
// video with its glosses on a timeline (current one highlighted, click to seek), the translation
// and the CTC posterior. Plain browser JavaScript: no build step, nothing loaded from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];
let result = null;          // the last /api/recognize answer
let mediaUrl = null;        // object URL of the clip on show

function showError(message) {
  $("status").hidden = true;
  $("error").textContent = message;
  $("error").hidden = false;
}

function setStatus(text, percent) {
  $("error").hidden = true;
  $("status").hidden = false;
  $("status-text").textContent = text;
  const bar = $("progress");
  if (percent === null) bar.removeAttribute("value"); else bar.value = percent;
}

async function loadModels() {
  try {
    const answer = await fetch("/api/models");
    const { models } = await answer.json();
    for (const m of models) {
      const option = document.createElement("option");
      option.value = m.name;
      option.textContent = `${m.name} (${m.task}, ${m.glosses} glosses)`;
      $("model").append(option);
    }
    const describe = () => {
      const m = models.find((x) => x.name === $("model").value);
      const p = m ? m.preprocessing : null;
      const every = p && p.frame_interval > 1 ? `, every ${p.frame_interval}th frame` : "";
      $("model-info").textContent = p ? `resize ${p.resize || "none"}, crop ${p.crop || "none"}${every}` : "";
    };
    $("model").addEventListener("change", describe);
    describe();
  } catch (e) {
    showError(`cannot list the models: ${e}`);
  }
}

// ------------------------------------------------------------------------------------ upload

function recognise(file) {
  if (!file) return;
  $("result").hidden = true;
  setStatus(`uploading ${file.name}`, 0);
  const form = new FormData();
  form.append("video", file, file.name);
  const request = new XMLHttpRequest();
  request.open("POST", `/api/recognize?model=${encodeURIComponent($("model").value)}`);
  request.responseType = "json";
  request.upload.onprogress = (e) => {
    if (e.lengthComputable) setStatus(`uploading ${file.name}`, (100 * e.loaded) / e.total);
  };
  request.upload.onload = () => setStatus(`recognising ${file.name}`, null);
  request.onerror = () => showError("the server cannot be reached");
  request.onload = () => {
    const body = request.response;
    if (request.status !== 200) {
      showError(body && body.error ? body.error : `the server answered ${request.status}`);
      return;
    }
    $("status").hidden = true;
    show(body, file);
  };
  request.send(form);
}

// ------------------------------------------------------------------------------------ result

function show(answer, file) {
  result = answer;
  window.signkdResult = answer;          // for scripts driving the page
  const video = $("video");
  if (mediaUrl) URL.revokeObjectURL(mediaUrl);
  const isVideo = !/\.zip$/i.test(file.name);
  mediaUrl = isVideo ? URL.createObjectURL(file) : null;
  video.hidden = !isVideo;
  $("video-note").hidden = true;
  if (isVideo) video.src = mediaUrl; else video.removeAttribute("src");

  const timeline = $("timeline");
  timeline.replaceChildren();
  const total = Math.max(answer.duration, 1e-6);
  answer.glosses.forEach((g, i) => {
    const block = document.createElement("div");
    block.className = "gloss";
    block.textContent = g.gloss;
    block.title = `${g.gloss}: ${g.start.toFixed(2)} - ${g.end.toFixed(2)} s`;
    block.dataset.index = i;
    block.dataset.start = g.start;
    block.style.left = `${(100 * g.start) / total}%`;
    block.style.width = `${(100 * Math.max(g.end - g.start, 0)) / total}%`;
    block.addEventListener("click", () => seek(g.start, i));
    timeline.append(block);
  });
  const head = document.createElement("div");
  head.id = "playhead";
  timeline.append(head);
  $("result").hidden = false;
  layLanes(timeline);

  $("sequence").textContent = answer.glosses.length ? answer.glosses.map((g) => g.gloss).join(" ") : "(no gloss recognised)";
  $("translation").hidden = answer.translation === null || answer.translation === undefined;
  $("translation").textContent = answer.translation ? `“${answer.translation}”` : "";
  $("summary").textContent = `${answer.input}: ${answer.frames} frames at ${answer.fps.toFixed(2)} fps, ${answer.duration.toFixed(2)} s, model ${answer.model}`;
  update(0);
}

// A gloss block is as wide as its time span, or as its name where the span is shorter (CTC spans
// are often a step or two); blocks that would then overlap go to the next lane down.
function layLanes(timeline) {
  const laneEnds = [];
  let row = 0;
  for (const block of timeline.querySelectorAll(".gloss")) {
    const left = block.offsetLeft, right = left + block.offsetWidth;
    row = block.offsetHeight + 3;
    let lane = laneEnds.findIndex((end) => end <= left + 1);
    if (lane < 0) { lane = laneEnds.length; laneEnds.push(0); }
    laneEnds[lane] = right;
    block.style.top = `${3 + lane * row}px`;
  }
  if (row) timeline.style.height = `${3 + laneEnds.length * row}px`;
}

function seek(seconds, index) {
  const video = $("video");
  // a hair past the start, so the frame shown is inside the gloss
  video.currentTime = seconds + 0.001;
  update(seconds + 0.001, index);
}

function glossAt(t) {
  if (!result) return -1;
  return result.glosses.findIndex((g) => t >= g.start && t < g.end);
}

function update(t, index) {
  if (!result) return;
  const current = index === undefined ? glossAt(t) : index;
  for (const block of document.querySelectorAll("#timeline .gloss")) {
    block.classList.toggle("current", Number(block.dataset.index) === current);
  }
  const head = $("playhead");
  if (head) head.style.left = `${(100 * t) / Math.max(result.duration, 1e-6)}%`;
  drawPosterior(t);
}

$("video").addEventListener("timeupdate", () => update($("video").currentTime));
$("video").addEventListener("seeked", () => update($("video").currentTime));
$("video").addEventListener("error", () => { if (mediaUrl) $("video-note").hidden = false; });
(function follow() {   // smoother than timeupdate alone while playing
  const video = $("video");
  if (result && !video.paused) update(video.currentTime);
  requestAnimationFrame(follow);
})();

// ------------------------------------------------------------------------------------ posterior plot

function drawPosterior(now) {
  const canvas = $("posterior");
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, left = 34, bottom = 20, top = 8;
  ctx.clearRect(0, 0, w, h);
  const post = result && result.posterior;
  if (!post || !post.times.length) return;
  const total = Math.max(result.duration, 1e-6);
  const x = (t) => left + ((w - left - 6) * t) / total;
  const y = (p) => top + (h - top - bottom) * (1 - p);
  ctx.strokeStyle = "#ccc"; ctx.fillStyle = "#666"; ctx.font = "11px sans-serif"; ctx.lineWidth = 1;
  for (const p of [0, 0.5, 1]) {
    ctx.beginPath(); ctx.moveTo(left, y(p)); ctx.lineTo(w - 6, y(p)); ctx.stroke();
    ctx.fillText(p.toFixed(1), 4, y(p) + 4);
  }
  for (let s = 0; s <= total; s += Math.max(1, Math.round(total / 10))) ctx.fillText(`${s}s`, Math.min(x(s) - 6, w - 24), h - 5);
  const centre = (i) => post.times[i] + post.step / 2;
  const line = (values, colour, dash) => {
    ctx.strokeStyle = colour; ctx.setLineDash(dash); ctx.lineWidth = 1.6; ctx.beginPath();
    values.forEach((p, i) => (i ? ctx.lineTo(x(centre(i)), y(p)) : ctx.moveTo(x(centre(i)), y(p))));
    ctx.stroke(); ctx.setLineDash([]);
  };
  line(post.blank, "#999", [4, 3]);
  const legend = [`<span><i style="background:#999"></i>blank</span>`];
  Object.entries(post.glosses).forEach(([gloss, values], k) => {
    const colour = COLOURS[k % COLOURS.length];
    line(values, colour, []);
    legend.push(`<span><i style="background:${colour}"></i>${gloss.replace(/[<>&]/g, "")}</span>`);
  });
  $("legend").innerHTML = legend.join("");
  if (now !== undefined) {
    ctx.strokeStyle = "#b00"; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(x(now), top); ctx.lineTo(x(now), h - bottom); ctx.stroke();
  }
}

// ------------------------------------------------------------------------------------ inputs

$("file").addEventListener("change", (e) => recognise(e.target.files[0]));
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  recognise(e.dataTransfer.files[0]);
});

let recorder = null;
$("record").addEventListener("click", async () => {
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  } catch (e) {
    showError(`no webcam: ${e.message || e}`);
    return;
  }
  const preview = $("preview");
  preview.srcObject = stream; preview.hidden = false; preview.play();
  const chunks = [];
  const type = ["video/webm;codecs=vp8", "video/webm", "video/mp4"].find((t) => MediaRecorder.isTypeSupported(t)) || "";
  recorder = new MediaRecorder(stream, type ? { mimeType: type } : {});
  recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
  recorder.onstop = () => {
    stream.getTracks().forEach((track) => track.stop());
    preview.hidden = true; preview.srcObject = null;
    const mime = recorder.mimeType || "video/webm";
    const blob = new Blob(chunks, { type: mime });
    recognise(new File([blob], /mp4/.test(mime) ? "webcam.mp4" : "webcam.webm", { type: mime }));
  };
  recorder.start(250);
  $("record").disabled = true; $("stop").disabled = false;
  setStatus("recording from the webcam", null);
});
$("stop").addEventListener("click", () => {
  if (recorder && recorder.state !== "inactive") recorder.stop();
  $("record").disabled = false; $("stop").disabled = true;
});

loadModels();
