"use strict";
(function () {
  const data = JSON.parse(document.getElementById("kguard-data").textContent);
  const findings = data.findings;
  const rank = {};
  data.severities.forEach(function (s, i) { rank[s] = i; });
  const $ = function (id) { return document.getElementById(id); };
  const tbody = document.querySelector("#findings-table tbody");
  const filters = {
    s: $("f-severity"), c: $("f-category"), r: $("f-rule"), n: $("f-namespace"), p: $("f-file"), run: $("f-run")
  };
  const search = $("f-search");
  const showSuppressed = $("f-suppressed");
  let sortKey = "s";
  let sortDir = 1;

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function fill(select, values, labels) {
    if (!select) return;
    values.forEach(function (v) {
      const option = el("option", "", labels && labels[v] ? labels[v] : v);
      option.value = v;
      select.appendChild(option);
    });
  }

  function distinct(key) {
    const seen = {};
    findings.forEach(function (f) { if (f[key]) seen[f[key]] = true; });
    return Object.keys(seen).sort();
  }

  fill(filters.s, data.severities.filter(function (s) { return findings.some(function (f) { return f.s === s; }); }));
  fill(filters.c, distinct("c"), data.categories);
  fill(filters.r, distinct("r"));
  fill(filters.n, distinct("n"));
  fill(filters.p, distinct("p"));
  fill(filters.run, distinct("run"));

  const PAGE = 300;
  let limit = PAGE;
  let order = [];
  let matches = [];
  const rows = {};
  const details = {};
  const haystacks = findings.map(function (f) {
    const rule = data.rules[f.r] || {};
    return [f.r, f.o, f.n, f.p, f.m, f.x || rule.fix || "", f.fp || "", f.run || "", f.sup || "", rule.title || ""]
      .join("\n").toLowerCase();
  });

  function row(i) {
    if (rows[i]) return rows[i];
    const f = findings[i];
    const tr = el("tr", "row" + (f.sup ? " sup" : ""));
    tr.dataset.index = String(i);
    const sevCell = el("td");
    sevCell.appendChild(el("span", "sev " + f.s, f.s));
    tr.appendChild(sevCell);
    const rule = el("td", "rule", f.r);
    rule.title = data.rules[f.r] ? data.rules[f.r].title : f.r;
    tr.appendChild(rule);
    const object = el("td", "obj", f.o);
    object.title = f.o;
    tr.appendChild(object);
    tr.appendChild(el("td", "ns", f.n));
    const loc = el("td", "loc", f.p.split("/").slice(-2).join("/") + ":" + f.l);
    loc.title = f.p + ":" + f.l;
    tr.appendChild(loc);
    const msg = el("td", "msg", f.m);
    msg.title = f.m;
    tr.appendChild(msg);
    rows[i] = tr;
    return tr;
  }

  function snippet(f) {
    const chunks = data.sources[f.p];
    if (!chunks) return null;
    for (const chunk of chunks) {
      const first = chunk[0];
      const lines = chunk[1];
      if (f.l >= first && f.l < first + lines.length) {
        const box = el("div", "snippet");
        const from = Math.max(first, f.l - 3);
        const to = Math.min(first + lines.length - 1, Math.min(f.e, f.l + 12) + 3);
        for (let n = from; n <= to; n++) {
          const line = el("div", n >= f.l && n <= f.e ? "hit" : "");
          line.appendChild(el("span", "no", n));
          line.appendChild(document.createTextNode(lines[n - first]));
          box.appendChild(line);
        }
        return box;
      }
    }
    return null;
  }

  function link(f) {
    if (!data.link || !f.in) return null;
    const path = f.p.split("/").map(encodeURIComponent).join("/");
    const a = el("a", "repo-link", "Open " + f.p + ":" + f.l + " in the repository");
    a.href = data.link + "/" + path + "#L" + f.l + (f.e > f.l ? "-L" + f.e : "");
    a.rel = "noopener noreferrer";
    a.referrerPolicy = "no-referrer";
    a.target = "_blank";
    return a;
  }

  function detail(f) {
    const tr = el("tr", "detail");
    const td = el("td");
    td.colSpan = 6;
    const box = el("div", "detail");
    const rule = data.rules[f.r] || {};
    box.appendChild(el("h4", "", "Finding"));
    box.appendChild(el("p", "", f.m));
    box.appendChild(el("p", "muted", f.o + " · " + (rule.title || f.r) + (f.fp ? " · field " + f.fp : "") +
      (f.run ? " · run " + f.run : "") + (f.ea ? " · enforcement " + f.ea : "")));
    const fix = f.x || rule.fix;
    if (fix) {
      box.appendChild(el("h4", "", "Remediation"));
      box.appendChild(el("p", "fix", fix));
    }
    if (f.sup) {
      box.appendChild(el("h4", "", "Suppressed"));
      box.appendChild(el("p", "", f.sup));
    }
    if (f.rel) {
      box.appendChild(el("h4", "", "Related"));
      const ul = el("ul");
      f.rel.forEach(function (r) {
        ul.appendChild(el("li", "", r[0] + (r[1] ? " (" + r[1] + ")" : "") + (r[2] ? ": " + r[2] : "")));
      });
      box.appendChild(ul);
    }
    const source = el("h4", "", "Source");
    source.appendChild(el("code", "", f.p + ":" + f.l));
    box.appendChild(source);
    const code = snippet(f);
    box.appendChild(code || el("p", "muted", "No snippet: the file is not a regular file inside the working tree."));
    const a = link(f);
    if (a) box.appendChild(a);
    if (rule.help) {
      const help = el("a", "help-link", "Rule documentation");
      help.href = rule.help;
      help.rel = "noopener noreferrer";
      help.target = "_blank";
      box.appendChild(el("span", "", a ? " · " : ""));
      box.appendChild(help);
    }
    td.appendChild(box);
    tr.appendChild(td);
    return tr;
  }

  tbody.addEventListener("click", function (event) {
    const tr = event.target.closest("tr.row");
    if (!tr || event.target.closest("a")) return;
    const i = Number(tr.dataset.index);
    if (details[i]) {
      details[i].remove();
      delete details[i];
      tr.classList.remove("open");
      return;
    }
    tr.classList.add("open");
    details[i] = detail(findings[i]);
    tr.after(details[i]);
  });

  function compare(a, b) {
    const fa = findings[a], fb = findings[b];
    let d;
    if (sortKey === "s") d = rank[fa.s] - rank[fb.s];
    else if (sortKey === "p") d = fa.p < fb.p ? -1 : fa.p > fb.p ? 1 : fa.l - fb.l;
    else d = fa[sortKey] < fb[sortKey] ? -1 : fa[sortKey] > fb[sortKey] ? 1 : 0;
    if (d === 0) d = (fa.p < fb.p ? -1 : fa.p > fb.p ? 1 : fa.l - fb.l) || a - b;
    return sortDir * d || a - b;
  }

  function sort() {
    order = findings.map(function (_, i) { return i; }).sort(compare);
    apply();
  }

  function apply() {
    const wanted = {};
    Object.keys(filters).forEach(function (k) { if (filters[k] && filters[k].value) wanted[k] = filters[k].value; });
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const sup = showSuppressed.checked;
    matches = order.filter(function (i) {
      const f = findings[i];
      if (!sup && f.sup) return false;
      for (const k in wanted) if (f[k] !== wanted[k]) return false;
      for (const w of words) if (haystacks[i].indexOf(w) < 0) return false;
      return true;
    });
    limit = PAGE;
    draw();
  }

  function draw() {
    const fragment = document.createDocumentFragment();
    matches.slice(0, limit).forEach(function (i) {
      fragment.appendChild(row(i));
      if (details[i]) fragment.appendChild(details[i]);
    });
    tbody.textContent = "";
    tbody.appendChild(fragment);
    const active = findings.filter(function (f) { return !f.sup; }).length;
    const shown = Math.min(limit, matches.length);
    $("shown").textContent = matches.length + " of " + active + " findings" +
      (findings.length > active ? " (+" + (findings.length - active) + " suppressed)" : "") +
      (shown < matches.length ? ", first " + shown + " listed" : "");
    $("empty").hidden = matches.length > 0;
    $("more").hidden = shown >= matches.length;
    $("more-count").textContent = String(Math.min(PAGE, matches.length - shown));
    document.querySelectorAll(".sev-chip").forEach(function (chip) {
      chip.classList.toggle("on", chip.dataset.severity === filters.s.value);
    });
  }

  $("more-page").addEventListener("click", function () {
    limit += PAGE;
    draw();
  });
  $("more-all").addEventListener("click", function () {
    limit = matches.length;
    draw();
  });

  document.querySelectorAll("#findings-table th[data-sort]").forEach(function (th) {
    th.addEventListener("click", function () {
      const key = th.dataset.sort;
      sortDir = key === sortKey ? -sortDir : 1;
      sortKey = key;
      document.querySelectorAll("#findings-table th").forEach(function (other) { other.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", sortDir > 0 ? (key === "s" ? "descending" : "ascending") : (key === "s" ? "ascending" : "descending"));
      sort();
    });
  });
  Object.keys(filters).forEach(function (k) { if (filters[k]) filters[k].addEventListener("change", apply); });
  let timer = 0;
  search.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(apply, 120); });
  showSuppressed.addEventListener("change", apply);
  $("f-reset").addEventListener("click", function () {
    Object.keys(filters).forEach(function (k) { if (filters[k]) filters[k].value = ""; });
    search.value = "";
    showSuppressed.checked = false;
    apply();
  });
  document.querySelectorAll(".sev-chip").forEach(function (chip) {
    chip.addEventListener("click", function () {
      const s = chip.dataset.severity;
      if (!Array.prototype.some.call(filters.s.options, function (o) { return o.value === s; })) return;
      filters.s.value = filters.s.value === s ? "" : s;
      apply();
      $("findings").scrollIntoView({ behavior: "smooth" });
    });
  });
  document.querySelectorAll(".svg-wrap g.node").forEach(function (node) {
    node.addEventListener("click", function () {
      const title = node.querySelector("title");
      if (!title) return;
      const name = title.textContent;
      const graph = node.closest("figure").dataset.graph;
      let words = name;
      if (graph === "reachability") {
        const slash = name.indexOf("/");
        words = name.slice(slash + 1).replace(/ \+\d+$/, "").split(" ").slice(1).join(" ");
      } else {
        words = name.slice(name.indexOf(":") + 1);
      }
      search.value = words;
      apply();
      $("findings").scrollIntoView({ behavior: "smooth" });
    });
  });
  // a graph shrinks to the column's width, but not below 80 % of its natural size (then the box scrolls)
  function fitGraphs() {
    document.querySelectorAll(".svg-wrap svg").forEach(function (svg) {
      const natural = Number(svg.getAttribute("width"));
      const room = svg.parentNode.clientWidth;
      svg.style.minWidth = natural && room && natural * 0.8 > room ? Math.round(natural * 0.8) + "px" : "";
    });
  }
  fitGraphs();
  window.addEventListener("resize", fitGraphs);
  sort();
  document.body.dataset.ready = "1";
  document.body.dataset.renderMs = String(Math.round(performance.now()));
})();
