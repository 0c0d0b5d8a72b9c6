// The editor's live character counter (incident/drafts/length.py), without inline script (the CSP forbids it).
// The rules come from the server in the form's data-length-rules: twitter-text v3's weights and URL length
// for X, each channel's limit and way of counting, and the two messages in the reader's language; this file
// holds no number of its own. Each textarea counts against its channel: data-length-channel="website", or
// the channel chosen in the select named by data-length-from. Its counter (data-length-count) shows
// "123 / 280" and turns into the error style when over; crossing the limit is announced in the form's
// polite live region (data-length-alert), once each way, not on every key (and when another channel is chosen).
(function () {
  "use strict";

  function within(code, ranges) {
    for (var i = 0; i < ranges.length; i++) {
      if (code >= ranges[i][0] && code <= ranges[i][1]) return true;
    }
    return false;
  }

  function codePoints(text) {
    var codes = [];
    for (var i = 0; i < text.length; i++) {
      var code = text.codePointAt(i);
      codes.push(code);
      if (code > 0xffff) i++;
    }
    return codes;
  }

  function prepare(text, rules) {
    text = text.replace(/\r\n?/g, "\n").normalize("NFC");
    var start = 0;
    var end = text.length;
    while (start < end && rules.trim.indexOf(text.charAt(start)) >= 0) start++;
    while (end > start && rules.trim.indexOf(text.charAt(end - 1)) >= 0) end--;
    return text.substring(start, end);
  }

  // Where the emoji sequence starting at `start` ends (exclusive), or `start` when there is none
  // (the same steps as _emoji_end in length.py).
  function emojiEnd(codes, start, emoji) {
    var code = codes[start];
    var following = start + 1 < codes.length ? codes[start + 1] : null;
    var low = emoji.regional[0], high = emoji.regional[1];
    if (code >= low && code <= high && following !== null && following >= low && following <= high) {
      return start + 2;
    }
    if (emoji.keycap_bases.indexOf(String.fromCodePoint(code)) >= 0) {
      var at = start + 1;
      if (at < codes.length && codes[at] === emoji.vs16) at++;
      return at < codes.length && codes[at] === emoji.keycap ? at + 1 : start;
    }
    if (!(within(code, emoji.pictographs) || following === emoji.vs16)) return start;
    var next = start + 1;
    for (;;) {
      while (next < codes.length && within(codes[next], emoji.extenders)) next++;
      if (next + 1 < codes.length && codes[next] === emoji.zwj && within(codes[next + 1], emoji.pictographs)) {
        next += 2;
        continue;
      }
      return next;
    }
  }

  function weight(code, rules) {
    for (var i = 0; i < rules.ranges.length; i++) {
      var range = rules.ranges[i];
      if (code >= range[0] && code <= range[1]) return range[2];
    }
    return rules.default_weight;
  }

  function weightedPlain(text, rules) {
    var codes = codePoints(text);
    var total = 0;
    var at = 0;
    while (at < codes.length) {
      var end = emojiEnd(codes, at, rules.emoji);
      if (end > at) {
        total += rules.default_weight;
        at = end;
      } else {
        total += weight(codes[at], rules);
        at++;
      }
    }
    return total;
  }

  function weightedLength(text, rules) {
    text = prepare(text, rules);
    var pattern = new RegExp(rules.url_pattern, "gi");
    var total = 0;
    var done = 0;
    var match;
    while ((match = pattern.exec(text)) !== null) {
      if (match[0] === "") { pattern.lastIndex++; continue; }
      total += weightedPlain(text.substring(done, match.index), rules) + rules.url_length * rules.scale;
      done = match.index + match[0].length;
    }
    total += weightedPlain(text.substring(done), rules);
    return Math.floor(total / rules.scale);
  }

  function count(text, channel, rules) {
    if (channel.counting === "weighted") return weightedLength(text, rules.weighted);
    return codePoints(prepare(text, rules.weighted)).length;
  }

  function fill(template, channel, number) {
    return template.replace("{name}", channel.name).replace("{limit}", String(channel.limit))
      .replace("{count}", String(number));
  }

  function setUp(form) {
    var rules;
    try {
      rules = JSON.parse(form.getAttribute("data-length-rules"));
    } catch (error) {
      return;
    }
    var alert = form.querySelector("[data-length-alert]");
    var areas = form.querySelectorAll("textarea[data-length-channel], textarea[data-length-from]");
    Array.prototype.forEach.call(areas, function (area) {
      var counter = document.getElementById(area.id + "-count");
      var select = area.getAttribute("data-length-from") ?
        document.getElementById(area.getAttribute("data-length-from")) : null;
      var wasOver = null;

      // `announce`: say where the text stands even if it did not cross the limit (another channel chosen).
      function update(announce) {
        var key = select ? select.value : area.getAttribute("data-length-channel");
        var channel = rules.channels[key];
        if (!counter || !channel) return;
        var text = area.value;
        if (area.name === "web_body" && prepare(text, rules.weighted) === "") {
          counter.textContent = "";  // no website rendition: nothing to count
          counter.classList.remove("over");
          area.removeAttribute("aria-invalid");
          wasOver = false;
          return;
        }
        var number = count(text, channel, rules);
        var over = number > channel.limit;
        counter.textContent = fill(rules.counter, channel, number);
        counter.classList.toggle("over", over);
        if (over) area.setAttribute("aria-invalid", "true"); else area.removeAttribute("aria-invalid");
        if (alert && (announce === true || (wasOver !== null && over !== wasOver))) {
          alert.textContent = fill(over ? rules.over : rules.within, channel, number);
        }
        wasOver = over;
      }

      area.addEventListener("input", function () { update(false); });
      if (select) select.addEventListener("change", function () { update(true); });
      update(false);
    });
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-length-rules]"), setUp);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
