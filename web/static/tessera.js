// Progressive enhancement only: every page works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Arrow keys move between the images of a post.
  const stage = document.querySelector(".stage");
  if (stage) {
    const figures = Array.from(stage.querySelectorAll("figure.image"));
    let index = 0;
    document.addEventListener("keydown", (event) => {
      if (figures.length < 2 || /INPUT|TEXTAREA|SELECT/.test(document.activeElement.tagName)) return;
      if (event.key === "ArrowRight" || event.key === "ArrowDown") index = Math.min(index + 1, figures.length - 1);
      else if (event.key === "ArrowLeft" || event.key === "ArrowUp") index = Math.max(index - 1, 0);
      else return;
      event.preventDefault();
      figures[index].scrollIntoView({ behavior: "smooth", block: "start" });
    });
  }
  // Confirm destructive forms.
  for (const form of document.querySelectorAll("form.confirm")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm || "Are you sure?")) event.preventDefault();
    });
  }
  // Composer: previews, and a nudge when alt text is empty.
  const compose = document.getElementById("compose");
  if (compose) {
    for (const slot of compose.querySelectorAll(".slot")) {
      const file = slot.querySelector("input[type=file]");
      const alt = slot.querySelector("textarea");
      const check = () => slot.classList.toggle("missing-alt", !!(file.files.length && !alt.value.trim()));
      file.addEventListener("change", () => {
        let preview = slot.querySelector("img.preview");
        if (!file.files.length) { if (preview) preview.remove(); check(); return; }
        if (!preview) { preview = document.createElement("img"); preview.className = "preview"; preview.alt = ""; file.after(preview); }
        preview.src = URL.createObjectURL(file.files[0]);
        check();
      });
      alt.addEventListener("input", check);
    }
  }
});
