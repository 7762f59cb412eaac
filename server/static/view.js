// Rendering: score bars, the timeline of top labels, the summary and the model card. Plain DOM, no library.
const el = (id) => document.getElementById(id);

function color(label) {
  return `var(--${label}, var(--accent))`;
}

function pct(score) {
  return `${(100 * score).toFixed(0)}%`;
}

export function renderBars(container, scores) {
  container.replaceChildren();
  const top = scores.reduce((best, s) => (s.score > best.score ? s : best), scores[0] || { score: 0 });
  for (const { label, score } of scores) {
    const name = document.createElement("span");
    name.textContent = label;
    const bar = document.createElement("div");
    bar.className = "bar";
    const fill = document.createElement("span");
    fill.style.width = pct(score);
    fill.style.background = color(label);
    bar.append(fill);
    const value = document.createElement("span");
    value.className = "score";
    value.textContent = pct(score);
    if (label === top.label && score > 0) {
      name.className = "top";
      value.className = "score top";
    }
    container.append(name, bar, value);
  }
}

export class Timeline {
  constructor() {
    this.spans = [];
  }

  reset(unit) {
    this.spans = [];
    el("unit").textContent = unit;
    el("count-label").textContent = unit === "utterance" ? "Utterances" : "Windows";
    this.#draw();
  }

  // One span per window (start to end; later windows drawn over earlier ones) or per utterance.
  add(start, end, label) {
    this.spans.push({ start, end, label });
    this.#draw();
  }

  #draw() {
    const box = el("timeline");
    box.replaceChildren();
    const total = Math.max(10, ...this.spans.map((s) => s.end));
    for (const { start, end, label } of this.spans) {
      const span = document.createElement("span");
      span.style.left = `${(100 * start) / total}%`;
      span.style.width = `${(100 * (end - start)) / total}%`;
      span.style.background = label ? color(label) : "transparent";
      span.title = `${start.toFixed(1)}–${end.toFixed(1)} s: ${label || "no speech"}`;
      span.dataset.label = label;
      box.append(span);
    }
    const legend = el("legend");
    legend.replaceChildren();
    for (const label of new Set(this.spans.map((s) => s.label).filter(Boolean))) {
      const item = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = color(label);
      item.append(swatch, label);
      legend.append(item);
    }
  }
}

export function renderSummary(summary) {
  el("dominant").textContent = summary.dominantLabel || "no speech";
  el("audio-seconds").textContent = `${summary.audioSeconds.toFixed(1)} s`;
  const utterances = el("unit").textContent === "utterance";
  el("window-count").textContent = String(utterances ? summary.utterancesAnalyzed : summary.windowsAnalyzed);
  renderBars(el("summary-bars"), summary.meanScores);
}

export function renderModel(info) {
  const m = info.metrics;
  const family = [info.modelFamily, info.encoderName].filter(Boolean).join(", ");
  el("model").textContent = `${info.modelName} ${info.modelVersion}${family ? ` (${family})` : ""} · ` +
    `new voices: UAR ${m.speakerUarMean.toFixed(3)} ± ${m.speakerUarStd.toFixed(3)}, accuracy ` +
    `${pct(m.speakerAccuracyMean)} · random split: accuracy ${pct(m.randomAccuracy)} · ` +
    `${info.windowSeconds} s windows at ${info.sampleRateHz / 1000} kHz`;
  el("model").title = info.trainingData || "";
  renderBars(el("bars"), info.labels.map((label) => ({ label, score: 0 })));
}

export function setStatus(text, isError = false) {
  const status = el("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}
