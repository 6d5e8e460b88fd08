// The calendar grid (scheduling/templatetags/calendar_grid.py): every element carries its place as data attributes
// (data-r first row, data-s rows spanned, data-c column, data-cs columns spanned); the CSP allows no style attribute,
// so the place is set here through the CSSOM. Also: the grid refreshed by htmx (or a block swapped after a step of
// the patient flow) keeps the scroll position, and today's view opens scrolled to the now-line.
(function () {
  "use strict";
  // htmx copies the "style" attribute of an element it replaces onto its successor (same id) while settling: with
  // style-src 'self' that setAttribute is refused (a CSP error in the console). The places come from data-* here.
  if (window.htmx) { htmx.config.attributesToSettle = ["class", "width", "height"]; }
  function placeOne(el) {
    el.style.gridRow = el.dataset.r + " / span " + (el.dataset.s || 1);
    el.style.gridColumn = el.dataset.c + " / span " + (el.dataset.cs || 1);
  }
  function place(root) {
    if (!root || !root.querySelectorAll) { return; }
    const grids = root.matches(".cal-grid") ? [root] : Array.from(root.querySelectorAll(".cal-grid"));
    for (const g of grids) {
      g.style.gridTemplateColumns = "var(--cal-gutter) repeat(" + g.dataset.cols + ", minmax(var(--cal-col-min), 1fr))";
      g.querySelectorAll("[data-r]").forEach(placeOne);
    }
    if (root.dataset && root.dataset.r) { placeOne(root); }
  }
  function scroller() { return document.getElementById("cal-scroll"); }
  let kept = null;
  document.addEventListener("htmx:beforeSwap", () => {
    const s = scroller();
    kept = s ? [s.scrollTop, s.scrollLeft, window.scrollX, window.scrollY] : null;
  });
  document.addEventListener("htmx:load", (e) => place(e.detail.elt));
  document.addEventListener("htmx:afterSettle", () => {
    const s = scroller();
    if (s && kept) {
      s.scrollTop = kept[0]; s.scrollLeft = kept[1];
      window.scrollTo(kept[2], kept[3]);
    }
    kept = null;
  });
  place(document.body);
  const s = scroller();
  const now = s && s.querySelector(".cal-now");
  if (now) { s.scrollTop = Math.max(0, now.offsetTop - s.clientHeight / 3); }
})();
