// The book's search box: every section of every lesson (static/search_index.js, written by tools/build_book.py),
// searched in the page itself, so that it works from file:// without a server or a network.
(function () {
  "use strict";
  var input = document.getElementById("book-search");
  var list = document.getElementById("book-results");
  var sections = (window.BOOK_SEARCH || []).map(function (entry) {
    return { entry: entry, heading: fold(entry.heading), text: fold(entry.text) };
  });
  if (!input || !list) return;

  function fold(text) {
    return text.toLowerCase().normalize("NFKD").replace(/[\u0300-\u036f]/g, "");
  }

  function find(query) {
    var terms = fold(query).split(/[^a-z0-9_α-ω]+/).filter(function (t) { return t.length > 1; });
    if (!terms.length) return [];
    var phrase = fold(query).trim();
    var hits = [];
    sections.forEach(function (s) {
      var score = 0;
      for (var i = 0; i < terms.length; i++) {
        var inHeading = s.heading.indexOf(terms[i]) >= 0, inText = s.text.indexOf(terms[i]) >= 0;
        if (!inHeading && !inText) return;
        score += (inHeading ? 5 : 0) + (inText ? 1 : 0);
      }
      if (s.heading.indexOf(phrase) >= 0) score += 10;  // the words together, as typed, in a title
      hits.push({ score: score, section: s, term: terms[0] });
    });
    hits.sort(function (a, b) { return b.score - a.score; });
    return hits.slice(0, 12);
  }

  function excerpt(section, term) {
    var at = section.text.indexOf(term), text = section.entry.text;
    if (at < 0) return text.slice(0, 140);
    var start = Math.max(0, at - 60);
    return (start > 0 ? "… " : "") + text.slice(start, start + 160) + " …";
  }

  function show() {
    var hits = find(input.value);
    list.textContent = "";
    if (!input.value.trim()) { list.hidden = true; return; }
    if (!hits.length) {
      var none = document.createElement("li");
      none.className = "book-none";
      none.textContent = "Nothing found for “" + input.value.trim() + "”.";
      list.appendChild(none);
    }
    hits.forEach(function (hit) {
      var e = hit.section.entry, item = document.createElement("li"), link = document.createElement("a");
      link.href = e.page + "#" + e.anchor;  // nbconvert's ids are already URL-encoded
      var where = document.createElement("span"), text = document.createElement("span");
      where.className = "book-hit-where";
      where.textContent = e.lesson;
      text.className = "book-hit-text";
      text.textContent = excerpt(hit.section, hit.term);
      link.appendChild(where);
      link.appendChild(document.createTextNode(e.heading));
      link.appendChild(text);
      item.appendChild(link);
      list.appendChild(item);
    });
    list.hidden = false;
  }

  input.addEventListener("input", show);
  input.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { input.value = ""; show(); input.blur(); }
    if (event.key === "Enter") {
      var first = list.querySelector("a");
      if (first) window.location.href = first.href;
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "/" && document.activeElement !== input) { event.preventDefault(); input.focus(); }
  });
  document.addEventListener("click", function (event) {
    if (!list.contains(event.target) && event.target !== input) list.hidden = true;
  });
})();
