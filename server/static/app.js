// The page: Start/Stop streams the microphone to /v1/stream; a dropped file goes to /v1/analyze.
import { Microphone, MicrophoneError } from "./microphone.js";
import { CLOSE_GOING_AWAY, EmotionStream } from "./stream.js";
import { Timeline, renderBars, renderModel, renderSummary, setStatus } from "./view.js";

const el = (id) => document.getElementById(id);
const timeline = new Timeline();
let session = null; // {stream, mic, windows}

function token() {
  return el("token").value.trim() || sessionStorage.getItem("speechsense-token") || "";
}

function authHeaders() {
  return token() ? { Authorization: `Bearer ${token()}` } : {};
}

async function call(path, options = {}) {
  let reply;
  try {
    reply = await fetch(path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
  } catch {
    throw new Error("Lost the connection to the SpeechSense server: is it running?");
  }
  const body = await reply.json().catch(() => ({}));
  if (reply.status === 401) el("token-box").hidden = false;
  if (!reply.ok) throw new Error(body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${reply.status}`);
  return body;
}

async function loadModel() {
  try {
    renderModel(await call("/v1/model"));
    el("start").disabled = false;
    setStatus("Ready. Press Start and speak.");
  } catch (err) {
    setStatus(err.message, true);
    el("model").textContent = "Model information unavailable.";
  }
}

function onResult(message) {
  const item = message.window || message.utterance;
  if (item) {
    session.windows += 1;
    el("window-count").textContent = String(session.windows);
    el("latest-span").textContent = `${item.startSeconds.toFixed(1)}–${item.endSeconds.toFixed(1)} s`;
    renderBars(el("bars"), item.scores);
    timeline.add(item.startSeconds, item.endSeconds, item.topLabel);
    const label = item.topLabel || "no speech";
    setStatus(`Listening… ${label}${item.topLabel ? ` (${(100 * item.topScore).toFixed(0)}%)` : ""}`);
  }
  if (message.summary) renderSummary(message.summary);
}

async function start() {
  const mode = el("mode").value;
  el("start").disabled = true;
  try {
    await call("/v1/model"); // the server first: no microphone prompt when it is gone
  } catch (err) {
    setStatus(`${err.message} Press Start to try again.`, true);
    el("start").disabled = false;
    return;
  }
  setStatus("Opening the microphone…");
  let mic;
  try {
    mic = await Microphone.open((chunk) => session && session.stream.sendAudio(chunk));
  } catch (err) {
    setStatus(err instanceof MicrophoneError ? err.message : `Microphone: ${err.message}`, true);
    el("start").disabled = false;
    return;
  }
  timeline.reset(mode === "SEGMENTATION_UTTERANCES" ? "utterance" : "window");
  el("window-count").textContent = "0";
  el("dominant").textContent = "–";
  const config = {
    format: { encoding: "AUDIO_ENCODING_LINEAR16", sampleRateHz: mic.sampleRate, channels: 1 },
    sessionTag: "browser", segmentation: mode,
  };
  const stream = new EmotionStream(config, token(), { onResult, onError, onClose });
  session = { stream, mic, windows: 0, failed: false };
  const button = el("start");
  button.textContent = "Stop";
  button.classList.add("recording");
  button.disabled = false;
  setStatus(`Listening at ${mic.sampleRate / 1000} kHz…`);
}

function onError(error) {
  if (session) session.failed = true;
  if (error.code === "UNAUTHENTICATED") el("token-box").hidden = false;
  setStatus(`The server refused the stream: ${error.code}: ${error.message}`, true);
}

async function onClose(event, sawSummary) {
  const failed = session && session.failed;
  await finish();
  if (failed) return;
  if (event.code === CLOSE_GOING_AWAY) setStatus("The server is shutting down; the summary covers what it heard.");
  else if (sawSummary) setStatus("Done. Press Start for another session.");
  else setStatus("Lost the connection to the server. Press Start to try again.", true);
}

async function stop() {
  el("start").disabled = true;
  setStatus("Finishing: waiting for the last windows and the summary…");
  await session.mic.close();
  session.stream.end(); // the server answers with the summary, then closes the socket
}

async function finish() {
  if (!session) return;
  const { mic } = session;
  session = null;
  if (mic.context.state !== "closed") await mic.close();
  const button = el("start");
  button.textContent = "Start";
  button.classList.remove("recording");
  button.disabled = false;
}

function base64(buffer) {
  const bytes = new Uint8Array(buffer);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

async function analyzeFile(file) {
  el("file-result").textContent = `Analysing ${file.name}…`;
  try {
    const body = JSON.stringify({ encoded: base64(await file.arrayBuffer()), sessionTag: file.name,
      segmentation: el("mode").value });
    const reply = await call("/v1/analyze", { method: "POST", body, headers: { "Content-Type": "application/json" } });
    const s = reply.summary;
    const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
    const count = s.utterancesAnalyzed ? plural(s.utterancesAnalyzed, "utterance") : plural(s.windowsAnalyzed, "window");
    el("file-result").textContent = `${file.name}: ${s.audioSeconds.toFixed(1)} s, ${count}, ` +
      `dominant ${s.dominantLabel || "no speech"}`;
    renderBars(el("file-bars"), s.meanScores);
  } catch (err) {
    el("file-result").textContent = `${file.name}: ${err.message}`;
  }
}

el("start").addEventListener("click", () => (session ? stop() : start()));
el("token").addEventListener("change", () => {
  sessionStorage.setItem("speechsense-token", el("token").value.trim());
  loadModel();
});
el("file").addEventListener("change", (event) => event.target.files[0] && analyzeFile(event.target.files[0]));
const drop = el("drop");
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  if (event.dataTransfer.files[0]) analyzeFile(event.dataTransfer.files[0]);
});
loadModel();
