// Feature browser: renders the features of one checkpoint from the DATA object embedded in the page.
// Search by feature id or by activating token; filter by tendency; #feature=N and #token=T link to a search.
"use strict";
const PAGE = 20;        // feature cards per page
const SHOWN_TEXTS = 5;  // texts shown before "all texts"
const norm = s => s.normalize("NFKC").toLowerCase().trim();
const esc = s => s.replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})[c]);

const features = DATA.features.map(f => ({
  id: f[0], tendency: f[1], n_ja: f[2], n_en: f[3], n_texts: f[4], frequency: f[5], max: f[6], granularity: f[7],
  texts: f[8].map(t => ({doc: t[0], position: t[1], activation: t[2], positions: t[3], levels: t[4]})),
}));
for (const f of features) f.tokens = f.texts.map(t => norm(DATA.docs[t.doc][2][t.position]));
const byId = new Map(features.map(f => [f.id, f]));
let matches = features, offset = 0;

function textHtml(f, t) {
  const pieces = DATA.docs[t.doc][2], level = new Array(pieces.length).fill(0);
  t.positions.forEach((p, i) => { level[p] = t.levels[i]; });
  return pieces.map((piece, i) => {
    if (level[i] === 0 && i !== t.position) return esc(piece);
    const a = level[i] / 255, top = i === t.position ? ' class="top"' : "";
    return `<span${top} style="background:rgba(255,140,0,${a.toFixed(2)})" title="≈${(a * f.max).toPrecision(3)}">` +
           `${esc(piece)}</span>`;
  }).join("");
}

function cardHtml(f, all) {
  const texts = all ? f.texts : f.texts.slice(0, SHOWN_TEXTS);
  const gran = f.granularity ? ` <span class="tag granularity">${esc(f.granularity)}</span>` : "";
  const more = f.texts.length > SHOWN_TEXTS && !all
    ? `<button data-more="${f.id}">all ${f.texts.length} texts</button>` : "";
  return `<div class="card" data-feature="${f.id}"><div><span class="tag ${f.tendency}">${f.tendency}</span>${gran}
    <b>#${String(f.id).padStart(5, "0")}</b> <span class="meta">ja ${f.n_ja} / en ${f.n_en} of ${f.n_texts} texts ·
    frequency ${(100 * f.frequency).toFixed(3)}% · max activation ${f.max.toPrecision(3)}</span></div>` +
    texts.map(t => `<div class="text">${textHtml(f, t)}</div><div class="meta">doc ${t.doc} (${DATA.docs[t.doc][1]}),
      activation ${t.activation.toPrecision(3)}</div>`).join("") + more + "</div>";
}

function search() {
  const mode = document.getElementById("mode").value, query = document.getElementById("query").value;
  const tendency = document.getElementById("tendency").value;
  let found;
  if (query.trim() === "") found = features;
  else if (mode === "feature") {
    const id = Number(query.trim().replace(/^#/, ""));
    found = byId.has(id) ? [byId.get(id)] : [];
    if (!byId.has(id) && Number.isInteger(id) && id >= 0 && id < DATA.d_sae) {
      document.getElementById("note").textContent = `feature #${id} is dead: no activation on the test split`;
    }
  } else {
    const q = norm(query);
    // features whose texts activate most strongly on a matching token, most matching texts first
    found = features.map(f => [f, f.tokens.filter(t => t.includes(q)).length]).filter(([, n]) => n > 0)
      .sort((a, b) => b[1] - a[1] || a[0].id - b[0].id).map(([f]) => f);
  }
  if (tendency !== "any") found = found.filter(f => f.tendency === tendency);
  matches = found; offset = 0; render();
}

function render() {
  const shown = matches.slice(offset, offset + PAGE);
  document.getElementById("results").innerHTML = shown.map(f => cardHtml(f, false)).join("");
  document.getElementById("count").textContent = `${matches.length} feature(s)` +
    (matches.length > PAGE ? `, showing ${offset + 1}–${offset + shown.length}` : "");
  document.getElementById("count").dataset.count = matches.length;
  document.getElementById("prev").disabled = offset === 0;
  document.getElementById("next").disabled = offset + PAGE >= matches.length;
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
document.getElementById("prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); render(); });
document.getElementById("next").addEventListener("click", () => { offset += PAGE; render(); });
document.getElementById("results").addEventListener("click", e => {
  const id = e.target.dataset.more;
  if (id !== undefined) e.target.closest(".card").outerHTML = cardHtml(byId.get(Number(id)), true);
});
window.addEventListener("hashchange", fromHash);
fromHash();
// for tests and for the curious: did the embedded CJK font load?
document.fonts.load("16px 'lmscope-cjk'", "日本語").then(faces => {
  document.body.dataset.cjkFont = faces.length > 0 ? "loaded" : "missing";
  document.body.dataset.ready = "1";
});
