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
  // Composer: show only as many alt-text slots as files chosen, each with a preview,
  // and nudge when an alt text is empty. Without JavaScript all slots stay visible.
  const compose = document.getElementById("compose");
  if (compose) {
    const picker = compose.querySelector("#images");
    const slots = Array.from(compose.querySelectorAll(".slot"));
    const refresh = () => {
      const files = Array.from(picker.files || []);
      slots.forEach((slot, i) => {
        const file = files[i];
        slot.hidden = !file && i > 0;
        let preview = slot.querySelector("img.preview");
        if (file) {
          if (!preview) { preview = document.createElement("img"); preview.className = "preview"; preview.alt = ""; slot.prepend(preview); }
          preview.src = URL.createObjectURL(file);
        } else if (preview) { preview.remove(); }
        const alt = slot.querySelector("textarea");
        slot.classList.toggle("missing-alt", !!(file && !alt.value.trim()));
      });
    };
    picker.addEventListener("change", refresh);
    for (const alt of compose.querySelectorAll(".slot textarea")) alt.addEventListener("input", refresh);
    refresh();
  }
});
