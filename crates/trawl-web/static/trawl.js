// trawl's pages work without this script. With it: "/" focuses the search
// box, and suggestions appear while typing (from /autocomplete), chosen
// with the arrow keys and Enter, or with the mouse.
"use strict";
(function () {
  var input = document.getElementById("q");
  var list = document.getElementById("suggestions");
  if (!input || !list) return;
  var form = input.form;
  var active = -1;
  var items = [];
  var timer = 0;
  var pending = null;
  var asked = "";

  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    var tag = target && target.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable)) return;
    event.preventDefault();
    input.focus();
    input.select();
  });

  function close() {
    list.hidden = true;
    list.textContent = "";
    items = [];
    active = -1;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function choose(index) {
    active = index;
    items.forEach(function (item, i) {
      item.setAttribute("aria-selected", i === index ? "true" : "false");
    });
    if (index >= 0) {
      input.setAttribute("aria-activedescendant", items[index].id);
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function show(words) {
    close();
    if (!words.length) return;
    words.forEach(function (word, i) {
      var item = document.createElement("li");
      item.id = "suggestion-" + i;
      item.setAttribute("role", "option");
      item.setAttribute("aria-selected", "false");
      item.textContent = word;
      item.addEventListener("mousedown", function (event) {
        event.preventDefault();
        input.value = word;
        close();
        form.submit();
      });
      list.appendChild(item);
      items.push(item);
    });
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
  }

  function ask() {
    var text = input.value.trim();
    if (text.length < 2 || text.charAt(text.length - 1) === " ") {
      close();
      return;
    }
    if (text === asked) return;
    asked = text;
    if (pending) pending.abort();
    pending = new AbortController();
    fetch("/autocomplete?q=" + encodeURIComponent(text), { signal: pending.signal, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : ["", []]; })
      .then(function (answer) {
        if (answer[0] === input.value.trim() && document.activeElement === input) show(answer[1] || []);
      })
      .catch(function () {});
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(ask, 120);
  });

  input.addEventListener("keydown", function (event) {
    if (!items.length) return;
    if (event.key === "ArrowDown") {
      event.preventDefault();
      choose((active + 1) % items.length);
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      choose(active <= 0 ? items.length - 1 : active - 1);
    } else if (event.key === "Enter" && active >= 0) {
      event.preventDefault();
      input.value = items[active].textContent;
      close();
      form.submit();
    } else if (event.key === "Escape") {
      event.preventDefault();
      asked = input.value.trim();
      close();
    }
  });

  input.addEventListener("blur", function () { setTimeout(close, 100); });
})();
