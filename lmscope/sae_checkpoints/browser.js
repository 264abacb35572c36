// Feature browser: one checkpoint's live features, listed from the INDEX embedded in the page; the texts of a
// block of features come from a script-tag shard in the folder INDEX.shards beside the page, loaded when one of
// them is shown (a page opened from disk may not fetch() its neighbours, but may load them with <script src>).
// Search by feature id or by activating token (the token index, tokens.js, loads on the first token search);
// filter by tendency; #feature=N and #token=T link to a search; a card links to the feature's matches in the
// neighbouring checkpoints' pages. For tests and the curious, <body> records
// data-ready (the cards shown have their texts), data-first-render-ms and data-first-render-files (the scripts
// loaded by then), data-render-ms (from the latest search or page turn until its cards had their texts) and
// data-cjk-font.
"use strict";
const PAGE = 20;        // feature cards per page
const SHOWN_TEXTS = 5;  // texts shown before "all texts"
const norm = s => s.normalize("NFKC").toLowerCase().trim();
const esc = s => s.replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})[c]);

const features = INDEX.id.map((id, i) => ({
  id, tendency: INDEX.tendencies[INDEX.tendency[i]], n_ja: INDEX.n_ja[i], n_en: INDEX.n_en[i],
  n_texts: INDEX.n_texts[i], frequency: INDEX.frequency[i], max: INDEX.max[i],
  granularity: INDEX.granularity[id] || null, i,
}));
const byId = new Map(features.map(f => [f.id, f]));
const textsOf = new Map();  // feature id -> its texts, once its shard has run
const loaded = [];          // scripts loaded so far, in order
const scripts = new Map();  // file -> Promise of its having run
let matches = features, offset = 0, tokenIndex = null, searches = 0, renders = 0, requested = 0;

function load(file) {
  if (!scripts.has(file)) {
    scripts.set(file, new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = `${encodeURIComponent(INDEX.shards)}/${file}`;
      s.onload = () => { loaded.push(file); resolve(); };
      s.onerror = () => reject(new Error(`${INDEX.shards}/${file} did not load`));
      document.head.appendChild(s);
    }));
  }
  return scripts.get(file);
}
const shardOf = id => `shard-${String(Math.floor(id / INDEX.block)).padStart(5, "0")}.js`;

// a shard's packed arrays: base64 of little-endian bytes (browser_shards.packed), viewed as typed arrays (whose
// byte order is the platform's: little-endian on every platform browsers run on)
const TYPES = {features: Int32Array, n_texts: Int32Array, doc: Int32Array, position: Uint16Array,
               activation: Float32Array, shaded: Uint16Array, shade_position: Uint16Array, shade_level: Uint8Array};
const unpack = (base64, Type) => new Type(Uint8Array.from(atob(base64), c => c.charCodeAt(0)).buffer);

window.lmscopeShard = (n, shard) => {  // the columns: see browser_shards.shard_script
  if (shard.features === undefined) return;  // a block without texts
  const c = Object.fromEntries(Object.entries(TYPES).map(([name, Type]) => [name, unpack(shard[name], Type)]));
  let text = 0, shade = 0;
  c.features.forEach((id, k) => {
    const texts = [];
    for (const end = text + c.n_texts[k]; text < end; text++) {
      const shaded = c.shaded[text];
      texts.push({doc: shard.docs[c.doc[text]], position: c.position[text], activation: c.activation[text],
                  positions: c.shade_position.subarray(shade, shade + shaded),
                  levels: c.shade_level.subarray(shade, shade + shaded)});
      shade += shaded;
    }
    textsOf.set(id, texts);
  });
};
window.lmscopeTokens = index => { tokenIndex = {...index, normalized: index.pieces.map(norm)}; };
window.lmscopeFont = css => {
  const style = document.createElement("style");
  style.textContent = css;
  document.head.appendChild(style);
};

function textHtml(f, t) {
  const pieces = t.doc[2], level = new Array(pieces.length).fill(0);
  t.positions.forEach((p, i) => { level[p] = t.levels[i]; });
  return pieces.map((piece, i) => {
    if (level[i] === 0 && i !== t.position) return esc(piece);
    const a = level[i] / 255, top = i === t.position ? ' class="top"' : "";
    return `<span${top} style="background:rgba(255,140,0,${a.toFixed(2)})" title="≈${(a * f.max).toPrecision(3)}">` +
           `${esc(piece)}</span>`;
  }).join("");
}

function textsHtml(f, all, failed) {
  const texts = textsOf.get(f.id);
  if (texts === undefined) {
    return failed.has(shardOf(f.id))
      ? `<div class="meta missing">texts not available: ${esc(INDEX.shards)}/${shardOf(f.id)} did not load (the
         folder ${esc(INDEX.shards)}/ must sit beside this page; a copy inside a report has only the page)</div>`
      : `<div class="meta loading">loading texts…</div>`;
  }
  const more = texts.length > SHOWN_TEXTS && !all
    ? `<button data-more="${f.id}">all ${texts.length} texts</button>` : "";
  return (all ? texts : texts.slice(0, SHOWN_TEXTS)).map(t => `<div class="text">${textHtml(f, t)}</div>
    <div class="meta">doc ${t.doc[0]} (${t.doc[1]}), activation ${t.activation.toPrecision(3)}</div>`).join("") + more;
}

