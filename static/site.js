// The demo storefront: example questions go into the chat widget; demo-only content hides for other stores.
(function () {
  "use strict";

  var shop = document.body.getAttribute("data-shop");
  document.querySelectorAll("[data-store]").forEach(function (section) {
    if (section.getAttribute("data-store") !== shop) section.remove();
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-question]");
    if (!button || !window.LumenWidget) return;
    window.LumenWidget.prefill(button.getAttribute("data-question"));
  });
})();
