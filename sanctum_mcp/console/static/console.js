// The console's own script (no inline script: the page's CSP allows only these files).
// The JSON editor: a textarea marked data-json says at once whether its text parses; the server
// checks it again (the key's type and constraint) when the change is reviewed.
document.addEventListener("input", (event) => {
  const area = event.target;
  if (!(area instanceof HTMLTextAreaElement) || !area.hasAttribute("data-json")) return;
  const error = document.getElementById("err-" + area.id.slice(3));
  try {
    if (area.value.trim() !== "") JSON.parse(area.value);
    area.classList.remove("invalid");
    if (error) error.textContent = "";
  } catch (problem) {
    area.classList.add("invalid");
    if (error) error.textContent = "Not valid JSON yet: " + problem.message;
  }
});

// Live updates: follow the change feed from the revision this page was rendered at (pages/live.py)
// and refresh what changed. A settings field being edited keeps what was typed and says who
// changed it underneath (its save would be refused as a conflict).
(() => {
  const start = document.body.dataset.revision;
  if (start === undefined) return;
  let revision = start;
  const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

  const edited = (field) => [...field.querySelectorAll("input, select, textarea")].some((el) => {
    if (el.type === "hidden") return false;
    if (el.type === "checkbox") return el.checked !== el.defaultChecked;
    if (el instanceof HTMLSelectElement) return [...el.options].some((o) => o.selected !== o.defaultSelected);
    return el.value !== el.defaultValue;
  });

  const fresh = async () => {
    const response = await fetch(location.href, { cache: "no-store" });
    if (!response.ok) return null;
    return new DOMParser().parseFromString(await response.text(), "text/html");
  };

  const settle = (node) => { if (window.htmx) window.htmx.process(node); };

  const apply = async (data) => {
    const form = document.getElementById("settings-form");
    // A page whose lists reload themselves (data-live-list, on the `changed` event): only they do,
    // so the answer to the last action (a new token shown once, a cascade, a restore form) stays.
    // A list with an input being edited is not reloaded (the edit would be lost): it says so.
    if (!form && document.querySelector("[data-live-list]")) {
      const editing = [...document.querySelectorAll("[data-live-list]")].find((list) => edited(list));
      if (!editing) {
        if (window.htmx) window.htmx.trigger(document.body, "changed");
        return;
      }
      let notice = editing.querySelector(".live-notice");
      if (!notice) {
        notice = document.createElement("p");
        notice.className = "message info live-notice";
        notice.setAttribute("role", "status");
        editing.prepend(notice);
      }
      const actors = [...new Set(data.changes.map((change) => change.actor).filter(Boolean))].join(", ");
      notice.textContent = `Changed meanwhile${actors ? " by " + actors : ""}: this list is not reloaded while you ` +
        "edit it (your input is kept); it reloads after your next action.";
      return;
    }
    const page = await fresh();
    if (!page) return;
    if (!form) {  // every other page: its content again
      const main = page.querySelector("main");
      if (main) { document.querySelector("main").replaceWith(main); settle(main); }
      return;
    }
    for (const change of data.changes) {
      if (change.kind !== "config" || change.scope !== "system" || !change.key) continue;
      const selector = `.field[data-key="${CSS.escape(change.key)}"]`;
      const current = document.querySelector(selector);
      const replacement = page.querySelector(selector);
      if (!current || !replacement) continue;
      if (edited(current)) {
        let notice = current.querySelector(".field-notice");
        if (!notice) {
          notice = document.createElement("p");
          notice.className = "field-notice";
          notice.setAttribute("role", "alert");
          current.appendChild(notice);
        }
        notice.textContent = `Changed by ${change.actor} since this page loaded: your edit is kept here, but saving ` +
          "it will be refused; reload the page to see the new value.";
      } else {
        const node = document.importNode(replacement, true);
        current.replaceWith(node);
        settle(node);
      }
    }
  };

  const follow = async () => {
    for (;;) {
      let response;
      try {
        // As a fragment request: signed out, it is answered 401 (not a redirect to the sign-in page).
        response = await fetch(`/console/changes?after=${encodeURIComponent(revision)}`,
          { cache: "no-store", headers: { "HX-Request": "true" } });
      } catch (problem) {
        await sleep(5000);
        continue;
      }
      if (response.status === 401) return;  // signed out: the next navigation shows the sign-in page
      if (!response.ok) { await sleep(5000); continue; }
      const data = await response.json();
      // The feed restarted (a restore, say): a page reloads, but a page of live lists reloads only
      // them (apply), so the answer on screen (the restore's own) stays.
      const lists = document.querySelector("[data-live-list]");
      if (data.reset && !lists && !document.querySelector(".field-notice")) { location.reload(); return; }
      if (data.changes.length || (data.reset && lists)) await apply(data);
      revision = String(data.revision);
    }
  };
  follow();
})();
