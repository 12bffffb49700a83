// The attention explorer: asks the served model for its answer (/predict, /translate or /embed)
// and its attention (/attend), and draws them. No library, no network beyond this server.
"use strict";

const $ = (id) => document.getElementById(id);
const make = (tag, props = {}, children = []) => {
  const node = Object.assign(document.createElement(tag), props);
  for (const child of children) node.append(child);
  return node;
};

let kind = null; // "classifier", "tagger", "translator" or "embedding"
let key = sessionStorage.getItem("attn-key") || "";

// POSTs (or GETs without a body) JSON; a 401 shows the key field.
async function call(route, body) {
  const headers = { "content-type": "application/json" };
  if (key) headers.authorization = `Bearer ${key}`;
  const response = await fetch(route, {
    method: body === undefined ? "GET" : "POST",
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({ error: response.statusText }));
  if (response.status === 401) $("keybox").hidden = false;
  if (!response.ok) throw new Error(`${route}: ${answer.error || response.status}`);
  return answer;
}

// Sequential colours: white to deep blue, or black to white (the paper's alignment figure).
function colour(v, grey) {
  const t = Math.max(0, Math.min(1, v));
  if (grey) {
    const g = Math.round(255 * t);
    return `rgb(${g},${g},${g})`;
  }
  const from = [247, 251, 255];
  const to = [8, 48, 107];
  const c = from.map((f, i) => Math.round(f + (to[i] - f) * t));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

const largest = (rows) => Math.max(1e-9, ...rows.map((r) => Math.max(...r)));

// A colour scale from 0 to `top`.
function scale(top, grey) {
  const bar = make("canvas", { className: "scale", width: 160, height: 12 });
  const ctx = bar.getContext("2d");
  for (let x = 0; x < 160; x++) {
    ctx.fillStyle = colour(x / 159, grey);
    ctx.fillRect(x, 0, 1, 12);
  }
  return make("div", { className: "legend" }, [
    make("span", { textContent: "0" }),
    bar,
    make("span", { textContent: top.toFixed(3) }),
  ]);
}

// A matrix with `rows` labels down and `columns` across (each label in its own grid track, so
// none overlaps another or is clipped); hovering a row label or a cell shows what that row
// attends to.
function matrix(rows, columns, values, { grey = false, id = "", caption = "" } = {}) {
  const n = Math.max(rows.length, columns.length);
  const cell = Math.max(18, Math.min(32, Math.floor(640 / n)));
  const top = largest(values);
  const grid = make("div", { className: "matrix" });
  grid.style.gridTemplateColumns = `max-content repeat(${columns.length}, ${cell}px)`;
  grid.style.gridAutoRows = `${cell}px`;
  grid.append(make("div", { className: "corner" }));
  const heads = columns.map((c) => make("div", { className: "col", textContent: c, title: c }));
  grid.append(...heads);
  const lines = [];
  rows.forEach((r, i) => {
    const label = make("div", { className: "rowlabel", textContent: r, title: r });
    const cells = values[i].map((v, j) =>
      make("div", {
        className: "cell",
        title: `${r} → ${columns[j]}: ${v.toFixed(4)}`,
        style: `background:${colour(v / top, grey)}`,
      }),
    );
    lines.push({ label, cells });
    grid.append(label, ...cells);
    const focus = (on) => {
      label.classList.toggle("on", on);
      cells.forEach((c) => c.classList.toggle("on", on));
      heads.forEach((h, j) => {
        h.style.background = on ? colour(values[i][j] / top, grey) : "";
        h.style.color = on && values[i][j] / top > 0.5 !== grey ? "#fff" : "";
      });
    };
    for (const node of [label, ...cells]) {
      node.addEventListener("mouseenter", () => focus(true));
      node.addEventListener("mouseleave", () => focus(false));
    }
  });
  return make("figure", { id }, [
    make("figcaption", { textContent: caption }),
    make("div", { className: "scroll" }, [grid]),
    scale(top, grey),
  ]);
}

// A small picture of one matrix.
function thumbnail(values, size) {
  const n = values.length;
  const canvas = make("canvas", { className: "thumb", width: size, height: size });
  const ctx = canvas.getContext("2d");
  const top = largest(values);
  const step = size / n;
  values.forEach((row, i) =>
    row.forEach((v, j) => {
      ctx.fillStyle = colour(v / top, false);
      ctx.fillRect(j * step, i * step, Math.ceil(step), Math.ceil(step));
    }),
  );
  return canvas;
}

// BERT: the layer x head grid of thumbnails; one clicked is drawn at full size below.
function selfAttention(a) {
  const box = $("attention");
  const grid = make("div", { id: "grid" });
  grid.style.gridTemplateColumns = `max-content repeat(${a.heads}, max-content)`;
  grid.append(make("div"));
  for (let h = 0; h < a.heads; h++) grid.append(make("div", { className: "axis", textContent: `H${h}` }));
  const detail = make("div", { id: "detail" });
  const show = (l, h) => {
    grid.querySelectorAll(".thumb.picked").forEach((t) => t.classList.remove("picked"));
    grid.querySelector(`[data-layer="${l}"][data-head="${h}"]`).classList.add("picked");
    detail.replaceChildren(
      matrix(a.tokens, a.tokens, a.attention[l][h], {
        id: "full",
        caption: `layer ${l}, head ${h}: each row (a query piece) attends to the columns (key pieces)`,
      }),
    );
  };
  a.attention.forEach((layer, l) => {
    grid.append(make("div", { className: "axis", textContent: `L${l}` }));
    layer.forEach((m, h) => {
      const t = thumbnail(m, 64);
      t.dataset.layer = l;
      t.dataset.head = h;
      t.title = `layer ${l}, head ${h}`;
      t.addEventListener("click", () => show(l, h));
      grid.append(t);
    });
  });
  box.replaceChildren(
    make("h2", { textContent: `Self-attention: ${a.layers} layers × ${a.heads} heads (click one)` }),
    grid,
    detail,
  );
  show(0, 0);
}

// The RNN classifier: the additive attention's weight on each word.
function additive(a) {
  const top = largest([a.attention]);
  const strip = make("p", { id: "strip" });
  a.words.forEach((w, i) => {
    const v = a.attention[i] / top;
    strip.append(
      make("span", {
        className: "word",
        textContent: w,
        title: `α = ${a.attention[i].toFixed(4)}`,
        style: `background:${colour(v, false)};color:${v > 0.5 ? "#fff" : "#111"}`,
      }),
      " ",
    );
  });
  $("attention").replaceChildren(
    make("h2", { textContent: "Additive attention over the encoder states (Bahdanau)" }),
    strip,
    matrix(["α"], a.words, [a.attention], { id: "weights", caption: "weights, summing to 1" }),
  );
}

// A translator: output tokens down, source tokens across, in grey levels as the paper draws it.
function alignment(a) {
  $("attention").replaceChildren(
    make("h2", { textContent: "Alignment (Bahdanau et al. 2015, fig. 3)" }),
    matrix([...a.tokens, "<eos>"], a.source_tokens, a.attention, {
      grey: true,
      id: "alignment",
      caption: "each output token (down) attends to the source tokens (across)",
    }),
  );
}

// The model's answer for the text.
async function answer(text) {
  const box = $("answer");
  if (kind === "classifier") {
    const labels = await call("/predict", { inputs: text });
    const list = make("ol", { id: "prediction" });
    for (const { label, score } of labels) {
      const bar = make("span", { className: "bar" });
      bar.style.width = `${(100 * score).toFixed(1)}%`;
      list.append(
        make("li", { className: "label" }, [
          make("span", { className: "name", textContent: label }),
          make("span", { className: "track" }, [bar]),
          make("span", { className: "score", textContent: score.toFixed(3) }),
        ]),
      );
    }
    box.replaceChildren(make("h2", { textContent: "Prediction" }), list);
  } else if (kind === "tagger") {
    const entities = await call("/predict", { inputs: text });
    const chars = Array.from(text);
    const shown = make("p", { id: "prediction" });
    let at = 0;
    for (const e of entities) {
      shown.append(chars.slice(at, e.start).join(""));
      shown.append(
        make("mark", {
          className: "entity",
          textContent: chars.slice(e.start, e.end).join(""),
          title: `${e.entity_group} ${e.score.toFixed(3)}`,
        }, [make("sub", { textContent: e.entity_group })]),
      );
      at = e.end;
    }
    shown.append(chars.slice(at).join(""));
    const note = entities.length ? `${entities.length} entities` : "no entity found";
    box.replaceChildren(make("h2", { textContent: `Entities (${note})` }), shown);
  } else if (kind === "translator") {
    const t = await call("/translate", { inputs: text });
    box.replaceChildren(
      make("h2", { textContent: "Translation" }),
      make("p", { id: "prediction", className: "translation", textContent: t.translation }),
    );
  } else {
    const [v] = await call("/embed", { inputs: [text] });
    box.replaceChildren(
      make("h2", { textContent: "Embedding" }),
      make("p", {
        id: "prediction",
        textContent: `${v.length} dimensions: ${v.slice(0, 6).map((x) => x.toFixed(3)).join(", ")}, …`,
      }),
    );
  }
}

async function look(event) {
  if (event) event.preventDefault();
  const text = $("text").value.trim();
  if (!text) return;
  key = $("key").value || key;
  if (key) sessionStorage.setItem("attn-key", key);
  // The address links to this text (`/?text=...` opens the page on it).
  history.replaceState(null, "", `?text=${encodeURIComponent(text)}`);
  document.body.dataset.state = "busy";
  $("status").textContent = "…";
  try {
    if (!kind) await info();
    const [, a] = await Promise.all([answer(text), call("/attend", { inputs: text })]);
    ({ self_attention: selfAttention, additive, alignment })[a.kind](a);
    $("status").textContent = "";
    document.body.dataset.state = "done";
  } catch (error) {
    $("status").textContent = error.message;
    document.body.dataset.state = "error";
  }
}

async function info() {
  const i = await call("/info");
  kind = Object.keys(i.model_type)[0];
  $("model").textContent = `${i.model_id} — ${kind}, up to ${i.max_input_length} tokens`;
}

$("ask").addEventListener("submit", look);
$("text").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) look(e);
});
$("key").value = key;
const linked = new URLSearchParams(location.search).get("text");
info()
  .then(() => {
    document.body.dataset.state = "ready";
    if (linked) {
      $("text").value = linked;
      look();
    }
  })
  .catch((error) => {
    $("status").textContent = error.message;
    document.body.dataset.state = "error";
  });
