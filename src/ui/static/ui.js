// The dashboard's only page script (no inline scripts: the CSP forbids them).
// Date pickers: shown in the browser's local time, sent as ISO-8601 UTC.
"use strict";
(function () {
  function pad(n) {
    return String(n).padStart(2, "0");
  }
  function localValue(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return "";
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }
  function init() {
    document.querySelectorAll("input[type=datetime-local][data-utc]").forEach(function (input) {
      var iso = input.getAttribute("data-utc");
      if (iso) input.value = localValue(iso);
    });
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (!(form instanceof HTMLFormElement)) return;
      form.querySelectorAll("input[type=datetime-local][data-iso-target]").forEach(function (input) {
        var target = form.elements.namedItem(input.getAttribute("data-iso-target"));
        if (!target) return;
        // "2026-03-01T10:00:05" without a zone is local time to Date
        var d = input.value ? new Date(input.value) : null;
        target.value = d && !isNaN(d.getTime()) ? d.toISOString() : "";
        // the ISO field says it all; the local one would only repeat it in the URL
        if (target.value) input.disabled = true;
      });
    });
    // back from the bfcache with disabled pickers: enable them again
    window.addEventListener("pageshow", function () {
      document.querySelectorAll("input[type=datetime-local][data-iso-target]").forEach(function (input) {
        input.disabled = false;
      });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
