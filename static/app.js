// Styles that need script (the folding phone menu) apply only when it runs.
document.documentElement.classList.add("js");

// Confirmation before irreversible actions, without inline script (the CSP forbids it).
// A form with data-confirm asks first; with data-confirm-when="VALUE" it asks only when
// one of its selects is set to VALUE (e.g. closing a case).
document.addEventListener("submit", function (event) {
  var form = event.target;
  var message = form.getAttribute("data-confirm");
  if (!message) return;
  var when = form.getAttribute("data-confirm-when");
  if (when) {
    var chosen = Array.prototype.some.call(form.querySelectorAll("select"), function (s) {
      return s.value === when;
    });
    if (!chosen) return;
  }
  if (!window.confirm(message)) event.preventDefault();
});

// "Copy to clipboard" for draft texts: a button with data-copy="#element" copies that element's text.
document.addEventListener("click", function (event) {
  var button = event.target.closest ? event.target.closest("[data-copy]") : null;
  if (!button) return;
  var source = document.querySelector(button.getAttribute("data-copy"));
  if (!source) return;
  var text = source.value !== undefined ? source.value : source.textContent;
  var done = function () {
    var note = document.querySelector("[data-copied]");
    if (note) note.hidden = false;
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done);
  } else {
    // Plain http on the intranet has no clipboard API: fall back to selecting and copying.
    var area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    document.body.removeChild(area);
    done();
  }
});

// Where the user acts: a refused form's error summary takes the focus (it is announced and links to each
// field); after adding a note, the new note does (it says it was added).
function focusWhereActed() {
  var target = document.getElementById("error-summary") || document.querySelector("[data-just-added]");
  if (target) target.focus();
}
document.addEventListener("DOMContentLoaded", focusWhereActed);
// Opening the page at an anchor (#step-...) that is not itself focusable resets the focus once the page has
// loaded; put it back on the message, unless the user has already moved it.
window.addEventListener("load", function () {
  setTimeout(function () {
    if (document.activeElement === document.body) focusWhereActed();
  }, 0);
});

// The phone menu: one button folds and unfolds the navigation; Escape folds it and returns to the button.
document.addEventListener("click", function (event) {
  var toggle = event.target.closest ? event.target.closest(".menu-toggle") : null;
  if (!toggle) return;
  var header = toggle.closest("header");
  var open = header.classList.toggle("menu-open");
  toggle.setAttribute("aria-expanded", open ? "true" : "false");
  if (open) {
    var first = header.querySelector("#main-nav a");
    if (first) first.focus();
  }
});
document.addEventListener("keydown", function (event) {
  if (event.key !== "Escape") return;
  var header = document.querySelector("header.top.menu-open");
  if (!header || !header.contains(document.activeElement)) return;
  header.classList.remove("menu-open");
  var toggle = header.querySelector(".menu-toggle");
  toggle.setAttribute("aria-expanded", "false");
  toggle.focus();
});
