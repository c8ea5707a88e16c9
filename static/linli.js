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
// Long forms (an import's check takes seconds for 50,000 rows): the button is disabled at once,
// and a file upload shows its progress, then "checking rows…" until the answer replaces the page.
document.addEventListener("submit", function (e) {
  var form = e.target;
  if (!form.hasAttribute || !form.hasAttribute("data-busy") || e.defaultPrevented) return;
  if (form.getAttribute("data-sent")) { e.preventDefault(); return; }
  form.setAttribute("data-sent", "1");
  var button = form.querySelector("button[type=submit]");
  var busy = form.querySelector(".busy");
  if (busy) busy.hidden = false;
  var file = form.querySelector("input[type=file]");
  if (!file || !busy || !window.FormData || !window.XMLHttpRequest) {
    // The browser submits as usual; disabling after the event keeps the submission itself.
    setTimeout(function () { if (button) button.disabled = true; }, 0);
    return;
  }
  e.preventDefault();
  var bar = busy.querySelector("progress");
  var text = busy.querySelector(".busy-text");
  var xhr = new XMLHttpRequest();
  xhr.upload.onprogress = function (p) { if (p.lengthComputable && bar) bar.value = Math.round(p.loaded * 100 / p.total); };
  xhr.upload.onload = function () {
    if (bar) bar.removeAttribute("value");
    if (text) text.textContent = busy.getAttribute("data-checking");
  };
  xhr.onload = function () { document.open(); document.write(xhr.responseText); document.close(); };
  xhr.onerror = function () { form.removeAttribute("data-sent"); if (button) button.disabled = false; busy.hidden = true; };
  xhr.open("POST", form.action);
  xhr.send(new FormData(form));
  if (button) button.disabled = true;
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
      fetch(location.pathname + "?lat=" + lat + "&lon=" + lon, { credentials: "same-origin" })
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
