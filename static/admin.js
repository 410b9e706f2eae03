// Lumen's merchant page. Talks to /api/admin/* with the admin token; renders everything with textContent.
(function () {
  "use strict";

  var TOKEN_KEY = "lumen-admin-token";
  var PAGE = 20;
  var $ = function (id) {
    return document.getElementById(id);
  };

  var token = sessionStorage.getItem(TOKEN_KEY) || "";
  var conversationsShown = 0;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function when(iso) {
    if (!iso) return "";
    var date = new Date(iso);
    return isNaN(date) ? iso : date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }

  function AuthError(message) {
    this.message = message;
  }

  async function api(path, options) {
    options = options || {};
    var response;
    try {
      response = await fetch("/api/admin" + path, {
        method: options.method || "GET",
        headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
        body: options.body ? JSON.stringify(options.body) : undefined,
      });
    } catch (e) {
      throw new Error("The Lumen server cannot be reached.");
    }
    var data = null;
    try {
      data = await response.json();
    } catch (e) {
      /* not JSON */
    }
    var detail = data && typeof data.detail === "string" ? data.detail : "Request failed (" + response.status + ").";
    if (response.status === 401 || response.status === 403) throw new AuthError(detail);
    if (!response.ok) throw new Error(detail);
    return data;
  }

  function showStatus(node, text, isError) {
    node.textContent = text;
    node.classList.toggle("bad", !!isError);
  }

  // --- sign in ------------------------------------------------------------------------------------------------

  function signedOut(message) {
    token = "";
    sessionStorage.removeItem(TOKEN_KEY);
    $("app").hidden = true;
    $("sign-out").hidden = true;
    $("login").hidden = false;
    var error = $("login-error");
    error.textContent = message || "";
    error.hidden = !message;
    $("token").focus();
  }

  async function start() {
    try {
      await loadAll();
    } catch (e) {
      if (e instanceof AuthError) return signedOut(e.message);
      throw e;
    }
    $("login").hidden = true;
    $("app").hidden = false;
    $("sign-out").hidden = false;
  }

  $("login-form").addEventListener("submit", function (event) {
    event.preventDefault();
    token = $("token").value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token").value = "";
    start().catch(function (e) {
      signedOut(e.message);
    });
  });

  $("sign-out").addEventListener("click", function () {
    signedOut("");
  });

  // --- loading ------------------------------------------------------------------------------------------------

  async function loadAll() {
    await Promise.all([
      loadStats(),
      loadConnection(),
      loadOrderSync(),
      loadPersona(),
      loadSettings(),
      loadEscalations(),
      loadConversations(true),
    ]);
  }

  // The Shopify connection: what Lumen may read and why a lookup may have come back empty. Never a token.
  async function loadConnection() {
    var info = await api("/connection");
    var status = info.status;
    var summary = info.source === "shopify" ? "Orders come from Shopify (" + info.grant + ")." : "Orders come from the demo store file.";
    if (info.source !== "shopify" && info.install_ready) summary += " Install the app from Shopify to connect a store.";
    $("connection-summary").textContent = summary;
    var list = $("connection");
    list.replaceChildren();
    if (!status) return;
    var rows = [
      ["Shop", status.shop || "not reached yet"],
      ["Granted scopes", status.granted_scopes ? status.granted_scopes.join(", ") || "none" : "unknown"],
      ["Missing scopes", status.missing_scopes.length ? status.missing_scopes.join(", ") : "none"],
      ["Token expires", status.token_expires_at ? when(status.token_expires_at) : "never (or not yet known)"],
      ["Last successful call", status.last_success_at ? when(status.last_success_at) : "none yet"],
    ];
    if (status.older_orders_visible === false) {
      rows.push([
        "Orders older than 60 days",
        "not visible without read_all_orders; " +
          status.not_found_old_orders_hidden +
          " lookup(s) found nothing and may have been such orders",
      ]);
    }
    if (status.denied_fields.length) rows.push(["Fields Shopify denied", status.denied_fields.join("; ")]);
    if (status.last_error) rows.push(["Last error", status.last_error]);
    rows.forEach(function (row) {
      list.append(el("dt", null, row[0]), el("dd", row[0] === "Last error" ? "error" : null, row[1]));
    });
  }

  // The order mirror: Lumen's own copy of the store's orders, which answers lookups without asking Shopify.
  var SYNC_STATES = {
    off: "Off: every lookup asks Shopify (a store file, or LUMEN_ORDER_MIRROR is off, or the first backfill has not run).",
    backfilling: "Backfilling: copying the store's recent orders; lookups it has not reached yet ask Shopify.",
    live: "Live: lookups are answered from the mirror, kept fresh by webhooks and a periodic reconciliation.",
  };

  async function loadOrderSync() {
    var sync = await api("/order-sync");
    $("order-sync-summary").textContent = SYNC_STATES[sync.state] || sync.state;
    var rows = [
      ["Orders held", String(sync.orders)],
      ["Last sync", sync.last_sync ? when(sync.last_sync) : "never"],
    ];
    if (sync.backfill_started_at) rows.push(["Backfill started", when(sync.backfill_started_at)]);
    if (sync.backfill_finished_at) rows.push(["Backfill finished", when(sync.backfill_finished_at)]);
    if (sync.backfilled) rows.push(["Orders backfilled", String(sync.backfilled)]);
    if (sync.reconciled) rows.push(["Orders healed by reconciliation", String(sync.reconciled)]);
    if (sync.refreshed) rows.push(["Orders re-read after webhooks (this worker)", String(sync.refreshed)]);
    if (sync.pending_refreshes) rows.push(["Re-reads waiting (this worker)", String(sync.pending_refreshes)]);
    // Confirming reads: what a webhook's payload cannot say, read for many orders at once by one bulk operation.
    if (sync.confirmed) rows.push(["Orders confirmed in bulk after webhooks (this worker)", String(sync.confirmed)]);
    if (sync.pending_confirms) rows.push(["Confirmations waiting (this worker)", String(sync.pending_confirms)]);
    if (sync.confirm_fallbacks) {
      rows.push(["Confirmations read one by one instead (this worker)", String(sync.confirm_fallbacks)]);
    }
    if (sync.last_error) rows.push(["Last error", sync.last_error]);
    var list = $("order-sync");
    list.replaceChildren();
    rows.forEach(function (row) {
      list.append(el("dt", null, row[0]), el("dd", row[0] === "Last error" ? "error" : null, row[1]));
    });
  }

  async function loadStats() {
    var stats = await api("/stats");
    $("stat-conversations").textContent = stats.conversations;
    $("stat-lookups").textContent = stats.verified_lookups;
    $("stat-escalations").textContent = stats.escalations;
    $("stat-answered").textContent = Math.round((stats.answered_without_human || 0) * 100) + "%";
    showPendingPrivacy(stats.privacy_requests || {});
  }

  // Shopify's shop/redact that Lumen could not carry out yet: the merchant may have to act (a changed secret key).
  var PRIVACY_REASONS = {
    token_unreadable: "Lumen cannot decrypt its stored Shopify token: restore the LUMEN_SECRET_KEY it was stored with "
      + "and restart Lumen (or install the app again).",
    shopify_unreachable: "Shopify could not be asked whether the app was uninstalled.",
  };

  function showPendingPrivacy(pending) {
    var box = $("privacy-pending");
    box.hidden = !pending.pending;
    if (!pending.pending) return;
    var count = pending.pending === 1 ? "1 delivery" : pending.pending + " deliveries";
    box.textContent = "A request from Shopify to erase this shop's data (shop/redact) is not carried out yet ("
      + count + ", the first on " + when(pending.oldest) + "). "
      + (PRIVACY_REASONS[pending.reason] || "") + " Lumen tries again every hour.";
  }

  async function loadPersona() {
    var persona = await api("/persona");
    $("persona-name").value = persona.assistant_name;
    $("persona-tone").value = persona.tone;
    $("persona-context").value = persona.context || "";
  }

  var savedSmtpUrl = "";

  async function loadSettings() {
    var settings = await api("/settings");
    $("escalation-email").value = settings.escalation_email || "";
    savedSmtpUrl = settings.smtp_url || "";
    $("smtp-url").value = savedSmtpUrl;
    $("mail-from").value = settings.mail_from || "";
    var factors = settings.verification_factors || [];
    $("factor-email").checked = factors.indexOf("email") >= 0;
    $("factor-postal").checked = factors.indexOf("postal_code") >= 0;
  }

  var STATUS_TEXT = {
    sent: "Emailed",
    pending: "Sending",
    sending: "Sending",
    failed: "Email failed, retrying",
    not_configured: "Email not set up",
    cancelled: "Cancelled",
  };
  var SPEAKERS = {
    shopper: ["shopper", "Shopper"],
    lumen: ["assistant", "Assistant"],
    unattributed: ["unattributed", "Earlier transcript (speakers not told apart)"],
  };

  function nextAttempt(esc) {
    if (esc.email_status === "sent" || esc.email_status === "cancelled") return "none";
    if (esc.email_status === "not_configured") return "once email is set up";
    return esc.next_attempt_at ? when(esc.next_attempt_at) : "now";
  }

  // Each message of the hand-off is its own element, so nothing a shopper typed can look like the assistant's words.
  function escalationTranscript(messages) {
    var box = el("div", "esc-transcript");
    (messages || []).forEach(function (message) {
      var speaker = SPEAKERS[message.speaker] || [message.speaker, message.speaker];
      var node = turn(speaker[0], speaker[1], message.text);
      if (message.at) node.querySelector(".who").appendChild(el("span", "at", " · " + when(message.at)));
      box.appendChild(node);
    });
    return box;
  }

  function escalationAction(esc, action, label, status) {
    var button = el("button", "link", label);
    button.type = "button";
    button.setAttribute("aria-label", label + " " + esc.id);
    button.addEventListener("click", async function () {
      showStatus(status, label === "Resend" ? "Sending…" : "Cancelling…");
      try {
        await api("/escalations/" + encodeURIComponent(esc.id) + "/" + action, { method: "POST" });
        await loadEscalations();
      } catch (e) {
        if (e instanceof AuthError) return signedOut(e.message);
        showStatus(status, e.message, true);
      }
    });
    return button;
  }

  async function loadEscalations() {
    var list = await api("/escalations?limit=100");
    var box = $("escalations");
    var open = {}; // what the merchant had open stays open across a reload (after Resend or Cancel)
    box.querySelectorAll("details.escalation[open]").forEach(function (node) {
      open[node.dataset.id] = true;
    });
    box.textContent = "";
    $("escalations-empty").hidden = list.length > 0;
    list.forEach(function (esc) {
      var item = el("details", "escalation");
      item.dataset.id = esc.id;
      item.open = !!open[esc.id];
      var summary = el("summary");
      summary.appendChild(el("span", "ref", esc.id));
      summary.appendChild(el("span", "what", (esc.order_name ? esc.order_name + " · " : "") + esc.reason.replace(/_/g, " ")));
      summary.appendChild(el("span", "badge " + esc.email_status, STATUS_TEXT[esc.email_status] || esc.email_status));
      summary.appendChild(el("span", "date", when(esc.created_at)));
      item.appendChild(summary);
      var body = el("div", "esc-body");
      var facts = el("dl");
      [
        ["Shopper email", esc.shopper_email || "not given"],
        ["Conversation", esc.conversation_id],
        ["Email attempts", String(esc.attempts)],
        ["Last error", esc.last_error || "none"],
        ["Next attempt", nextAttempt(esc)],
      ].forEach(function (pair) {
        facts.appendChild(el("dt", null, pair[0]));
        facts.appendChild(el("dd", null, pair[1]));
      });
      body.appendChild(facts);
      var actions = el("div", "esc-actions");
      var status = el("span", "status");
      status.setAttribute("role", "status");
      actions.appendChild(escalationAction(esc, "resend", "Resend", status));
      if (esc.email_status !== "sent" && esc.email_status !== "cancelled") {
        actions.appendChild(escalationAction(esc, "cancel", "Cancel", status));
      }
      actions.appendChild(status);
      body.appendChild(actions);
      body.appendChild(el("p", "esc-summary", esc.summary));
      body.appendChild(escalationTranscript(esc.transcript));
      item.appendChild(body);
      box.appendChild(item);
    });
  }

  async function loadConversations(reset) {
    if (reset) conversationsShown = 0;
    var list = await api("/conversations?limit=" + PAGE + "&offset=" + conversationsShown);
    var body = $("conversations");
    if (reset) body.textContent = "";
    list.forEach(function (c) {
      var row = el("tr");
      row.appendChild(el("td", null, when(c.updated_at)));
      row.appendChild(el("td", "n", c.message_count));
      row.appendChild(el("td", "n", c.verified_lookups));
      row.appendChild(el("td", null, c.escalated ? "Yes" : "–"));
      var cell = el("td");
      var button = el("button", "link", "Read");
      button.type = "button";
      button.setAttribute("aria-label", "Read conversation from " + when(c.updated_at));
      button.addEventListener("click", function () {
        body.querySelectorAll("tr.selected").forEach(function (r) {
          r.classList.remove("selected");
        });
        row.classList.add("selected");
        showTranscript(c.id);
      });
      cell.appendChild(button);
      row.appendChild(cell);
      body.appendChild(row);
    });
    conversationsShown += list.length;
    $("conversations-empty").hidden = conversationsShown > 0;
    $("more").hidden = list.length < PAGE;
  }

  function pretty(value) {
    if (typeof value === "string") {
      try {
        value = JSON.parse(value);
      } catch (e) {
        return value;
      }
    }
    return JSON.stringify(value, null, 2);
  }

  async function showTranscript(id) {
    var view = $("transcript");
    view.textContent = "";
    view.appendChild(el("p", "muted", "Loading…"));
    var data;
    try {
      data = await api("/conversations/" + encodeURIComponent(id));
    } catch (e) {
      view.textContent = "";
      view.appendChild(el("p", "error", e.message));
      return;
    }
    view.textContent = "";
    var head = el("div", "t-head");
    head.appendChild(el("h3", null, "Conversation"));
    head.appendChild(el("p", "muted", "Started " + when(data.created_at) + " · model " + (data.model || "unknown")));
    view.appendChild(head);
    (data.messages || []).forEach(function (message) {
      (message.parts || []).forEach(function (part) {
        var kind = part.part_kind;
        if (kind === "user-prompt") {
          var content = typeof part.content === "string" ? part.content : pretty(part.content);
          view.appendChild(turn("shopper", "Shopper", content));
        } else if (kind === "text") {
          view.appendChild(turn("assistant", "Assistant", part.content));
        } else if (kind === "tool-call") {
          view.appendChild(tool("call", "Tool call · " + part.tool_name, pretty(part.args || {})));
        } else if (kind === "tool-return") {
          view.appendChild(tool("result", "Tool result · " + part.tool_name, pretty(part.content)));
        } else if (kind === "retry-prompt") {
          view.appendChild(tool("result", "Retry · " + (part.tool_name || "model"), pretty(part.content)));
        }
      });
    });
    view.focus();
  }

  function turn(kind, who, text) {
    var node = el("div", "turn " + kind);
    node.appendChild(el("span", "who", who));
    node.appendChild(el("p", null, text));
    return node;
  }

  function tool(kind, title, text) {
    var node = el("details", "tool " + kind);
    node.appendChild(el("summary", null, title));
    node.appendChild(el("pre", null, text));
    return node;
  }

  // --- saving -------------------------------------------------------------------------------------------------

  $("persona-form").addEventListener("submit", async function (event) {
    event.preventDefault();
    var status = $("persona-status");
    showStatus(status, "Saving…");
    try {
      var persona = await api("/persona", {
        method: "PUT",
        body: {
          assistant_name: $("persona-name").value,
          tone: $("persona-tone").value,
          context: $("persona-context").value,
        },
      });
      $("persona-name").value = persona.assistant_name;
      $("persona-context").value = persona.context;
      showStatus(status, "Saved");
    } catch (e) {
      if (e instanceof AuthError) return signedOut(e.message);
      showStatus(status, e.message, true);
    }
  });

  $("settings-form").addEventListener("submit", async function (event) {
    event.preventDefault();
    var status = $("settings-status");
    var factors = [];
    if ($("factor-email").checked) factors.push("email");
    if ($("factor-postal").checked) factors.push("postal_code");
    if (!factors.length) {
      showStatus(status, "Choose at least one way for shoppers to confirm their order.", true);
      return;
    }
    var body = {
      escalation_email: $("escalation-email").value.trim() || null,
      mail_from: $("mail-from").value.trim() || "lumen@localhost",
      verification_factors: factors,
    };
    var smtp = $("smtp-url").value.trim();
    if (smtp !== savedSmtpUrl) body.smtp_url = smtp || null; // unchanged: the stored password stays
    showStatus(status, "Saving…");
    try {
      await api("/settings", { method: "PUT", body: body });
      await loadSettings();
      showStatus(status, "Saved");
    } catch (e) {
      if (e instanceof AuthError) return signedOut(e.message);
      showStatus(status, e.message, true);
    }
  });

  $("refresh").addEventListener("click", function () {
    Promise.all([loadStats(), loadEscalations(), loadConversations(true)]).catch(function (e) {
      if (e instanceof AuthError) signedOut(e.message);
    });
  });

  $("more").addEventListener("click", function () {
    loadConversations(false).catch(function (e) {
      if (e instanceof AuthError) signedOut(e.message);
    });
  });

  // --- start --------------------------------------------------------------------------------------------------

  fetch("/healthz")
    .then(function (r) {
      return r.json();
    })
    .then(function (health) {
      if (health.store) $("shop").textContent = "for " + health.store;
    })
    .catch(function () {});

  if (token) {
    start().catch(function (e) {
      signedOut(e.message);
    });
  } else {
    signedOut("");
  }
})();
