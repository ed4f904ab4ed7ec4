// The applicant's form (/apply): progressive enhancement only. Without this file the form is one
// multipart post (files uploaded with it). With it:
// - groups that do not apply to what is chosen are hidden (data-show-when), and the province's
//   supplementary materials follow the chosen province and subject type;
// - a document type switches its number's format hint;
// - the city list follows the chosen province and the district list the chosen city;
// - a chosen file is checked at once (type and size, refused with why) and uploaded to the store
//   with its progress, then shown as a thumbnail (an image) or a tile (a PDF);
// - each field is checked against the API's own check (/apply/check) as the person moves on.
(function () {
  "use strict";
  var form = document.getElementById("apply");
  if (!form) { return; }
  var csrf = form.querySelector("input[name=csrf]").value;
  var touched = {};
  var timer = null;

  function value(name) {
    var inputs = form.querySelectorAll("[name='" + name + "']");
    for (var i = 0; i < inputs.length; i++) {
      var el = inputs[i];
      if ((el.type === "radio" || el.type === "checkbox")) { if (el.checked) { return el.value; } }
      else { return el.value; }
    }
    return "";
  }

  function needsPreApproval() {
    var boxes = form.querySelectorAll("input[name='mini_program.service_categories']:checked");
    for (var i = 0; i < boxes.length; i++) { if (boxes[i].getAttribute("data-preapproval")) { return true; } }
    var rows = form.querySelectorAll("[name^='mini_program.pre_approvals']");
    for (var j = 0; j < rows.length; j++) { if (rows[j].type !== "file" && rows[j].value) { return true; } }
    return false;
  }

  function applies(rule) {
    if (rule === "preapproval") { return needsPreApproval(); }
    var not = rule.indexOf("!=") > 0;
    var parts = rule.split(not ? "!=" : "=");
    var current = value(parts[0]);
    return not ? current !== parts[1] : current === parts[1];
  }

  function refresh() {
    form.querySelectorAll("[data-show-when]").forEach(function (group) {
      var shown = group.getAttribute("data-show-when").split("&").every(applies);
      if (group.id === "group-representative") { shown = shown && value("subject.type") !== "PERSONAL"; }
      group.hidden = !shown;
    });
    var province = value("subject.address.province");
    var extras = document.getElementById("extras");
    var prefixes = extras ? JSON.parse(extras.getAttribute("data-prefixes") || "{}") : {};
    var type = value("subject.type");
    form.querySelectorAll(".extra[data-province]").forEach(function (row) {
      var prefix = row.getAttribute("data-province");
      var names = prefixes[province] || "";
      row.hidden = !(type && names === prefix && (" " + row.getAttribute("data-types")).indexOf(" " + type + " ") >= 0);
    });
    form.querySelectorAll("[data-type-from]").forEach(function (hint) {
      var formats = JSON.parse(hint.getAttribute("data-formats"));
      var chosen = value(hint.getAttribute("data-type-from"));
      if (formats[chosen]) { hint.textContent = formats[chosen]; }
    });
  }

  function errorOf(id) { return document.getElementById(id + "-error"); }

  function showError(id, message) {
    var error = errorOf(id);
    var input = document.getElementById(id);
    if (!error) { return; }
    error.textContent = message || "";
    error.hidden = !message;
    if (input) {
      if (message) { input.setAttribute("aria-invalid", "true"); } else { input.removeAttribute("aria-invalid"); }
      var described = (input.getAttribute("aria-describedby") || "").split(" ").filter(function (x) {
        return x && x !== id + "-error";
      });
      if (message) { described.push(id + "-error"); }
      if (described.length) { input.setAttribute("aria-describedby", described.join(" ")); }
    }
  }

  function idOf(el) {
    var field = el.closest(".field");
    var first = field && field.querySelector("[id]:not(p):not(progress):not(div):not(datalist)");
    return first ? first.id : el.id;
  }

  function check() {
    var data = new FormData(form);
    Array.from(data.keys()).forEach(function (key) { if (key.indexOf("file:") === 0) { data.delete(key); } });
    var request = new XMLHttpRequest();
    request.open("POST", "/apply/check");
    request.responseType = "json";
    request.onload = function () {
      var answer = request.response;
      if (!answer || !answer.at) { return; }
      Object.keys(touched).forEach(function (id) { showError(id, answer.at[id] || ""); });
      var left = Object.keys(answer.at).length + (answer.general || []).length;
      document.getElementById("check-status").textContent = answer.ok ? "检查通过：可以提交" :
        ("还有 " + left + " 处需要填写或修改（提交时全部标出）");
    };
    data.set("csrf", csrf);
    request.send(data);
  }

  function later() { clearTimeout(timer); timer = setTimeout(check, 350); }

  function sizeText(bytes) { return bytes >= 1048576 ? (bytes / 1048576).toFixed(1) + " MiB" : (bytes / 1024).toFixed(1) + " KB"; }

  function tile(input, file, answer) {
    var box = document.getElementById(input.id + "-tile");
    box.textContent = "";
    if (file.type.indexOf("image/") === 0) {
      var img = document.createElement("img");
      img.alt = "所选图片的缩略图：" + file.name;
      var reader = new FileReader();
      reader.onload = function () { img.src = reader.result; };
      reader.readAsDataURL(file);
      box.appendChild(img);
    } else {
      var kind = document.createElement("span");
      kind.className = "tile-kind";
      kind.textContent = answer.format || "PDF";
      box.appendChild(kind);
    }
    var text = document.createElement("span");
    text.textContent = " " + file.name + " · " + sizeText(answer.bytes || file.size) + " · 已上传";
    box.appendChild(text);
    box.hidden = false;
  }

  function upload(input) {
    var file = input.files && input.files[0];
    if (!file) { return; }
    var types = input.getAttribute("data-types").split(",");
    if (types.indexOf(file.type) < 0) {
      showError(input.id, file.name + "：不支持的文件类型，只接受 " + input.getAttribute("data-formats"));
      input.value = "";
      return;
    }
    if (file.size > Number(input.getAttribute("data-max"))) {
      showError(input.id, file.name + "：文件过大（" + sizeText(file.size) + "），每个文件不超过 " + input.getAttribute("data-limit"));
      input.value = "";
      return;
    }
    var progress = document.getElementById(input.id + "-progress");
    progress.hidden = false;
    progress.value = 0;
    var data = new FormData();
    data.set("csrf", csrf);
    data.set("file", file);
    var request = new XMLHttpRequest();
    request.open("POST", "/apply/upload");
    request.responseType = "json";
    request.upload.onprogress = function (event) {
      if (event.lengthComputable) { progress.value = Math.round(100 * event.loaded / event.total); }
    };
    request.onload = function () {
      progress.hidden = true;
      var answer = request.response || {};
      if (request.status === 201 && answer.sha256) {
        var slot = input.getAttribute("data-slot-name");
        form.querySelector("input[type=hidden][name='" + slot + "']").value = answer.sha256;
        form.querySelector("input[type=hidden][name='meta:" + slot + "']").value = JSON.stringify(answer);
        tile(input, file, answer);
        showError(input.id, "");
        input.value = "";
        touched[input.id] = true;
        later();
      } else {
        showError(input.id, file.name + "：" + (answer.error || "上传未完成，请重试"));
        input.value = "";
      }
    };
    request.onerror = function () { progress.hidden = true; showError(input.id, "上传未完成（网络中断），请重新选择文件"); };
    request.send(data);
  }

  // Province -> city -> district: the city list follows the province, the district list the city
  // (data from /apply/regions, loaded once). Until it is here, or without it, the page's own
  // lists and its 更新 button (a plain post that shows the page again) do the same.
  var provinceSelect = form.querySelector("select[name='subject.address.province']");
  var citySelect = form.querySelector("select[data-regions=city]");
  var districtSelect = form.querySelector("select[data-regions=district]");
  var regions = null;
  var pending = false;

  function fill(select, groups, placeholder) {
    var keep = select.value;
    var found = false;
    select.textContent = "";
    var first = document.createElement("option");
    first.value = "";
    first.textContent = placeholder;
    select.appendChild(first);
    groups.forEach(function (group) {
      var parent = select;
      if (group[0]) { parent = document.createElement("optgroup"); parent.label = group[0]; select.appendChild(parent); }
      group[1].forEach(function (name) {
        var option = document.createElement("option");
        option.value = name;
        option.textContent = name;
        if (name === keep) { option.selected = true; found = true; }
        parent.appendChild(option);
      });
    });
    if (!found) { select.value = ""; }
  }

  function follow(level) {
    if (!regions) { pending = true; return; }
    var province = provinceSelect.value;
    if (level === "province") {
      var shown = province && regions[province] ? [province] : Object.keys(regions);
      fill(citySelect, shown.map(function (p) { return [p, Object.keys(regions[p])]; }), "请选择");
    }
    var cities = regions[province] || {};
    var districts = cities[citySelect.value];
    fill(districtSelect, districts ? [["", districts]] : [], districts ? "请选择" : "请先选择城市");
  }

  if (provinceSelect && citySelect && districtSelect) {
    fetch("/apply/regions", {credentials: "same-origin"}).then(function (answer) {
      return answer.ok ? answer.json() : null;
    }).then(function (data) {
      if (!data) { return; }
      regions = data;
      var update = document.getElementById("regions-update");
      if (update) { update.remove(); }  // the lists follow by themselves now
      if (pending) { follow("province"); }
    }).catch(function () { /* the 更新 button stays: the lists follow by plain posts */ });
  }

  form.addEventListener("change", function (event) {
    var el = event.target;
    if (el.type === "file") { upload(el); return; }
    if (el === provinceSelect && citySelect) { follow("province"); }
    if (el === citySelect) { follow("city"); }
    refresh();
    touched[idOf(el)] = true;
    later();
  });
  form.addEventListener("focusout", function (event) {
    var el = event.target;
    if (el.type !== "file" && el.value && el.matches("input[type=text], input[type=tel], input[type=email], textarea")) {
      touched[idOf(el)] = true;
      later();
    }
  });
  refresh();
})();
