// memd inspector: small conveniences only; every page works without them.
// Loaded as a file (the Content-Security-Policy runs no inline script) and
// writing text only through textContent, never as markup.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Namespace picker: show the chosen namespace at once.
  for (const sel of document.querySelectorAll("select[data-autosubmit]")) {
    sel.addEventListener("change", () => sel.form.submit());
  }

  // The facts page's as_of slider: say which instant it points at while
  // it moves, load the page for it when it is let go.
  for (const range of document.querySelectorAll("input[type=range][data-asof]")) {
    const out = document.getElementById(range.dataset.asof);
    const show = () => {
      if (!out) return;
      if (range.value === range.max) {
        out.textContent = "now (live facts)";
      } else {
        const t = new Date(Number(range.value));
        out.textContent = t.toISOString().slice(0, 16).replace("T", " ") + " UTC";
      }
    };
    range.addEventListener("input", show);
    range.addEventListener("change", () => range.form.submit());
    show();
  }

  // Filter boxes: hide the rows of a table that do not contain the text.
  for (const box of document.querySelectorAll("input[data-filter]")) {
    const rows = document.querySelectorAll(box.dataset.filter);
    box.addEventListener("input", () => {
      const q = box.value.trim().toLowerCase();
      for (const row of rows) {
        row.hidden = q !== "" && !row.textContent.toLowerCase().includes(q);
      }
    });
  }
});
