// Blanks of a draft (incident/drafts/blanks.py), without inline script (the CSP forbids it).
// Each item of the list of unfilled placeholders links to the editor (?edit=1#body opens it without
// script); with script, the click also opens the editor in place and selects that placeholder on its
// line, so staff can type over it at once.
document.addEventListener("click", function (event) {
  var link = event.target.closest ? event.target.closest("a[data-blank-line]") : null;
  if (!link) return;
  // The body, or the website rendition (data-blank-field="web_body").
  var area = document.getElementById(link.getAttribute("data-blank-field") || "body");
  if (!area) return;
  event.preventDefault();
  var details = area.closest("details");
  if (details) details.open = true;
  // A textarea's value ends its lines with LF whatever the text was saved with.
  var lines = area.value.split("\n");
  var number = parseInt(link.getAttribute("data-blank-line"), 10);
  var wanted = link.getAttribute("data-blank-text") || "";
  var start = 0;
  for (var i = 0; i < number - 1 && i < lines.length; i++) start += lines[i].length + 1;
  var at = number <= lines.length ? lines[number - 1].indexOf(wanted) : -1;
  area.scrollIntoView({block: "center"});
  area.focus();
  if (at < 0) return;  // already changed in the editor: leave the caret where it is
  area.setSelectionRange(start + at, start + at + wanted.length);
  // Bring the line into the textarea's own view (browsers do not always scroll to a selection).
  var style = window.getComputedStyle(area);
  var height = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.2;
  area.scrollTop = Math.max(0, (number - 3) * height);
});
