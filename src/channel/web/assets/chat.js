// The web chat page. Every string from the server is shown with
// textContent, never parsed as markup.
"use strict";

const log = document.getElementById("log");
const buttons = document.getElementById("buttons");
const status = document.getElementById("status");
const who = document.getElementById("who");
const form = document.getElementById("composer");
const input = document.getElementById("text");

let seq = 0;

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

function scrollDown() {
  log.scrollTop = log.scrollHeight;
}

function showMine(text) {
  log.append(element("div", "msg me", text));
  scrollDown();
}

// A reply: its text, handler output in a <pre>, and its buttons below the
// log (the latest reply's buttons replace earlier ones).
function showReply(reply) {
  const box = element("div", "msg bot");
  box.dataset.testid = "reply";
  if (reply.text) box.append(element("div", "text", reply.text));
  if (reply.output) box.append(element("pre", "output", reply.output));
  log.append(box);
  showButtons(reply.buttons || []);
  scrollDown();
}

function showButtons(list) {
  buttons.replaceChildren();
  for (const b of list) {
    const button = element("button", "choice", b.title);
    button.type = "button";
    button.addEventListener("click", () => send({ payload: b.payload }, b.title));
    buttons.append(button);
  }
}

function showStatus(text) {
  status.textContent = text;
}

async function send(body, shown) {
  showMine(shown);
  showStatus("");
  const response = await fetch("/api/messages", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    credentials: "same-origin",
  }).catch(() => null);
  if (!response) {
    showStatus("Could not reach the server.");
  } else if (response.status !== 202) {
    const error = await response.json().catch(() => ({}));
    showStatus(error.error || "The message was not accepted (" + response.status + ").");
  }
}

async function load() {
  const response = await fetch("/api/state", { credentials: "same-origin" });
  if (!response.ok) {
    showStatus("Could not load the conversation.");
    return;
  }
  const state = await response.json();
  seq = state.seq;
  who.textContent = state.user ? "signed in as " + state.user : "guest";
  showReply(state.reply);
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function poll() {
  for (;;) {
    const response = await fetch("/api/updates?after=" + seq, {
      credentials: "same-origin",
    }).catch(() => null);
    if (!response || !response.ok) {
      await sleep(2000);
      continue;
    }
    const body = await response.json();
    for (const message of body.messages) {
      seq = Math.max(seq, message.seq);
      showReply(message.reply);
    }
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  send({ text }, text);
});

load().then(poll);
