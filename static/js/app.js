// Small progressive enhancements; every page works without JavaScript.
document.addEventListener("keydown", (e) => {
  // "/" jumps to the patient search box, as in most web apps, unless typing in a field.
  if (e.key === "/" && !/INPUT|TEXTAREA|SELECT/.test(document.activeElement.tagName)) {
    const q = document.getElementById("global-q");
    if (q) { e.preventDefault(); q.focus(); }
  }
});
document.addEventListener("click", (e) => {
  const el = e.target.closest("[data-confirm]");
  if (el && !window.confirm(el.dataset.confirm)) { e.preventDefault(); }
});
