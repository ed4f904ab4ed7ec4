// 审核台: progressive enhancement only. Every form works without this file; with it:
// - "驳回此项" fills the next empty reason row in place (no page load) and puts the cursor on its 问题;
// - "再加三条理由" adds rows in place;
// - Ctrl+Enter (⌘+Enter) in a form submits it;
// - a form is not submitted twice by a double click.
(function () {
  "use strict";

  function rows(form) { return Array.prototype.slice.call(form.querySelectorAll("[data-reason]")); }

  function addRow(form) {
    var all = rows(form);
    var last = all[all.length - 1];
    var index = all.length;
    var copy = last.cloneNode(true);
    copy.querySelectorAll("select, textarea, label, .field-error").forEach(function (el) {
      if (el.classList && el.classList.contains("field-error")) { el.remove(); return; }
      ["id", "name", "for"].forEach(function (attribute) {
        var value = el.getAttribute(attribute);
        if (value) { el.setAttribute(attribute, value.replace(/_\d+$/, "_" + index)); }
      });
      if (el.tagName === "LABEL" && /^字段/.test(el.textContent)) { el.textContent = "字段 " + (index + 1); }
      if (el.tagName === "SELECT") { el.selectedIndex = 0; el.removeAttribute("accesskey"); }
      if (el.tagName === "TEXTAREA") { el.value = ""; }
      el.removeAttribute("aria-invalid");
      el.removeAttribute("autofocus");
    });
    last.parentNode.appendChild(copy);
    form.querySelector("input[name=rows]").value = String(index + 1);
    return copy;
  }

  function emptyRow(form) {
    var found = rows(form).filter(function (row) {
      return !row.querySelector("select").value && !row.querySelector("textarea").value;
    })[0];
    return found || addRow(form);
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a.reject-this");
    var form = document.getElementById("reject");
    if (link && form) {
      event.preventDefault();
      var row = emptyRow(form);
      row.querySelector("select").value = link.getAttribute("data-field");
      row.querySelector("textarea").focus();
      return;
    }
    var more = event.target.closest && event.target.closest("button.more");
    if (more && more.form) {
      event.preventDefault();
      var first = addRow(more.form);
      addRow(more.form);
      addRow(more.form);
      first.querySelector("select").focus();
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.form) {
      event.preventDefault();
      var submit = event.target.form.querySelector("button[type=submit]:not([name=more])");
      if (submit) { submit.click(); }
    }
  });

  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-sent]").forEach(function (form) { delete form.dataset.sent; });
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.sent) { event.preventDefault(); return; }
    form.dataset.sent = "1";
  });
})();
