// Progressive enhancement only: every page works without this file.
document.addEventListener("click", function (e) {
  var el = e.target.closest("[data-confirm]");
  if (el && !window.confirm(el.getAttribute("data-confirm"))) e.preventDefault();
});
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("input[data-back]").forEach(function (i) {
    i.value = location.pathname + location.search;
  });
});
// The report page: "use my location" fills the point and shows the open reports near it
// (the same list the page's own "see reports nearby" button shows without script).
document.addEventListener("DOMContentLoaded", function () {
  var btn = document.getElementById("use-location");
  if (!btn || !navigator.geolocation) return;
  btn.parentNode.hidden = false;
  var state = document.getElementById("location-state");
  btn.addEventListener("click", function () {
    state.textContent = btn.getAttribute("data-locating");
    navigator.geolocation.getCurrentPosition(function (pos) {
      var lat = pos.coords.latitude.toFixed(6), lon = pos.coords.longitude.toFixed(6);
      document.getElementById("f-lat").value = lat;
      document.getElementById("f-lon").value = lon;
      fetch("/report?lat=" + lat + "&lon=" + lon, { credentials: "same-origin" })
        .then(function (r) { return r.text(); })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("nearby");
          if (fresh) document.getElementById("nearby").innerHTML = fresh.innerHTML;
          state.textContent = btn.getAttribute("data-located");
        })
        .catch(function () { state.textContent = btn.getAttribute("data-located"); });
    }, function () {
      state.textContent = btn.getAttribute("data-failed");
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  });
});
