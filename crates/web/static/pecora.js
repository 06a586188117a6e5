// Pecora webmail: a whole message row opens the message, not just its subject link.
"use strict";
document.addEventListener("click", (event) => {
  const row = event.target.closest("tr[data-href]");
  if (row && !event.target.closest("a")) {
    window.location.assign(row.dataset.href);
  }
});
