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
// on the page: redrawn, the table would clear the selection being copied.
function isPoll(element) {
  return /\bevery\b/.test(element.getAttribute("hx-trigger") || "");
}

document.addEventListener("htmx:beforeRequest", function (event) {
  const selection = window.getSelection();
  if (isPoll(event.detail.elt) && selection && !selection.isCollapsed
      && document.querySelector("main").contains(selection.anchorNode)) {
    event.preventDefault();
  }
});
