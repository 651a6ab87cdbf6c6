// heldout near-duplicate review: 1-9 tick a neighbour, Enter saves, S skips to the next row.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form.dedup-review");
  if (!form) return;
  const boxes = Array.from(form.querySelectorAll("input[name=duplicate]"));
  const paint = () => boxes.forEach((box) => box.closest(".tile").classList.toggle("selected", box.checked));
  form.addEventListener("change", paint);
  document.addEventListener("keydown", (event) => {
    if (event.target.matches("input[name=reviewer]") || event.ctrlKey || event.metaKey || event.altKey) return;
    const box = boxes[Number(event.key) - 1];
    if (box) {
      box.checked = !box.checked;
      paint();
      event.preventDefault();
    } else if (event.key === "Enter") {
      event.preventDefault();
      form.requestSubmit();
    } else if (event.key === "s" || event.key === "S") {
      window.location.assign(form.dataset.next);
    }
  });
  form.addEventListener("submit", () => {
    form.querySelectorAll("button[type=submit]").forEach((b) => { b.disabled = true; });
  });
  paint();
});
