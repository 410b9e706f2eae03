/*
 * Lumen chat widget: "Where is my order?" answers on any page.
 *
 *   <script src="https://your-lumen-host/widget.js" defer></script>
 *
 * Options (attributes on the script tag):
 *   data-api       where the chat API lives (default: the folder the script came from). On Shopify, behind the
 *                  app proxy: data-api="/apps/lumen".
 *   data-greeting  the first line shown to the shopper (default: "Hi! Ask me where your order is.").
 *   data-title     the panel's title (default: "Order help").
 *   data-color     the accent colour, any CSS colour (default: a deep green).
 *
 * Everything the server says is shown as text: URLs become links, nothing else is interpreted as HTML.
 * No build step, no dependencies; the UI lives in a shadow root so the shop's CSS and the widget's don't mix.
 */
(function () {
  "use strict";

  if (window.LumenWidget) return; // loaded twice: keep the first

  var script =
    document.currentScript ||
    (function () {
      var found = document.querySelectorAll('script[src*="widget.js"]');
      return found[found.length - 1] || null;
    })();

  function attr(name) {
    var value = script && script.getAttribute(name);
    return value && value.trim() ? value.trim() : null;
  }

  // The API base: data-api, else the folder the script was loaded from (…/widget.js -> …).
  var API = (function () {
    var base = attr("data-api");
    if (!base && script && script.src) base = script.src.replace(/[^/]*(?:[?#].*)?$/, "");
    return new URL(base || "/", document.baseURI).href.replace(/\/+$/, "");
  })();

  var GREETING = attr("data-greeting") || "Hi! Ask me where your order is.";
  var TITLE = attr("data-title") || "Order help";
  var MAX_CHARS = 2000;
  var KEEP_MESSAGES = 40;
  var FORGET_AFTER_MS = 24 * 60 * 60 * 1000; // a shared computer should not keep order details for long
  var STORE_KEY = "lumen:" + API;
  var OPEN_KEY = "lumen-open:" + API;

  var TEXT = {
    offline:
      "Sorry, I can't reach our order assistant right now. Please check your connection and try again in a " +
      "moment. Your message is still in the box.",
    server:
      "Sorry, something went wrong on our side. Please try again in a moment. Your message is still in the box.",
    tooLong: "That message is a little long. Please keep it under 2,000 characters.",
    busy: "You're sending messages quickly. Please wait a moment and try again.",
    invalid: "Sorry, I couldn't send that message. Please try rephrasing it.",
  };

  // --- storage: the session id and the visible transcript survive page loads -----------------------------------

  function storage(kind) {
    try {
      var s = window[kind];
      var probe = "lumen:probe";
      s.setItem(probe, "1");
      s.removeItem(probe);
      return s;
    } catch (e) {
      return null; // storage disabled: the conversation lasts as long as the page
    }
  }
  var local = storage("localStorage");
  var session = storage("sessionStorage");

  function loadState() {
    var empty = { sessionId: null, messages: [], savedAt: 0 };
    if (!local) return empty;
    try {
      var saved = JSON.parse(local.getItem(STORE_KEY) || "null");
      if (!saved || typeof saved !== "object" || Date.now() - (saved.savedAt || 0) > FORGET_AFTER_MS) return empty;
      var messages = Array.isArray(saved.messages) ? saved.messages : [];
      return {
        sessionId: typeof saved.sessionId === "string" ? saved.sessionId : null,
        messages: messages.filter(function (m) {
          return m && (m.role === "user" || m.role === "assistant") && typeof m.text === "string";
        }),
        savedAt: saved.savedAt,
      };
    } catch (e) {
      return empty;
    }
  }

  var state = loadState();

  function saveState() {
    if (!local) return;
    state.messages = state.messages.slice(-KEEP_MESSAGES);
    state.savedAt = Date.now();
    try {
      local.setItem(STORE_KEY, JSON.stringify(state));
    } catch (e) {
      /* full or disabled: nothing to do */
    }
  }

  // --- DOM helpers: elements and text only, never HTML strings ------------------------------------------------

  function el(tag, props, children) {
    var node = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (key) {
        if (key === "text") node.textContent = props[key];
        else if (key === "className") node.className = props[key];
        else node.setAttribute(key, props[key]);
      });
    }
    (children || []).forEach(function (child) {
      node.appendChild(child);
    });
    return node;
  }

  function icon(paths, size) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", String(size || 24));
    svg.setAttribute("height", String(size || 24));
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    paths.forEach(function (d) {
      var path = document.createElementNS(ns, "path");
      path.setAttribute("d", d);
      svg.appendChild(path);
    });
    return svg;
  }

  var ICON_CHAT = ["M4 5.5A2.5 2.5 0 0 1 6.5 3h11A2.5 2.5 0 0 1 20 5.5v8a2.5 2.5 0 0 1-2.5 2.5H10l-4.2 3.6c-.5.4-1.3 0-1.3-.6V16A2.5 2.5 0 0 1 4 13.5z"];
  var ICON_CLOSE = ["M6 6l12 12M18 6L6 18"];
  var ICON_NEW = ["M4 12a8 8 0 1 0 2.4-5.7M4 4v4.5h4.5"];
  var ICON_SEND = ["M4 12l16-8-6 16-2.5-6.5z", "M11.5 13.5L20 4"];

  // URLs become links; the characters that usually end a sentence are not part of them.
  var URL_PATTERN = /https?:\/\/[^\s<>"'`]+/g;

  function count(text, ch) {
    return text.split(ch).length - 1;
  }

  // A tracking link reads as its site ("tools.usps.com/…"); the whole address is in the title and the href.
  function linkLabel(link) {
    var host = link.hostname.replace(/^www\./, "");
    var rest = (link.pathname + link.search + link.hash).replace(/^\/$/, "");
    return rest ? host + "/…" : host;
  }

  function renderText(node, text) {
    node.textContent = "";
    var last = 0;
    var match;
    URL_PATTERN.lastIndex = 0;
    while ((match = URL_PATTERN.exec(text))) {
      var url = match[0];
      while (/[.,;:!?)\]}*_]$/.test(url)) {
        var tail = url.charAt(url.length - 1);
        if (tail === ")" && count(url, "(") >= count(url, ")")) break;
        url = url.slice(0, -1);
      }
      var link = document.createElement("a");
      link.href = url;
      if (link.protocol !== "http:" && link.protocol !== "https:") continue;
      if (match.index > last) node.appendChild(document.createTextNode(text.slice(last, match.index)));
      link.textContent = linkLabel(link);
      link.title = url;
      link.rel = "noopener noreferrer";
      link.target = "_blank";
      node.appendChild(link);
      last = match.index + url.length;
    }
    if (last < text.length) node.appendChild(document.createTextNode(text.slice(last)));
  }

  // --- styles -----------------------------------------------------------------------------------------------

  var CSS = [
    ":host{all:initial}",
    ".lumen{--accent:#0f5c4d;--accent-ink:#fff;--ink:#1c2321;--muted:#5d6b67;--line:#e3e8e6;--bg:#fff;",
    "--soft:#f2f5f4;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;",
    "color:var(--ink);-webkit-font-smoothing:antialiased}",
    ".lumen *{box-sizing:border-box}",
    "[hidden]{display:none!important}",
    ".bubble{position:fixed;right:20px;bottom:20px;z-index:2147483000;width:60px;height:60px;border:0;",
    "border-radius:50%;background:var(--accent);color:var(--accent-ink);cursor:pointer;display:grid;",
    "place-items:center;box-shadow:0 6px 20px rgba(0,0,0,.22);transition:transform .15s ease}",
    ".bubble:hover{transform:translateY(-2px)}",
    ".bubble svg{fill:currentColor}",
    ".bubble[aria-expanded=true] .i-chat,.bubble[aria-expanded=false] .i-close{display:none}",
    ".bubble .i-close{fill:none;stroke:currentColor;stroke-width:2.2;stroke-linecap:round}",
    ".panel{position:fixed;right:20px;bottom:92px;z-index:2147483001;width:400px;max-width:calc(100vw - 40px);",
    "height:600px;max-height:calc(100vh - 112px);display:flex;flex-direction:column;background:var(--bg);",
    "border-radius:18px;overflow:hidden;box-shadow:0 18px 48px rgba(0,0,0,.22),0 2px 6px rgba(0,0,0,.08);",
    "border:1px solid rgba(0,0,0,.06)}",
    ".head{display:flex;align-items:center;gap:10px;padding:14px 12px 14px 18px;background:var(--accent);",
    "color:var(--accent-ink)}",
    ".head .who{flex:1;min-width:0}",
    ".head h2{margin:0;font-size:16px;font-weight:650;line-height:1.2}",
    ".head p{margin:2px 0 0;font-size:12.5px;opacity:.85}",
    ".icon-btn{width:36px;height:36px;border:0;border-radius:10px;background:transparent;color:inherit;",
    "cursor:pointer;display:grid;place-items:center}",
    ".icon-btn:hover{background:rgba(255,255,255,.14)}",
    ".icon-btn svg{fill:none;stroke:currentColor;stroke-width:2;stroke-linecap:round;stroke-linejoin:round}",
    ".log{flex:1;overflow-y:auto;padding:16px 14px 8px;display:flex;flex-direction:column;gap:10px;",
    "background:var(--bg);overscroll-behavior:contain}",
    ".msg{max-width:86%;padding:10px 13px;border-radius:16px;white-space:pre-wrap;overflow-wrap:anywhere;",
    "word-break:break-word}",
    ".msg.assistant{align-self:flex-start;background:var(--soft);border-bottom-left-radius:5px}",
    ".msg.user{align-self:flex-end;background:var(--accent);color:var(--accent-ink);border-bottom-right-radius:5px}",
    ".msg a{color:var(--accent);text-decoration:underline;text-underline-offset:2px;white-space:nowrap}",
    ".msg.user a{color:inherit}",
    ".sr{position:absolute;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;clip:rect(0 0 0 0);",
    "white-space:nowrap;border:0}",
    ".typing{display:flex;gap:4px;align-items:center;padding:14px 14px}",
    ".typing i{width:7px;height:7px;border-radius:50%;background:var(--muted);opacity:.35;",
    "animation:lumen-dot 1.2s infinite ease-in-out}",
    ".typing i:nth-child(2){animation-delay:.15s}.typing i:nth-child(3){animation-delay:.3s}",
    "@keyframes lumen-dot{0%,80%,100%{opacity:.3;transform:translateY(0)}40%{opacity:.9;transform:translateY(-3px)}}",
    ".typing .status{color:var(--muted);font-size:14px}",
    "@media (prefers-reduced-motion:reduce){.typing i{animation:none;opacity:.6}.bubble{transition:none}}",
    ".notice{margin:0 14px 8px;padding:9px 12px;border-radius:10px;background:#fff4e5;color:#7a4100;",
    "font-size:13.5px;border:1px solid #f6d7a8}",
    ".composer{display:flex;gap:8px;align-items:flex-end;padding:10px 12px 12px;border-top:1px solid var(--line)}",
    ".composer textarea{flex:1;resize:none;min-height:42px;max-height:120px;padding:10px 12px;font:inherit;",
    "font-size:16px;line-height:1.35;color:var(--ink);background:#fff;border:1px solid #cfd8d5;",
    "border-radius:12px;outline:none}",
    ".composer textarea:focus{border-color:var(--accent);box-shadow:0 0 0 3px rgba(15,92,77,.15)}",
    ".send{width:42px;height:42px;flex:none;border:0;border-radius:12px;background:var(--accent);",
    "color:var(--accent-ink);cursor:pointer;display:grid;place-items:center}",
    ".send svg{fill:none;stroke:currentColor;stroke-width:2;stroke-linejoin:round;stroke-linecap:round}",
    ".send:disabled{opacity:.5;cursor:default}",
    ".foot{margin:0;padding:0 12px 9px;text-align:center;font-size:11px;color:var(--muted)}",
    "button:focus-visible,a:focus-visible{outline:3px solid #f5b83d;outline-offset:2px}",
    "@media (max-width:480px){.panel{inset:0;width:100%;max-width:none;height:100%;max-height:none;",
    "border-radius:0;border:0}.lumen.open .bubble{display:none}}",
  ].join("");

  // --- the UI -----------------------------------------------------------------------------------------------

  var host = el("div", { id: "lumen-widget", "data-lumen": "" });
  var root = host.attachShadow({ mode: "open" });

  // A constructed stylesheet passes a page's Content-Security-Policy that forbids inline <style>.
  if ("adoptedStyleSheets" in root && window.CSSStyleSheet && CSSStyleSheet.prototype.replaceSync) {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } else {
    root.appendChild(el("style", { text: CSS }));
  }

  var chatIcon = icon(ICON_CHAT, 28);
  chatIcon.setAttribute("class", "i-chat");
  var closeIcon = icon(ICON_CLOSE, 24);
  closeIcon.setAttribute("class", "i-close");
  var bubble = el("button", {
    type: "button",
    className: "bubble",
    "aria-expanded": "false",
    "aria-controls": "lumen-panel",
    "aria-label": "Chat with us about your order",
  }, [chatIcon, closeIcon]);

  var newButton = el("button", { type: "button", className: "icon-btn", "aria-label": "Start a new conversation", title: "New conversation" }, [icon(ICON_NEW, 20)]);
  var closeButton = el("button", { type: "button", className: "icon-btn", "aria-label": "Close chat", title: "Close" }, [icon(ICON_CLOSE, 20)]);
  var header = el("div", { className: "head" }, [
    el("div", { className: "who" }, [
      el("h2", { id: "lumen-title", text: TITLE }),
      el("p", { text: "Order status, shipping and tracking" }),
    ]),
    newButton,
    closeButton,
  ]);

  var log = el("div", { id: "lumen-log", className: "log", role: "log", "aria-live": "polite", "aria-label": "Conversation" });
  // What Lumen is doing ("Looking up your order…"): outside the log, which is aria-busy while a turn runs.
  var statusLine = el("p", { id: "lumen-status", className: "sr", role: "status", "aria-live": "polite" });
  var notice = el("p", { className: "notice", role: "alert", hidden: "" });
  var input = el("textarea", {
    id: "lumen-input",
    rows: "1",
    maxlength: String(MAX_CHARS),
    placeholder: "Ask about your order…",
    autocomplete: "off",
    enterkeyhint: "send",
  });
  var sendButton = el("button", { type: "submit", className: "send", "aria-label": "Send" }, [icon(ICON_SEND, 20)]);
  var form = el("form", { className: "composer" }, [
    el("label", { className: "sr", for: "lumen-input", text: "Your message" }),
    input,
    sendButton,
  ]);
  var panel = el("div", {
    id: "lumen-panel",
    className: "panel",
    role: "dialog",
    "aria-labelledby": "lumen-title",
    hidden: "",
  }, [header, log, statusLine, notice, form, el("p", { className: "foot", text: "Answers come from your order's tracking data." })]);

  var frame = el("div", { className: "lumen" }, [bubble, panel]);
  var color = attr("data-color");
  if (color) {
    frame.style.setProperty("--accent", color);
  }
  root.appendChild(frame);

  function addMessage(role, text) {
    var node = el("div", { className: "msg " + role });
    node.appendChild(el("span", { className: "sr", text: role === "user" ? "You said: " : "Assistant: " }));
    var body = el("span", { className: "text" });
    renderText(body, text);
    node.appendChild(body);
    log.appendChild(node);
    scrollToEnd();
    return node;
  }

  function setText(node, text) {
    renderText(node.querySelector(".text"), text);
    scrollToEnd();
  }

  function showTyping() {
    var node = el("div", { className: "msg assistant typing" }, [
      el("span", { className: "sr", text: "Assistant is typing" }),
      el("i"),
      el("i"),
      el("i"),
    ]);
    log.appendChild(node);
    scrollToEnd();
    return node;
  }

  // The typing bubble says what Lumen is doing instead of its dots; the live region reads it out.
  function showStatus(typing, text) {
    typing.textContent = "";
    typing.appendChild(el("span", { className: "status", "aria-hidden": "true", text: text }));
    statusLine.textContent = text;
    scrollToEnd();
  }

  function clearStatus() {
    statusLine.textContent = "";
  }

  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
  }

  function setNotice(text) {
    notice.textContent = text || "";
    notice.hidden = !text;
  }

  function renderTranscript() {
    log.textContent = "";
    addMessage("assistant", GREETING);
    state.messages.forEach(function (m) {
      addMessage(m.role, m.text);
    });
  }

  function autosize() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight + 2, 120) + "px";
  }

  function isOpen() {
    return !panel.hidden;
  }

  function open(focus) {
    panel.hidden = false;
    frame.classList.add("open");
    bubble.setAttribute("aria-expanded", "true");
    if (session) session.setItem(OPEN_KEY, "1");
    scrollToEnd();
    if (focus !== false) input.focus();
  }

  function close() {
    panel.hidden = true;
    frame.classList.remove("open");
    bubble.setAttribute("aria-expanded", "false");
    if (session) session.removeItem(OPEN_KEY);
    bubble.focus();
  }

  bubble.addEventListener("click", function () {
    if (isOpen()) close();
    else open();
  });
  closeButton.addEventListener("click", close);
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      event.preventDefault();
      close();
    }
  });
  newButton.addEventListener("click", function () {
    if (busy) return;
    state = { sessionId: null, messages: [], savedAt: 0 };
    if (local) local.removeItem(STORE_KEY);
    setNotice("");
    renderTranscript();
    input.focus();
  });
  input.addEventListener("input", autosize);
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    send();
  });

  // --- talking to the server ----------------------------------------------------------------------------------

  function Failure(kind, status) {
    // network: no connection; lost: the answer broke off midway; server: 5xx; broken: the server gave up midway;
    // session: the server forgot the conversation;
    // client: the server refused the message; fallback: streaming is not available here, ask without it
    this.kind = kind;
    this.status = status || 0;
  }

  function failureFor(response) {
    var status = response.status;
    if (status >= 500) return new Failure("server", status);
    if (status === 404 && state.sessionId) return new Failure("session", status);
    if (status === 404 || status === 405) return new Failure("fallback", status);
    return new Failure("client", status);
  }

  function post(path, body) {
    return fetch(API + path, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: path.indexOf("stream") >= 0 ? "text/event-stream" : "application/json" },
      body: JSON.stringify(body),
      credentials: "omit",
    }).catch(function () {
      throw new Failure("network");
    });
  }

  function plainTurn(message) {
    return post("/api/chat", { message: message, session_id: state.sessionId }).then(function (response) {
      if (!response.ok) throw failureFor(response);
      return response.json().catch(function () {
        throw new Failure("server", response.status);
      });
    });
  }

  // Server-sent events over fetch: `session`, `status`es and `delta`s, then `done` with the whole answer.
  function streamTurn(message, onDelta, onStatus) {
    return post("/api/chat/stream", { message: message, session_id: state.sessionId }).then(function (response) {
      if (!response.ok) throw failureFor(response);
      if (!response.body || !window.TextDecoder) throw new Failure("fallback");
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      var text = "";
      var started = false;
      var result = null;

      function handle(block) {
        var event = "message";
        var data = [];
        block.split("\n").forEach(function (line) {
          if (line.indexOf("event:") === 0) event = line.slice(6).trim();
          else if (line.indexOf("data:") === 0) data.push(line.slice(5).replace(/^ /, ""));
        });
        if (!data.length) return;
        var payload = JSON.parse(data.join("\n"));
        if (event === "session") {
          started = true;
          state.sessionId = payload.session_id;
          saveState();
        } else if (event === "status") {
          if (!text && typeof payload.text === "string") onStatus(payload.text);
        } else if (event === "delta") {
          text += payload.text || "";
          onDelta(text);
        } else if (event === "done") {
          result = payload;
        } else if (event === "error") {
          throw new Failure("broken"); // the server gave up midway: asking again would repeat the turn
        }
      }

      function pump() {
        return reader.read().then(
          function (chunk) {
            if (chunk.done) {
              if (result) return result;
              throw new Failure(started ? "lost" : "fallback");
            }
            buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n?/g, "\n");
            var end;
            while ((end = buffer.indexOf("\n\n")) >= 0) {
              var block = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              handle(block);
            }
            return result || pump();
          },
          function () {
            throw new Failure(started ? "lost" : "fallback");
          }
        );
      }
      return pump();
    });
  }

  function turn(message, onDelta, onStatus, retried) {
    return streamTurn(message, onDelta, onStatus).catch(function (failure) {
      if (!(failure instanceof Failure)) throw new Failure("server");
      if (failure.kind === "session" && !retried) {
        state.sessionId = null; // the server no longer knows this conversation: start another
        return turn(message, onDelta, onStatus, true);
      }
      if (failure.kind === "fallback" || failure.kind === "network" || failure.kind === "server") {
        return plainTurn(message).catch(function (second) {
          if (second instanceof Failure && second.kind === "session" && !retried) {
            state.sessionId = null;
            return plainTurn(message);
          }
          throw second instanceof Failure ? second : new Failure("server");
        });
      }
      throw failure;
    });
  }

  function explain(failure) {
    if (failure.kind === "network" || failure.kind === "lost") return TEXT.offline;
    if (failure.status === 429) return TEXT.busy;
    if (failure.status === 413) return TEXT.tooLong;
    if (failure.kind === "client") return TEXT.invalid;
    return TEXT.server;
  }

  var busy = false;

  function send() {
    var message = input.value.trim();
    if (!message || busy) return;
    if (message.length > MAX_CHARS) {
      setNotice(TEXT.tooLong);
      return;
    }
    busy = true;
    sendButton.disabled = true;
    setNotice("");
    var mine = addMessage("user", message);
    input.value = "";
    autosize();
    var typing = showTyping();
    var answer = null;
    log.setAttribute("aria-busy", "true"); // the log announces the finished answer, not every word

    turn(
      message,
      function (textSoFar) {
        if (!answer) {
          typing.remove();
          clearStatus();
          answer = addMessage("assistant", "");
        }
        setText(answer, textSoFar);
      },
      function (status) {
        if (!answer) showStatus(typing, status);
      }
    )
      .then(function (result) {
        typing.remove();
        clearStatus();
        if (!answer) answer = addMessage("assistant", "");
        setText(answer, result.reply || "");
        state.sessionId = result.session_id || state.sessionId;
        state.messages.push({ role: "user", text: message }, { role: "assistant", text: result.reply || "" });
        saveState();
      })
      .catch(function (failure) {
        typing.remove();
        clearStatus();
        if (answer) answer.remove();
        mine.remove();
        if (!input.value) {
          input.value = message; // nothing typed is lost
          autosize();
        }
        setNotice(explain(failure instanceof Failure ? failure : new Failure("server")));
      })
      .then(function () {
        busy = false;
        sendButton.disabled = false;
        log.removeAttribute("aria-busy");
        scrollToEnd();
      });
  }

  // --- start --------------------------------------------------------------------------------------------------

  function mount() {
    document.body.appendChild(host);
    renderTranscript();
    if (session && session.getItem(OPEN_KEY)) open(false); // it was open on the previous page
  }

  window.LumenWidget = {
    open: function () {
      open();
    },
    close: close,
    // Put a question in the box (the demo page's examples); the shopper still presses Send.
    prefill: function (text) {
      open();
      input.value = String(text || "").slice(0, MAX_CHARS);
      autosize();
      input.focus();
    },
  };

  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
