/* Courtyard chats: live updates over the event stream (docs/events.md), no build step.
 *
 * The socket authenticates with the session cookie. On a conversation page new messages are
 * appended as they arrive and sending goes over the socket with a client id (pending, then
 * sent on the server's ack); while the socket is down the composer posts its form as usual.
 * On the list page unread badges follow new messages. Every text is set with textContent.
 *
 * Due process: a send refused by a rule (policy_blocked, policy_held) links its failed bubble
 * to the notice that says why, and a governance.notice event (a decision about this account)
 * shows a small banner linking to it. Their texts come translated from the page
 * (cfg.strings, or the data attributes of #notice-strings).
 */
(function () {
  "use strict";

  var dataNode = document.getElementById("chat-data");
  if (!dataNode || !window.WebSocket) return;
  var cfg = JSON.parse(dataNode.textContent);
  var S = cfg.strings;
  var cid = cfg.conversation_id;
  var list = document.getElementById("messages");
  var composer = document.getElementById("composer");
  var textarea = composer ? composer.querySelector("textarea") : null;
  var typingNode = document.getElementById("typing");
  var ws = null;
  var ready = false;
  var closed = false;
  var cursor = null;
  var retry = 1000;
  var typingSent = 0;
  var typingTimer = null;
  var noticeNode = document.getElementById("notice-strings");
  var N = noticeNode ? noticeNode.dataset : {};
  var zh = /^zh\b/i.test(document.documentElement.lang || "");
  var linkedNotices = {}; // statement ids a refused bubble already links to

  function fmt(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_, key) {
      return values[key] === undefined ? "" : String(values[key]);
    });
  }

  function newClientId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function formatTime(iso) {
    var when = iso ? new Date(iso) : new Date();
    try {
      return new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
        dateStyle: "medium", timeStyle: "medium", timeZone: "UTC"
      }).format(when) + " UTC";
    } catch (e) {
      return when.toISOString();
    }
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function send(frame) {
    if (ws && ready) ws.send(JSON.stringify(frame));
  }

  // ---- a conversation page ---------------------------------------------------------------

  function senderName(id) {
    if (id === cfg.me) return S.you;
    return cfg.names[id] || S.member;
  }

  function recallForm(messageId) {
    var form = el("form", "recall");
    form.method = "post";
    form.action = "/chats/" + cid + "/messages/" + messageId + "/recall";
    var token = el("input");
    token.type = "hidden";
    token.name = "csrf_token";
    token.value = cfg.csrf;
    var button = el("button", "link-button", S.recall);
    button.type = "submit";
    form.appendChild(token);
    form.appendChild(button);
    setTimeout(function () { form.remove(); }, cfg.recall_seconds * 1000);
    return form;
  }

  function bubble(message, pending) {
    var mine = message.sender_id === cfg.me;
    var li = el("li", "bubble" + (mine ? " mine" : "") + (pending ? " pending" : ""));
    li.dataset.clientId = message.client_id;
    li.appendChild(el("p", "sender", senderName(message.sender_id)));
    li.appendChild(el("p", "text", message.text));
    var meta = el("p", "meta");
    var time = el("time", "", formatTime(message.sent_at));
    if (message.sent_at) time.dateTime = message.sent_at;
    meta.appendChild(time);
    if (mine) {
      meta.appendChild(document.createTextNode(" "));
      meta.appendChild(el("span", "state", pending ? S.sending : ""));
    }
    li.appendChild(meta);
    return li;
  }

  // Governance labels travel with the message; the sender's own bubble gets them on commit.
  function addLabels(li, message) {
    if (li.querySelector(".governance-label")) return;
    var labels = (message.labels || []).slice();
    if (message.friction) labels.push("friction");
    var meta = li.querySelector(".meta");
    labels.forEach(function (code) {
      var note = el("p", "governance-label", cfg.labels[code] || cfg.labels["*"]);
      note.dataset.label = code;
      li.insertBefore(note, meta);
    });
  }

  function settle(li, message) {
    addLabels(li, message);
    li.id = "m-" + message.id;
    li.dataset.id = message.id;
    li.dataset.seq = message.seq;
    li.classList.remove("pending", "failed");
    var why = li.querySelector("a.notice-link");
    if (why) why.remove();
    var state = li.querySelector(".state");
    if (state) state.textContent = S.sent;
    if (message.sender_id === cfg.me && !message.recalled && !li.querySelector("form.recall")) {
      li.appendChild(recallForm(message.id));
    }
  }

  function pendingFor(clientId) {
    var items = list.querySelectorAll("li.bubble.mine");
    for (var i = 0; i < items.length; i++) {
      if (items[i].dataset.clientId === clientId && !items[i].dataset.id) return items[i];
    }
    return null;
  }

  function scrollDown() {
    var last = list.lastElementChild;
    if (last && last.scrollIntoView) last.scrollIntoView({ block: "nearest" });
  }

  function onMessage(message) {
    if (document.getElementById("m-" + message.id)) return;
    var empty = document.getElementById("no-messages");
    if (empty) empty.remove();
    // Withheld content that a reviewer released arrives under its own id.
    var withheld = document.getElementById("w-" + message.id);
    if (withheld) {
      var kept = withheld.parentNode;
      withheld.remove();
      if (kept && !kept.children.length) kept.remove();
    }
    var li = message.sender_id === cfg.me ? pendingFor(message.client_id) : null;
    if (!li) {
      li = bubble(message, false);
      list.appendChild(li);
    }
    settle(li, message);
    if (message.sender_id !== cfg.me) {
      if (typingNode) typingNode.textContent = "";
      if (document.visibilityState === "visible") {
        send({ type: "read", conversation_id: cid, seq: message.seq });
      }
    }
    scrollDown();
  }

  function onRecalled(data) {
    var li = document.getElementById("m-" + data.message_id);
    if (!li) return;
    li.classList.add("recalled");
    var text = li.querySelector(".text");
    if (text) {
      text.textContent = S.recalled;
      text.classList.add("notice-text");
    }
    var form = li.querySelector("form.recall");
    if (form) form.remove();
  }

  function closeConversation(message) {
    closed = true;
    var banner = document.getElementById("chat-closed");
    if (banner) {
      banner.textContent = message;
      banner.hidden = false;
    }
    if (composer) {
      composer.querySelectorAll("textarea, button").forEach(function (node) {
        node.disabled = true;
      });
    }
  }

  function onAck(frame) {
    var li = pendingFor(frame.client_id);
    if (li) settle(li, { id: frame.message_id, seq: frame.seq, sender_id: cfg.me });
  }

  function onSendError(frame) {
    var li = frame.client_id ? pendingFor(frame.client_id) : null;
    var error = frame.error || {};
    if (error.code === "conversation_not_found") closeConversation(S.removed);
    if (!li) return;
    li.classList.remove("pending");
    li.classList.add("failed");
    var state = li.querySelector(".state");
    if (state) state.textContent = S.failed + (error.message ? ": " + error.message : "");
    var statementId = (error.details || {}).statement_id;
    if ((error.code === "policy_blocked" || error.code === "policy_held") && statementId) {
      linkNotice(li, String(statementId));
    }
  }

  // ---- due process: why a send was refused, and notices as they are issued ---------------

  function noticeHref(id) {
    return "/notices/" + encodeURIComponent(id);
  }

  function linkNotice(li, statementId) {
    linkedNotices[statementId] = true;
    var shown = document.getElementById("live-notice-" + statementId);
    if (shown) shown.remove(); // the bubble says it where it happened
    if (li.querySelector("a.notice-link")) return;
    var meta = li.querySelector(".meta");
    var link = el("a", "notice-link", S.see_why || N.seeWhy || "");
    link.href = noticeHref(statementId);
    meta.appendChild(document.createTextNode(" "));
    meta.appendChild(link);
  }

  // The banners' live region exists before anything is put in it, so it is announced. It sits
  // at the top of the page's content and stays in view while the page scrolls.
  var noticeArea = el("div", "live-notices");
  noticeArea.id = "live-notices";
  noticeArea.setAttribute("aria-live", "polite");
  var mainNode = document.getElementById("main") || document.body;
  mainNode.insertBefore(noticeArea, mainNode.firstChild);

  function onNotice(data) {
    if (!data || typeof data.id !== "string" || linkedNotices[data.id]) return;
    // A send of ours in this conversation may be what it is about: its refusal, which links
    // the bubble instead, can follow the event by a moment.
    if (cid && data.conversation_id === cid && list && list.querySelector("li.bubble.pending")) {
      setTimeout(function () { showNotice(data); }, 1500);
    } else {
      showNotice(data);
    }
  }

  function showNotice(data) {
    if (linkedNotices[data.id]) return;
    var what = (zh && data.what_zh) || data.what || "";
    var old = document.getElementById("live-notice-" + data.id);
    if (old) old.remove();
    var box = el("div", "live-notice");
    box.id = "live-notice-" + data.id;
    box.dataset.status = data.status || "";
    var link = el("a", "live-notice-link");
    link.href = noticeHref(data.id);
    var reversed = S.notice_reversed || N.reversed;
    if (data.status === "reversed" && reversed) {
      link.appendChild(el("strong", "", reversed));
      link.appendChild(document.createTextNode(" · "));
    }
    link.appendChild(document.createTextNode(what));
    box.appendChild(link);
    var close = el("button", "live-notice-close", "\u00d7");
    close.type = "button";
    var label = S.dismiss || N.dismiss;
    if (label) {
      close.setAttribute("aria-label", label);
      close.title = label;
    }
    close.addEventListener("click", function () { box.remove(); });
    box.appendChild(close);
    noticeArea.appendChild(box);
  }

  function onTyping(frame) {
    if (!typingNode || frame.conversation_id !== cid || frame.account_id === cfg.me) return;
    typingNode.textContent = fmt(S.typing, { name: senderName(frame.account_id) });
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () { typingNode.textContent = ""; }, 4000);
  }

  function onConversationEvent(kind, data) {
    if (kind === "chat.message") {
      onMessage(data);
    } else if (kind === "chat.message.recalled") {
      onRecalled(data);
    } else if (kind === "chat.member.removed" && data.account_id === cfg.me) {
      closeConversation(S.removed);
    } else if (kind === "chat.member.left" && data.account_id === cfg.me) {
      closeConversation(S.left);
    } else if (kind === "chat.conversation.updated" && data.dissolved) {
      closeConversation(S.dissolved);
    } else if ((kind === "chat.member.joined" || kind === "chat.member.updated") && data.member) {
      if (data.member.nickname) cfg.names[data.member.account_id] = data.member.nickname;
    }
  }

  if (composer && textarea) {
    composer.addEventListener("submit", function (event) {
      if (closed) {
        event.preventDefault();
        return;
      }
      if (!ready) return; // the socket is down: the form posts and the page reloads
      event.preventDefault();
      var text = textarea.value;
      if (!text.trim()) return;
      var clientId = newClientId();
      var empty = document.getElementById("no-messages");
      if (empty) empty.remove();
      list.appendChild(bubble({ sender_id: cfg.me, client_id: clientId, text: text }, true));
      scrollDown();
      send({ type: "send", client_id: clientId, conversation_id: cid, text: text });
      textarea.value = "";
      textarea.focus();
    });
    textarea.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        composer.requestSubmit();
      }
    });
    textarea.addEventListener("input", function () {
      var now = Date.now();
      if (ready && now - typingSent > 3000) {
        typingSent = now;
        send({ type: "typing", conversation_id: cid });
      }
    });
  }

  // ---- the list page ----------------------------------------------------------------------

  function badge(row, count) {
    var node = row.querySelector(".unread");
    if (!node) return;
    node.dataset.unread = String(count);
    node.textContent = "";
    node.classList.toggle("none", count === 0);
    if (count > 0) {
      var shown = el("span", "", count >= 999 ? "999+" : String(count));
      shown.setAttribute("aria-hidden", "true");
      node.appendChild(shown);
      node.appendChild(el("span", "visually-hidden", fmt(S.unread, { n: count })));
    }
  }

  function onListEvent(kind, data) {
    var rows = document.querySelectorAll("li.conversation");
    var row = null;
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].dataset.conversationId === data.conversation_id) row = rows[i];
    }
    if (kind === "chat.message") {
      if (!row) {
        var live = document.getElementById("chat-live");
        if (live && data.sender_id !== cfg.me) {
          live.textContent = S.new_messages;
          live.hidden = false;
        }
        return;
      }
      if (data.sender_id !== cfg.me) {
        var node = row.querySelector(".unread");
        badge(row, Number((node && node.dataset.unread) || 0) + 1);
      }
      var parent = row.parentNode;
      if (parent && parent.id === "conversation-list") parent.insertBefore(row, parent.firstChild);
    } else if (kind === "chat.read" && row) {
      badge(row, 0);
    }
  }

  function offline(on) {
    var node = document.getElementById("chat-offline");
    if (!node) return;
    node.textContent = on ? S.offline : "";
    node.hidden = !on;
  }

  /* Recall links rendered by the server go away when the window closes. */
  if (list) {
    list.querySelectorAll("li.bubble.mine").forEach(function (li) {
      var form = li.querySelector("form.recall");
      var time = li.querySelector("time");
      if (!form || !time) return;
      var left = Date.parse(time.getAttribute("datetime")) + cfg.recall_seconds * 1000 - Date.now();
      setTimeout(function () { form.remove(); }, Math.max(0, left));
    });
  }

  // ---- the socket -------------------------------------------------------------------------

  function onFrame(frame) {
    if (frame.type === "ping") {
      ws.send(JSON.stringify({ type: "pong" }));
    } else if (frame.type === "registered") {
      ready = true;
      retry = 1000;
      cursor = frame.cursor;
      document.documentElement.dataset.chatLive = "on";
      offline(false);
    } else if (frame.type === "event") {
      cursor = frame.id;
      var data = frame.data || {};
      if (frame.kind === "governance.notice") onNotice(data);
      else if (cid && data.conversation_id === cid) onConversationEvent(frame.kind, data);
      else if (!cid) onListEvent(frame.kind, data);
    } else if (frame.type === "ack" && cid) {
      onAck(frame);
    } else if (frame.type === "send_error" && cid) {
      onSendError(frame);
    } else if (frame.type === "typing" && cid) {
      onTyping(frame);
    }
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(scheme + location.host + "/api/v1/stream");
    ws.onopen = function () {
      ws.send(JSON.stringify({ type: "register", cursor: cursor }));
    };
    ws.onmessage = function (event) {
      try {
        onFrame(JSON.parse(event.data));
      } catch (e) {
        /* a frame we cannot read: ignore it */
      }
    };
    ws.onclose = function (event) {
      var wasLive = ready;
      ready = false;
      document.documentElement.dataset.chatLive = "off";
      if (wasLive) offline(true);
      if (list) {
        list.querySelectorAll("li.pending").forEach(function (li) {
          onSendError({ client_id: li.dataset.clientId, error: {} });
        });
      }
      if (event.code === 4401 || event.code === 4403) return; // signed out or not allowed
      if (event.code === 4409) cursor = null; // too far behind: start again from now
      if (event.code === 4410) {
        location.reload(); // events this old are no longer kept: show the state afresh
        return;
      }
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    };
  }

  connect();
})();
