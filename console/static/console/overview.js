// Refreshes every servable card of the serving overview from its HTML fragment: every 5 s while the page is
// visible, every 60 s when hidden. A card whose refresh fails keeps its content and says so inside it.
(function () {
  "use strict";
  function refresh(slot) {
    return fetch(slot.dataset.cardUrl, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.text().then(function (html) { slot.innerHTML = html; }); })
      .catch(function (error) {
        var note = slot.querySelector(".console-refresh-error") || document.createElement("p");
        note.className = "errornote console-refresh-error";
        note.textContent = "Could not refresh: " + error;
        slot.appendChild(note);
      });
  }
  function tick() {
    document.querySelectorAll("[data-card-url]").forEach(refresh);
    setTimeout(tick, document.hidden ? 60000 : 5000);
  }
  document.addEventListener("DOMContentLoaded", function () { setTimeout(tick, 5000); });
})();
