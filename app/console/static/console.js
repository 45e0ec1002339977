// The console's own few lines of script (no build step): see each part's comment.
"use strict";

// A page drawn in answer to a refused form (/settings after a bad value) is at the form's
// POST-only URL: the address bar shows the page's own GET address instead, so a reload asks
// for the page (it does not post the form again) and a link relative to it finds a page.
(function showPageAddress() {
  const page = document.body.dataset.pageUrl;
  if (page && window.location.pathname !== page) {
    window.history.replaceState(null, "", page);
  }
})();

// A live update (a poll: hx-trigger "every …") waits while the operator has text selected
// on the page: redrawn, the table would clear the selection being copied. The count of
// updates held so (data-held-updates on <body>) lets a test wait for them, not for a time.
function isPoll(element) {
  return /\bevery\b/.test(element.getAttribute("hx-trigger") || "");
}

document.addEventListener("htmx:beforeRequest", function (event) {
  const selection = window.getSelection();
  if (isPoll(event.detail.elt) && selection && !selection.isCollapsed
      && document.querySelector("main").contains(selection.anchorNode)) {
    event.preventDefault();
    document.body.dataset.heldUpdates = Number(document.body.dataset.heldUpdates || 0) + 1;
  }
});

// A live update that cannot reach the API (or gets a 5xx) shows the connection-lost banner
// with the time of the figures still shown; the next update that comes back hides it.
(function watchConnection() {
  const banner = document.getElementById("connection-lost");
  let lastGood = new Date();

  function clock(when) {
    return [when.getHours(), when.getMinutes(), when.getSeconds()]
      .map(function (part) { return String(part).padStart(2, "0"); }).join(":");
  }

  function lost(event) {
    if (banner && isPoll(event.detail.elt)) {
      banner.querySelector("time").textContent = clock(lastGood);
      banner.hidden = false;
    }
  }

  ["htmx:sendError", "htmx:responseError", "htmx:timeout"].forEach(function (name) {
    document.addEventListener(name, lost);
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    const status = event.detail.xhr.status;
    if (status >= 500) {
      lost(event);
    } else if (status >= 200 && status < 400 && banner && isPoll(event.detail.elt)) {
      lastGood = new Date();
      banner.hidden = true;
    }
  });
})();

// An error a request answered (#console-error: a refused delete, a failed update) goes once it
// no longer applies: at the next action that succeeds, when the update that failed succeeds
// again, or when the operator closes it. It stayed until the page was left.
(function clearErrors() {
  const slot = document.getElementById("console-error");
  let failedPoll = "";  // the id of the update whose error is shown ("" for an action's)

  function clear() {
    slot.replaceChildren();
    failedPoll = "";
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    if (slot && event.detail.target === slot) {
      const elt = event.detail.requestConfig.elt;
      failedPoll = isPoll(elt) ? elt.id : "";
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (slot && event.detail.target === slot && slot.firstElementChild) {
      const close = document.createElement("button");
      close.type = "button";
      close.className = "close";
      close.textContent = "×";
      close.title = slot.dataset.closeLabel || "";
      close.addEventListener("click", clear);
      slot.firstElementChild.appendChild(close);
    }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    const status = event.detail.xhr.status;
    if (!slot || !slot.firstChild || status < 200 || status >= 400) {
      return;
    }
    const elt = event.detail.elt;
    if (!isPoll(elt) || (failedPoll && elt.id === failedPoll)) {
      clear();
    }
  });
})();