// The feature's one-to-one matches in the neighbouring checkpoints (feature_matching.py), linked to their cards.
function linksHtml(f) {
  return ["previous", "next"].filter(side => INDEX.links[side] && INDEX.links[side].feature[f.i] !== null)
    .map(side => {
      const other = INDEX.links[side].feature[f.i], page = INDEX.neighbours[side];
      const arrow = side === "previous" ? "←" : "→";
      return `<a class="match" href="${encodeURIComponent(page)}.html#feature=${other}">${arrow} ${esc(page)}
        #${String(other).padStart(5, "0")}</a> <span class="meta">(r ${INDEX.links[side].r[f.i].toFixed(2)})</span>`;
    }).join(" ");
}

function cardHtml(f, all, failed = new Set()) {
  const gran = f.granularity ? ` <span class="tag granularity">${esc(f.granularity)}</span>` : "";
  return `<div class="card" data-feature="${f.id}"><div><span class="tag ${f.tendency}">${f.tendency}</span>${gran}
    <b>#${String(f.id).padStart(5, "0")}</b> <span class="meta">ja ${f.n_ja} / en ${f.n_en} of ${f.n_texts} texts ·
    frequency ${(100 * f.frequency).toFixed(3)}% · max activation ${f.max.toPrecision(3)}</span>
    ${linksHtml(f)}</div>` +
    textsHtml(f, all, failed) + "</div>";
}

async function find(mode, query) {
  if (query.trim() === "") return features;
  if (mode === "feature") {
    const id = Number(query.trim().replace(/^#/, ""));
    if (!byId.has(id) && Number.isInteger(id) && id >= 0 && id < INDEX.d_sae) {
      document.getElementById("note").textContent = `feature #${id} is dead: no activation on the test split`;
    }
    return byId.has(id) ? [byId.get(id)] : [];
  }
  // features whose texts activate most strongly on a matching token, most matching texts first
  document.getElementById("count").textContent = "loading the token index…";
  await load("tokens.js");
  const q = norm(query), counts = new Map();
  tokenIndex.normalized.forEach((piece, i) => {
    if (!piece.includes(q)) return;
    const posting = tokenIndex.postings[i].split(",").map(Number);  // see browser_shards.tokens_script
    for (let j = 0, id = 0; j < posting.length; j += 2) {
      id += posting[j];
      counts.set(id, (counts.get(id) || 0) + posting[j + 1]);
    }
  });
  return [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0]).map(([id]) => byId.get(id));
}

async function search() {
  const mine = ++searches;
  requested = performance.now();
  const mode = document.getElementById("mode").value, query = document.getElementById("query").value;
  const tendency = document.getElementById("tendency").value;
  let found;
  try {
    found = await find(mode, query);
  } catch (error) {
    found = [];
    document.getElementById("note").textContent = `${error.message} (the folder ${INDEX.shards}/ must sit beside ` +
      "this page; a copy inside a report has only the page)";
  }
  if (mine !== searches) return;  // a later search has started
  matches = tendency === "any" ? found : found.filter(f => f.tendency === tendency);
  offset = 0;
  render();
}

async function render() {
  const mine = ++renders, shown = matches.slice(offset, offset + PAGE);
  const draw = failed => {
    document.getElementById("results").innerHTML = shown.map(f => cardHtml(f, false, failed)).join("");
  };
  draw(new Set());
  document.getElementById("count").textContent = `${matches.length} feature(s)` +
    (matches.length > PAGE ? `, showing ${offset + 1}–${offset + shown.length}` : "");
  document.getElementById("count").dataset.count = matches.length;
  document.getElementById("prev").disabled = offset === 0;
  document.getElementById("next").disabled = offset + PAGE >= matches.length;
  const files = [...new Set(shown.map(f => shardOf(f.id)))];
  const outcomes = await Promise.allSettled(files.map(load));
  if (mine !== renders) return;  // a later render has drawn the results
  draw(new Set(files.filter((file, i) => outcomes[i].status === "rejected")));
  const body = document.body.dataset;
  body.renderMs = (performance.now() - requested).toFixed(1);
  if (body.firstRenderMs === undefined) {
    body.firstRenderMs = performance.now().toFixed(1);
    body.firstRenderFiles = loaded.join(" ");
    loadFont();
  }
  body.ready = "1";
}

// the CJK font for every character of the shards, once the first cards are shown (font.js is the largest file
// the page reads at the paper's scale; until it has run, texts show in the system's fonts)
function loadFont() {
  load("font.js").then(() => document.fonts.load(`16px '${INDEX.font_family}'`, "日本語"))
    .then(faces => { document.body.dataset.cjkFont = faces.length > 0 ? "loaded" : "missing"; },
          () => { document.body.dataset.cjkFont = "missing"; });
}

function fromHash() {
  const m = /^#(feature|token)=(.*)$/.exec(location.hash);
  if (m) {
    document.getElementById("mode").value = m[1];
    document.getElementById("query").value = decodeURIComponent(m[2]);
  }
  document.getElementById("note").textContent = "";
  search();
}

document.getElementById("form").addEventListener("submit", e => {
  e.preventDefault();
  const q = document.getElementById("query").value;
  history.replaceState(null, "", q ? `#${document.getElementById("mode").value}=${encodeURIComponent(q)}` : "#");
  document.getElementById("note").textContent = "";
  search();
});
document.getElementById("tendency").addEventListener("change", search);
document.getElementById("prev").addEventListener("click", () => {
  requested = performance.now();
  offset = Math.max(0, offset - PAGE);
  render();
});
document.getElementById("next").addEventListener("click", () => {
  requested = performance.now();
  offset += PAGE;
  render();
});
document.getElementById("results").addEventListener("click", e => {
  const id = e.target.dataset.more;
  if (id !== undefined) e.target.closest(".card").outerHTML = cardHtml(byId.get(Number(id)), true);
});
window.addEventListener("hashchange", fromHash);
fromHash();
