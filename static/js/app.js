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
// A search result fills the form it belongs to (ICD-10-CM code, allergen from the catalog): data-fill-target is a
// field's selector and data-fill-value its value (…-target2/-value2, …-target3/-value3 for more fields).
document.addEventListener("click", (e) => {
  const el = e.target.closest("[data-fill-target]");
  if (!el) { return; }
  for (const n of ["", "2", "3"]) {
    const field = el.dataset["fillTarget" + n] && document.querySelector(el.dataset["fillTarget" + n]);
    if (field) {
      field.value = el.dataset["fillValue" + n] || "";
      field.dispatchEvent(new Event("change", { bubbles: true }));
    }
  }
  const next = el.dataset.fillFocus && document.querySelector(el.dataset.fillFocus);
  if (next) { next.focus(); }
});
document.addEventListener("input", (e) => {
  // The allergy substance changed by hand after a catalog pick: forget the RXCUI (it named another text).
  if (e.target.id === "id_substance_text") {
    const rx = document.getElementById("id_substance_rxcui");
    if (rx) { rx.value = ""; }
  }
});
// htmx does not swap 4xx answers by default; a 409 (a note saved by someone else meanwhile) carries the message
// and both versions, and must replace "Draft saved" so nobody believes their text was kept when it was not.
document.addEventListener("htmx:beforeSwap", (e) => {
  if (e.detail.xhr && e.detail.xhr.status === 409) {
    e.detail.shouldSwap = true;
    e.detail.isError = false;
  }
});
// Prescribe form: a product picked from the catalog sets the directions its dose form calls for (dose unit,
// route, dispensing unit); the prescriber can still change them, and the server refuses a contradiction.
document.addEventListener("change", (e) => {
  const pick = e.target;
  if (!(pick instanceof HTMLInputElement) || pick.name !== "medication_id" || !pick.checked) { return; }
  const fields = { defaultDoseunit: "id_dose_unit", defaultRoute: "id_route", defaultQuantityunit: "id_quantity_unit" };
  for (const [key, id] of Object.entries(fields)) {
    const field = document.getElementById(id);
    if (field && pick.dataset[key]) { field.value = pick.dataset[key]; }
  }
  const chosen = document.getElementById("med-chosen");
  if (chosen) { chosen.textContent = pick.dataset.medName || ""; }
});
// A date the browser's date input cannot read (31 February) is sent as "": flag it, so the server can say the date
// does not exist instead of asking for one (patients/forms.py RealDateInput).
document.addEventListener("submit", (e) => {
  for (const input of e.target.querySelectorAll("input[type=date]")) {
    const flag = input.name + "__bad";
    e.target.querySelectorAll(`input[type=hidden][name="${flag}"]`).forEach((old) => old.remove());
    if (input.validity && input.validity.badInput) {
      const hidden = document.createElement("input");
      hidden.type = "hidden"; hidden.name = flag; hidden.value = "1";
      e.target.appendChild(hidden);
    }
  }
}, true);
