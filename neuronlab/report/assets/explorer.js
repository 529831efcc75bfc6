// neuronlab report explorer: browse the rankings of the JSON blob in #explorer-data (no network, no eval).
// Every text from the store is inserted with textContent; the blob's format is in neuronlab/report/explorer.py.
"use strict";
(() => {
  const PAGE = 50;
  const MAX_MATCHES = 20;
  const $ = (id) => document.getElementById(id);
  const root = $("explorer");
  const source = $("explorer-data");
  const status = $("explorer-status");
  if (!root || !source || !status) return;
  let D;
  try {
    D = JSON.parse(source.textContent);
  } catch (err) {
    status.textContent = "The explorer's data could not be read (" + err.message + "); rebuild the report.";
    return;
  }
  if (D.version !== 1) {
    status.textContent = "This explorer reads data version 1, the report has " + D.version + "; rebuild it.";
    return;
  }

  // ---- neurons: column n of the store is site s, index n - offsets[s]
  const N = D.n_neurons;
  const offsets = [];
  let total = 0;
  for (const w of D.widths) { offsets.push(total); total += w; }
  const siteOf = (n) => {
    let lo = 0, hi = offsets.length - 1;
    while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (offsets[mid] <= n) lo = mid; else hi = mid - 1; }
    return lo;
  };
  const idOf = (n) => { const s = siteOf(n); return D.sites[s] + ":" + (n - offsets[s]); };
  const parseId = (text) => {
    const k = text.lastIndexOf(":");
    if (k < 0) return -1;
    const s = D.sites.indexOf(text.slice(0, k));
    const idx = text.slice(k + 1);
    if (s < 0 || !/^\d+$/.test(idx) || Number(idx) >= D.widths[s]) return -1;
    return offsets[s] + Number(idx);
  };
  const dossierIndex = new Map();
  D.dossiers.neuron.forEach((n, i) => dossierIndex.set(n, i));
  const HREF = /^neurons\/[A-Za-z0-9._-]+\.html$/;

  // ---- per-ranking caches, built on first use: rank of every neuron, rows of one site
  const rankCache = new Map();
  const ranksOf = (r) => {
    let a = rankCache.get(r);
    if (!a) {
      a = new Int32Array(N).fill(-1);
      D.rankings[r].order.forEach((n, i) => { a[n] = i; });
      rankCache.set(r, a);
    }
    return a;
  };
  const rowCache = new Map();
  // rows (positions in the ranking) of one site (-1: all) whose best class is cls ("": any)
  const rowsOf = (r, site, cls) => {
    const key = r + "|" + site + "|" + cls;
    let rows = rowCache.get(key);
    if (!rows) {
      const R = D.rankings[r], order = R.order;
      const lo = site < 0 ? 0 : offsets[site], hi = site < 0 ? N : offsets[site] + D.widths[site];
      const want = cls && R.classes ? R.classes.indexOf(cls) : -1;
      const keep = [];
      for (let i = 0; i < order.length; i++) {
        if (order[i] >= lo && order[i] < hi && (!cls || (want >= 0 && R.cls[i] === want))) keep.push(i);
      }
      rows = Int32Array.from(keep);
      rowCache.set(key, rows);
    }
    return rows;
  };

  // ---- small DOM helpers (text only)
  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  };
  const button = (text, action, n) => {
    const b = el("button", text);
    b.type = "button";
    b.dataset.action = action;
    if (n !== undefined) b.dataset.n = String(n);
    return b;
  };
  const dossierLink = (n, text) => {
    const i = dossierIndex.get(n);
    if (i === undefined || !HREF.test(D.dossiers.href[i])) return null;
    const a = el("a", text, "ex-dossier-link");
    a.setAttribute("href", D.dossiers.href[i]);
    return a;
  };
  const fmt = (v) => (v === null || v === undefined ? "\u2013" : String(v));
  const row = (cells) => {
    const tr = document.createElement("tr");
    for (const c of cells) {
      const td = document.createElement("td");
      if (c instanceof Node) td.appendChild(c); else td.textContent = fmt(c);
      tr.appendChild(td);
    }
    return tr;
  };
  const table = (head, rows) => {
    const t = document.createElement("table");
    const tr = document.createElement("tr");
    for (const h of head) tr.appendChild(el("th", h));
    t.appendChild(el("thead")).appendChild(tr);
    const body = t.appendChild(el("tbody"));
    for (const r of rows) body.appendChild(row(r));
    return t;
  };

  // ---- state and controls
  const state = { ranking: -1, site: -1, cls: "", page: 0, compare: [], detail: -1 };
  const concept = $("ex-concept"), method = $("ex-method"), site = $("ex-site"), search = $("ex-search");
  const klass = $("ex-class");
  const tbody = $("ex-table").tBodies[0];
  D.concepts.forEach((c, i) => { const o = el("option", c); o.value = String(i); concept.appendChild(o); });
  site.appendChild(Object.assign(el("option", "all sites"), { value: "-1" }));
  D.sites.forEach((s, i) => {
    const o = el("option", s + " (" + D.widths[i] + ")");
    o.value = String(i);
    site.appendChild(o);
  });

  const fillMethods = () => {
    method.replaceChildren();
    const c = Number(concept.value);
    D.rankings.forEach((r, i) => {
      if (r.concept === c) { const o = el("option", r.method); o.value = String(i); method.appendChild(o); }
    });
    state.ranking = method.options.length ? Number(method.value) : -1;
    state.page = 0;
    fillClasses();
  };

  // the classes of the current ranking; the filter is kept where the ranking has that class
  function fillClasses() {
    klass.replaceChildren(Object.assign(el("option", "all classes"), { value: "" }));
    const R = state.ranking >= 0 ? D.rankings[state.ranking] : null;
    const names = R && R.classes ? R.classes : [];
    for (const c of names) { const o = el("option", c); o.value = c; klass.appendChild(o); }
    if (!names.includes(state.cls)) state.cls = "";
    klass.value = state.cls;
    klass.disabled = names.length === 0;
  }

  const renderTable = () => {
    tbody.replaceChildren();
    const r = state.ranking;
    const range = $("ex-range");
    if (r < 0) {
      $("ex-title").textContent = "Ranked neurons";
      range.textContent = "No rankings in this store: run `neuronlab rank STORE --concept C --method ap` and " +
        "build the report again.";
      $("ex-prev").disabled = $("ex-next").disabled = true;
      return;
    }
    const R = D.rankings[r];
    const rows = rowsOf(r, state.site, state.cls);
    const pages = Math.max(1, Math.ceil(rows.length / PAGE));
    state.page = Math.min(Math.max(0, state.page), pages - 1);
    const start = state.page * PAGE, stop = Math.min(rows.length, start + PAGE);
    $("ex-title").textContent = D.concepts[R.concept] + " \u00b7 " + R.method +
      (state.site >= 0 ? " \u00b7 " + D.sites[state.site] : "") + (state.cls ? " \u00b7 class " + state.cls : "");
    $("ex-score-head").textContent = R.score_name;
    const frag = document.createDocumentFragment();
    for (let k = start; k < stop; k++) {
      const i = rows[k], n = R.order[i];
      const actions = document.createDocumentFragment();
      const link = dossierLink(n, "dossier");
      if (link) actions.appendChild(link);
      actions.appendChild(button("compare", "compare", n));
      frag.appendChild(row([i + 1, button(idOf(n), "detail", n), D.sites[siteOf(n)], R.scores[i],
        R.cls && R.cls[i] >= 0 ? R.classes[R.cls[i]] : null, actions]));
    }
    tbody.appendChild(frag);
    range.textContent = rows.length ? "rows " + (start + 1) + "\u2013" + stop + " of " + rows.length +
      " (page " + (state.page + 1) + " of " + pages + ")" : "no ranked neuron in this site and class";
    $("ex-prev").disabled = state.page === 0;
    $("ex-next").disabled = state.page >= pages - 1;
  };

  // ranks of one neuron in every ranking: [concept, method, rank, of, top %, score, class]
  const profile = (n) => D.rankings.map((R, r) => {
    const i = ranksOf(r)[n];
    if (i < 0) return [D.concepts[R.concept], R.method, "not ranked", R.order.length, null, null, null];
    return [D.concepts[R.concept], R.method, i + 1, R.order.length,
      (100 * (i + 1) / R.order.length).toFixed(1) + "%", R.scores[i],
      R.cls && R.cls[i] >= 0 ? R.classes[R.cls[i]] : null];
  });

  const renderDetail = () => {
    const box = $("ex-dossier");
    box.replaceChildren();
    const n = state.detail;
    box.hidden = n < 0;
    if (n < 0) return;
    box.appendChild(el("h3", "Neuron " + idOf(n)));
    const i = dossierIndex.get(n);
    const p = el("p");
    const link = dossierLink(n, "Open the dossier page of " + idOf(n));
    if (link) {
      p.appendChild(link);
      if (D.dossiers.description[i]) {
        box.appendChild(el("p", D.dossiers.description[i] +
          (D.dossiers.auc[i] === null ? "" : " (detection AUC " + D.dossiers.auc[i] + ")"), "ex-desc"));
      }
    } else {
      p.textContent = "No dossier page for this neuron (only the best ranked get one: see `neuronlab report " +
        "--dossiers`).";
    }
    box.appendChild(p);
    if (D.stats) {
      box.appendChild(el("p", "Activation over the first " + D.stats.rows + " rows: mean " + fmt(D.stats.mean[n]) +
        ", std " + fmt(D.stats.std[n]) + ", min " + fmt(D.stats.min[n]) + ", max " + fmt(D.stats.max[n]) + ".",
        "ex-stats"));
    }
    box.appendChild(D.rankings.length ? table(["concept", "method", "rank", "of", "top", "score", "best class"],
      profile(n)) : el("p", "No rankings in this store."));
    const bar = el("p");
    bar.append(button("compare", "compare", n), button("close", "close"));
    box.appendChild(bar);
  };

  const renderCompare = () => {
    const box = $("ex-compare");
    box.replaceChildren();
    const [a, b] = state.compare;
    box.hidden = state.compare.length === 0;
    if (!state.compare.length) return;
    if (b === undefined) {
      box.appendChild(el("h3", "Compare " + idOf(a) + " with\u2026"));
      box.appendChild(el("p", "Press compare on a second neuron."));
    } else {
      box.appendChild(el("h3", "Compare A = " + idOf(a) + " and B = " + idOf(b)));
      const pa = profile(a), pb = profile(b);
      box.appendChild(table(["concept", "method", "rank A", "rank B", "score A", "score B", "class A", "class B"],
        pa.map((x, k) => [x[0], x[1], x[2], pb[k][2], x[5], pb[k][5], x[6], pb[k][6]])));
      if (D.stats) {
        box.appendChild(table(["activation (first " + D.stats.rows + " rows)", "A", "B"],
          ["mean", "std", "min", "max"].map((k) => [k, D.stats[k][a], D.stats[k][b]])));
      }
    }
    box.appendChild(button("clear", "clear-compare"));
  };

  const renderMatches = () => {
    const box = $("ex-matches");
    box.replaceChildren();
    const q = search.value.trim().toLowerCase();
    if (!q) return;
    const concepts = [];
    D.concepts.forEach((c, i) => { if (c.toLowerCase().includes(q)) concepts.push(i); });
    if (concepts.length) {
      const p = el("p", "Concepts: ");
      for (const c of concepts) p.appendChild(Object.assign(button(D.concepts[c], "concept", c), { className: "ex-chip" }));
      box.appendChild(p);
    }
    // classes (of any ranking of a concept) containing the query: pick the concept and filter by that class
    const classHits = [];
    D.concepts.forEach((c, ci) => {
      const names = new Set();
      for (const R of D.rankings) if (R.concept === ci && R.classes) R.classes.forEach((k) => names.add(k));
      for (const k of names) if (k.toLowerCase().includes(q)) classHits.push([ci, k]);
    });
    if (classHits.length) {
      const p = el("p", "Classes: ");
      for (const [ci, k] of classHits.slice(0, MAX_MATCHES)) {
        const b = button(D.concepts[ci] + " \u00b7 " + k, "class", ci);
        b.className = "ex-chip";
        b.dataset.cls = k;
        p.appendChild(b);
      }
      if (classHits.length > MAX_MATCHES) p.appendChild(el("span", " and " + (classHits.length - MAX_MATCHES) +
        " more"));
      box.appendChild(p);
    }
    const exact = parseId(search.value.trim());
    const found = exact >= 0 ? [exact] : [];
    let more = 0;
    if (exact < 0) {
      for (let n = 0; n < N; n++) {
        if (idOf(n).includes(q)) { if (found.length < MAX_MATCHES) found.push(n); else more++; }
      }
    }
    if (found.length) {
      const p = el("p", "Neurons: ");
      for (const n of found) p.appendChild(Object.assign(button(idOf(n), "detail", n), { className: "ex-chip" }));
      if (more) p.appendChild(el("span", " and " + more + " more: type more of the id"));
      box.appendChild(p);
    }
    if (!concepts.length && !classHits.length && !found.length) box.appendChild(el("p", "No concept, class or " +
      "neuron id contains \u201c" +
      search.value.trim() + "\u201d.", "note"));
  };

  const selectConcept = (c, cls) => {
    concept.value = String(c);
    state.cls = cls || "";
    fillMethods();
    renderTable();
  };
  const openDetail = (n) => {
    state.detail = n;
    renderDetail();
    $("ex-dossier").scrollIntoView({ block: "nearest" });
  };
  const addCompare = (n) => {
    state.compare = state.compare.filter((x) => x !== n).concat([n]).slice(-2);
    renderCompare();
  };

  // ---- events
  concept.addEventListener("change", () => { fillMethods(); renderTable(); });
  method.addEventListener("change", () => {
    state.ranking = Number(method.value);
    state.page = 0;
    fillClasses();
    renderTable();
  });
  klass.addEventListener("change", () => { state.cls = klass.value; state.page = 0; renderTable(); });
  site.addEventListener("change", () => { state.site = Number(site.value); state.page = 0; renderTable(); });
  $("ex-prev").addEventListener("click", () => { state.page -= 1; renderTable(); });
  $("ex-next").addEventListener("click", () => { state.page += 1; renderTable(); });
  let timer = 0;
  search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(renderMatches, 120); });
  search.addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter") return;
    clearTimeout(timer);
    renderMatches();
    const exact = parseId(search.value.trim());
    const q = search.value.trim().toLowerCase();
    const hits = D.concepts.map((c, i) => [c.toLowerCase(), i]).filter(([c]) => c.includes(q));
    if (exact >= 0) openDetail(exact);
    else if (hits.length === 1) selectConcept(hits[0][1]);
  });
  root.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-action]");
    if (!b) return;
    const n = Number(b.dataset.n);
    switch (b.dataset.action) {
      case "detail": openDetail(n); break;
      case "compare": addCompare(n); break;
      case "concept": selectConcept(n); break;
      case "class": selectConcept(n, b.dataset.cls); break;
      case "close": state.detail = -1; renderDetail(); break;
      case "clear-compare": state.compare = []; renderCompare(); break;
      default: break;
    }
  });

  // ---- links to a neuron: index.html#explorer/<site:index>
  const fromHash = () => {
    const prefix = "#" + root.id + "/";
    if (!location.hash.startsWith(prefix)) return;
    const n = parseId(decodeURIComponent(location.hash.slice(prefix.length)));
    if (n >= 0) openDetail(n);
  };
  window.addEventListener("hashchange", fromHash);

  // ---- first render
  if (D.concepts.length) concept.value = "0";
  fillMethods();
  renderTable();
  fromHash();
  status.textContent = N + " neurons in " + D.sites.length + " sites; " + D.rankings.length + " rankings of " +
    D.concepts.length + " concepts; " + D.dossiers.neuron.length + " dossier pages. Search by neuron id or " +
    "concept, pick a concept and a method, open a neuron, compare two.";
  root.dataset.ready = "true";
  root.dataset.readyMs = String(Math.round(performance.now()));
})();
