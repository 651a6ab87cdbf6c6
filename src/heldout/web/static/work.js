// heldout worker pages: mark ticked tiles, count them, and send a form once.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form.task");
  if (!form) return;
  const counter = document.querySelector("[data-count]");
  const update = () => {
    form.querySelectorAll(".tile").forEach((tile) => {
      tile.classList.toggle("selected", tile.querySelector("input").checked);
    });
    if (counter) counter.textContent = form.querySelectorAll(".tile input:checked").length;
  };
  form.addEventListener("change", update);
  form.addEventListener("submit", () => {
    form.querySelectorAll("button[type=submit]").forEach((b) => { b.disabled = true; });
  });
  update();
});
// After an MTurk submission is committed here, hand the assignment back to MTurk.
document.addEventListener("DOMContentLoaded", () => {
  const handBack = document.querySelector("form.mturk-submit");
  if (handBack) handBack.submit();
});
