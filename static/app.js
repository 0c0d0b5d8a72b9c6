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
