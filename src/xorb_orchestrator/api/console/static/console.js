// The console's only script: live regions re-read their fragment every few seconds, and forms that undo or stop
// things ask first. Pages work without it (reload to update). No library, nothing loaded from elsewhere.
"use strict";

const EVERY_MS = 3000;

// A region is left alone while someone is working in it: focus inside, or a field they have typed in.
function busy(region) {
  if (region.contains(document.activeElement) && document.activeElement !== document.body) return true;
  for (const field of region.querySelectorAll("input, select, textarea")) {
    if (field.type === "hidden" || field.type === "submit") continue;
    if ((field.type === "checkbox" && field.checked !== field.defaultChecked) || field.value !== field.defaultValue) {
      return true;
    }
  }
  return false;
}

async function refresh(region) {
  if (document.hidden || busy(region)) return;
  let answer;
  try {
    answer = await fetch(region.dataset.live, { credentials: "same-origin", headers: { "X-Console-Live": "1" } });
  } catch (_) {
    region.setAttribute("data-stale", "true");  // the service is away: keep what is shown, say it is stale
    return;
  }
  if (answer.status === 401) {
    window.location.reload();  // the session ended: the page itself goes to the sign-in form
    return;
  }
  const html = await answer.text();
  region.removeAttribute("data-stale");
  if (html !== region.dataset.shown && !busy(region)) {
    region.innerHTML = html;
    region.dataset.shown = html;
  }
}

function confirmBeforeSending(event) {
  const question = event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
}

document.addEventListener("DOMContentLoaded", () => {
  for (const region of document.querySelectorAll("[data-live]")) {
    setInterval(() => refresh(region), EVERY_MS);
  }
  document.addEventListener("submit", confirmBeforeSending);
});
