// idplane console: small progressive enhancements over server-rendered pages (every page works without them).
//  - <time datetime="...">: shown in the viewer's time zone.
//  - [data-refresh="URL"] (and data-every="seconds", 2 by default): the element is replaced by what URL answers,
//    again and again while the answer keeps a data-refresh attribute (a running cycle's progress).
//  - <input|textarea data-validate="URL" data-target="ID">: as the user types, the field's form is posted to URL and
//    the answer (an HTML fragment) is put into the element ID (expressions checked through parseExpression).
//  - [data-copy="ID"]: copies the text of the element ID.
//  - form[data-confirm="question"]: asks before submitting.
//  - [data-open="ID"] / [data-close]: opens or closes the <dialog> ID.
(function () {
  "use strict";
  var FRAGMENT = { "X-Console-Fragment": "1" };

  function localTimes(root) {
    var format = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      if (t.dataset.local) return;
      var d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d.getTime())) {
        t.textContent = format.format(d);
        t.title = t.getAttribute("datetime");
        t.dataset.local = "1";
      }
    });
  }

  function fragment(html) {
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  function refresh(el) {
    var seconds = parseFloat(el.dataset.every || "2");
    setTimeout(function () {
      if (!el.isConnected) return;
      fetch(el.dataset.refresh, { headers: FRAGMENT, credentials: "same-origin" })
        .then(function (r) {
          if (r.status === 401) { window.location.reload(); throw new Error("signed out"); }
          return r.text();
        })
        .then(function (html) {
          var next = fragment(html);
          if (!next) return;
          el.replaceWith(next);
          enhance(next.parentNode || document);
        })
        .catch(function () { if (el.isConnected) refresh(el); });
    }, seconds * 1000);
  }

  function validate(input) {
    var timer = null;
    // Answers may arrive out of order: only the answer to the latest request is shown.
    var sent = 0;
    var target = document.getElementById(input.dataset.target);
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var mine = ++sent;
        var body = new URLSearchParams(new FormData(input.form));
        fetch(input.dataset.validate, { method: "POST", body: body, headers: FRAGMENT, credentials: "same-origin" })
          .then(function (r) { return r.text(); })
          .then(function (html) {
            if (target && mine === sent) { target.innerHTML = html; localTimes(target); }
          });
      }, 300);
    });
  }

  function enhance(root) {
    localTimes(root);
    root.querySelectorAll("[data-refresh]").forEach(function (el) {
      if (el.dataset.watched) return;
      el.dataset.watched = "1";
      refresh(el);
    });
    root.querySelectorAll("[data-validate]").forEach(function (el) {
      if (el.dataset.watched) return;
      el.dataset.watched = "1";
      validate(el);
    });
  }

  document.addEventListener("click", function (e) {
    var copy = e.target.closest("[data-copy]");
    if (copy) {
      var source = document.getElementById(copy.dataset.copy);
      if (source && navigator.clipboard) {
        navigator.clipboard.writeText(source.textContent.trim()).then(function () { copy.textContent = "Copied"; });
      }
    }
    var open = e.target.closest("[data-open]");
    if (open) {
      var dialog = document.getElementById(open.dataset.open);
      if (dialog && dialog.showModal) { e.preventDefault(); dialog.showModal(); }
    }
    var close = e.target.closest("[data-close]");
    if (close) {
      var d = close.closest("dialog");
      if (d) { e.preventDefault(); d.close(); }
    }
  });

  document.addEventListener("submit", function (e) {
    var question = e.target.dataset && e.target.dataset.confirm;
    if (question && !window.confirm(question)) e.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
})();

// mappings: the Edit Attribute form shows the fields of the chosen Mapping type ([data-mapping-type] select,
// [data-mapping-types="Direct Constant"] blocks); without this script every field is shown.
(function () {
  "use strict";
  function show(select) {
    var form = select.form;
    if (!form) return;
    form.querySelectorAll("[data-mapping-types]").forEach(function (block) {
      block.hidden = block.dataset.mappingTypes.split(" ").indexOf(select.value) < 0;
    });
  }
  document.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches("select[data-mapping-type]")) show(e.target);
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("select[data-mapping-type]").forEach(show);
  });
})();
