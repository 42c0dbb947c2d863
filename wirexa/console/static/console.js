// Wirexa console: live updates over Server-Sent Events (calls, queues), and the test call form's source switch.
// Plain JavaScript, no libraries; every page works without it (the lists just do not update).
(function () {
  "use strict";

  function listFeed() {
    var body = document.getElementById("call-rows");
    if (!body || !body.dataset.feed || !window.EventSource) return;
    var state = document.getElementById("live-state");
    var source = new EventSource(body.dataset.feed);
    source.addEventListener("rows", function (event) {
      // The rows were rendered (and escaped) by the server's template.
      body.innerHTML = event.data;
    });
    source.addEventListener("logout", function () {
      source.close();
      window.location.href = "/console/login";
    });
    source.onerror = function () {
      if (state) state.textContent = "Live updates interrupted; reconnecting…";
    };
    source.onopen = function () {
      if (state) state.textContent = "Live: the list updates as calls change.";
    };
  }

  function rowsFeeds() {
    // Queues: an element with data-rows-feed gets its content from the feed's "rows" events.
    var boxes = document.querySelectorAll("[data-rows-feed]");
    if (!boxes.length || !window.EventSource) return;
    var state = document.getElementById("live-state");
    Array.prototype.forEach.call(boxes, function (box) {
      var source = new EventSource(box.dataset.rowsFeed);
      source.addEventListener("rows", function (event) {
        // Rendered (and escaped) by the server's template.
        box.innerHTML = event.data;
      });
      source.addEventListener("logout", function () {
        source.close();
        window.location.href = "/console/login";
      });
      var live = state ? state.textContent : "";
      source.onerror = function () {
        if (state) state.textContent = "Live updates interrupted; reconnecting…";
      };
      source.onopen = function () {
        if (state) state.textContent = live;
      };
    });
  }

  function callFeed() {
    var marker = document.getElementById("call-live");
    if (!marker || !marker.dataset.feed || !window.EventSource) return;
    var source = new EventSource(marker.dataset.feed);
    source.addEventListener("changed", function () {
      source.close();
      window.location.reload();
    });
    source.addEventListener("logout", function () {
      source.close();
      window.location.href = "/console/login";
    });
  }

  function sourceSwitch() {
    var radios = document.querySelectorAll("input[name=source]");
    if (!radios.length) return;
    function apply() {
      var chosen = document.querySelector("input[name=source]:checked");
      var url = chosen && chosen.value === "url";
      document.getElementById("Url").disabled = !url;
      document.getElementById("Twiml").disabled = url;
    }
    for (var i = 0; i < radios.length; i++) radios[i].addEventListener("change", apply);
    apply();
  }

  document.addEventListener("DOMContentLoaded", function () {
    listFeed();
    rowsFeeds();
    callFeed();
    sourceSwitch();
  });
})();
