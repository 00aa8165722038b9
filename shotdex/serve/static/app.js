// shotdex serve: the few things a plain form cannot do. Image queries by choosing, dropping or pasting a
// file (each submits the image form); the image form takes the text form's options along.
(function () {
  "use strict";
  var imgform = document.getElementById("imgform");
  var input = document.getElementById("image");
  var search = document.getElementById("search");
  if (!imgform || !input) return;

  function copyOptions() {
    if (!search) return;
    imgform.querySelectorAll("input[type=hidden]").forEach(function (el) { el.remove(); });
    var data = new FormData(search);
    data.forEach(function (value, key) {
      if (key === "q") return;
      var h = document.createElement("input");
      h.type = "hidden"; h.name = key; h.value = value;
      imgform.appendChild(h);
    });
  }

  function submitFile(file) {
    if (!file || !/^image\//.test(file.type)) return false;
    var dt = new DataTransfer();
    dt.items.add(file);
    input.files = dt.files;
    copyOptions();
    imgform.submit();
    return true;
  }

  input.addEventListener("change", function () {
    if (input.files.length) { copyOptions(); imgform.submit(); }
  });
  document.addEventListener("dragover", function (e) { e.preventDefault(); document.body.classList.add("dragging"); });
  document.addEventListener("dragleave", function (e) { if (!e.relatedTarget) document.body.classList.remove("dragging"); });
  document.addEventListener("drop", function (e) {
    e.preventDefault();
    document.body.classList.remove("dragging");
    if (e.dataTransfer && e.dataTransfer.files.length) submitFile(e.dataTransfer.files[0]);
  });
  document.addEventListener("paste", function (e) {
    var items = (e.clipboardData && e.clipboardData.files) || [];
    for (var i = 0; i < items.length; i++) {
      if (submitFile(items[i])) { e.preventDefault(); return; }
    }
  });
  // The source view opens at the hit's tile.
  var hit = document.querySelector(".hit-tile");
  if (hit && !location.hash) hit.scrollIntoView({ block: "center" });
})();
