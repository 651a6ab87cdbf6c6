// heldout final review: decisions on a class page, verdicts in the predictions browser.
// Every save names the reviewer (kept in this browser) and is sent as JSON to the review API.
(() => {
  const REVIEWER_KEY = "heldout-reviewer";

  function reviewer() {
    const input = document.querySelector("#reviewer");
    const name = input ? input.value.trim() : "";
    if (name) localStorage.setItem(REVIEWER_KEY, name);
    return name;
  }

  function say(text, ok) {
    const message = document.querySelector("#message");
    message.textContent = text;
    message.className = ok ? "ok" : "bad";
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      credentials: "same-origin",
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error((data.error || response.statusText) + (data.fix ? " " + data.fix : ""));
    return data;
  }

  function needReviewer() {
    const name = reviewer();
    if (!name) {
      say("Enter your name as reviewer first.", false);
      document.querySelector("#reviewer").focus();
    }
    return name;
  }

  function classPage(page) {
    const setInput = document.querySelector("#duplicate-set");
    const boxes = (kind, id) =>
      document.querySelectorAll(`input.${kind}` + (id ? `[data-image="${CSS.escape(id)}"]` : ""));

    const setIds = () => setInput.value.split(/[\s,]+/).filter(Boolean);
    const toggleInSet = (id, on) => {
      const ids = setIds().filter((x) => x !== id);
      if (on) ids.push(id);
      setInput.value = ids.join(" ");
    };
    const paint = () => {
      document.querySelectorAll(".rtile").forEach((tile) => {
        const id = tile.dataset.image;
        tile.classList.toggle("blacklisted", boxes("blacklist", id)[0].checked);
        tile.classList.toggle("flagged", boxes("flag", id)[0].checked);
      });
    };

    page.addEventListener("change", (event) => {
      const box = event.target;
      const kind = ["blacklist", "flag", "dup"].find((k) => box.classList.contains(k));
      if (!kind) return;
      boxes(kind, box.dataset.image).forEach((other) => { other.checked = box.checked; });
      if (kind === "dup") toggleInSet(box.dataset.image, box.checked);
      paint();
    });

    const changes = (kind) => {
      const add = new Set();
      const remove = new Set();
      boxes(kind).forEach((box) => {
        const was = box.dataset.initial === "1";
        if (box.checked && !was) add.add(box.dataset.image);
        if (!box.checked && was) remove.add(box.dataset.image);
      });
      return [[...add], [...remove]];
    };

    async function save(status) {
      const name = needReviewer();
      if (!name) return;
      const [blacklistAdd, blacklistRemove] = changes("blacklist");
      const [flagAdd, flagRemove] = changes("flag");
      const set = setIds();
      const body = {
        reviewer: name,
        blacklist_add: blacklistAdd,
        blacklist_remove: blacklistRemove,
        flag_add: flagAdd,
        flag_remove: flagRemove,
        duplicate_sets: set.length ? [set] : [],
        status: status || null,
      };
      try {
        const result = await post(page.dataset.api, body);
        boxes("blacklist").forEach((box) => { box.dataset.initial = box.checked ? "1" : "0"; });
        boxes("flag").forEach((box) => { box.dataset.initial = box.checked ? "1" : "0"; });
        boxes("dup").forEach((box) => { box.checked = false; });
        setInput.value = "";
        if (status) {
          const badge = document.querySelector("#status");
          badge.textContent = status;
          badge.className = "status " + status;
        }
        say(
          `Saved by ${name}: ${result.blacklisted} blacklisted, ${result.unblacklisted} unblacklisted, ` +
            `${result.flagged} flagged, ${result.unflagged} unflagged, ${result.duplicate_pairs} duplicate pairs` +
            (status ? `, class ${status}` : "") + ".",
          true,
        );
      } catch (error) {
        say("Not saved: " + error.message, false);
      }
    }

    document.querySelector("#save").addEventListener("click", () => save(null));
    document.querySelector("#mark-reviewed").addEventListener("click", () => save("reviewed"));
    document.querySelector("#mark-problematic").addEventListener("click", () => save("problematic"));

    const tiles = () => [...document.querySelectorAll(".rtile")];
    const focused = () => document.activeElement.closest && document.activeElement.closest(".rtile");
    const toggle = (kind) => {
      const tile = focused();
      if (!tile) return;
      const box = tile.querySelector(`input.${kind}`);
      box.checked = !box.checked;
      box.dispatchEvent(new Event("change", { bubbles: true }));
    };
    const move = (step) => {
      const all = tiles();
      const at = all.indexOf(focused());
      const next = all[Math.max(0, Math.min(all.length - 1, at + step))];
      if (next) next.focus();
    };
    const follow = (selector) => {
      const link = document.querySelector(selector);
      if (link) window.location = link.href;
    };
    const keys = {
      j: () => move(1), ArrowRight: () => move(1), k: () => move(-1), ArrowLeft: () => move(-1),
      b: () => toggle("blacklist"), x: () => toggle("flag"), d: () => toggle("dup"),
      s: () => save(null), r: () => save("reviewed"), p: () => save("problematic"),
      n: () => follow("#next-class"), N: () => follow("#previous-class"),
    };
    document.addEventListener("keydown", (event) => {
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.target.matches("input[type=text], select, textarea")) return;
      const action = keys[event.key];
      if (!action) return;
      event.preventDefault();
      action();
    });
  }

  function predictionsPage(page) {
    page.addEventListener("click", async (event) => {
      const button = event.target.closest("button[data-state]");
      if (!button) return;
      const row = button.closest("tr[data-class]");
      const name = needReviewer();
      if (!name) return;
      const body = { reviewer: name, image_id: row.dataset.image, class_key: row.dataset.class, state: button.dataset.state };
      try {
        await post(page.dataset.api, body);
        row.querySelectorAll("button[data-state]").forEach((b) => b.classList.toggle("chosen", b === button));
        row.querySelector(".state").textContent = button.dataset.state;
        say(`Saved: ${row.dataset.class} is ${button.dataset.state} for ${row.dataset.image} (by ${name}).`, true);
      } catch (error) {
        say("Not saved: " + error.message, false);
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const input = document.querySelector("#reviewer");
    if (input && !input.value) input.value = localStorage.getItem(REVIEWER_KEY) || "";
    const classView = document.querySelector("[data-review-class]");
    if (classView) classPage(classView);
    const predictions = document.querySelector("[data-review-predictions]");
    if (predictions) predictionsPage(predictions);
  });
})();
