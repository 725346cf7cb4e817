// Browser tests of the web chat: a real `sandbot serve` on the example
// config, driven through headless Chromium.
//
// Environment: SANDBOT_BIN (default target/debug/sandbot), CHROMIUM
// (default /usr/bin/chromium).

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { chromium } from "playwright-core";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const bin = process.env.SANDBOT_BIN || join(root, "target/debug/sandbot");
const config = join(root, "config/example.yaml");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";

let dir, store, base, server, serverLog = "", browser;

/** A free port on 127.0.0.1. */
function freePort() {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });
}

/** Wait until the server answers its health check. */
async function waitForServer() {
  for (let i = 0; i < 100; i++) {
    if (server.exitCode !== null) break;
    const ok = await fetch(base + "/healthz").then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("sandbot serve did not start:\n" + serverLog);
}

/** Run a sandbot subcommand against the server's store. */
async function sandbot(...args) {
  const env = { ...process.env, SANDBOT_LOG: "warn" };
  return promisify(execFile)(bin, args, { env, cwd: root });
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "sandbot-browser-"));
  store = "sqlite://" + join(dir, "sandbot.db");
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const args = ["serve", "-c", config, "--listen", `127.0.0.1:${port}`, "--store", store];
  const env = { ...process.env, SANDBOT_LOG: "info" };
  delete env.SANDBOT_WEB_KEY;
  server = spawn(bin, args, { env, cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  server.stdout.on("data", (d) => (serverLog += d));
  server.stderr.on("data", (d) => (serverLog += d));
  await waitForServer();
  browser = await chromium.launch({
    executablePath: chromiumPath,
    // Playwright gives each launch a fresh, throwaway profile directory.
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
});

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null) {
    const exited = new Promise((done) => server.once("exit", done));
    server.kill("SIGTERM");
    // A graceful shutdown ends open long polls at once.
    const late = setTimeout(() => server.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(late);
  }
  await rm(dir, { recursive: true, force: true });
});

/** A page for a new visitor (its own cookies), opened on the chat. */
async function newVisitor() {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(base + "/");
  return page;
}

/** Tap a reply button by its title. */
async function tap(page, title) {
  await page.locator("#buttons").getByRole("button", { name: title, exact: true }).click();
}

/** Type a message and send it. */
async function say(page, text) {
  await page.getByLabel("Message").fill(text);
  await page.getByLabel("Message").press("Enter");
}

/** Wait for a bot message containing `text`. */
async function seeReply(page, text) {
  await page.locator(".msg.bot", { hasText: text }).last().waitFor({ timeout: 10_000 });
}

/** Wait for handler output containing `text`. */
async function seeOutput(page, text) {
  await page.locator(".msg.bot pre", { hasText: text }).last().waitFor({ timeout: 10_000 });
}

let first;

test("a visitor clicks through, runs a handler and sees its output", async () => {
  first = await newVisitor();
  await seeReply(first, "Hi! I'm a sandbot demo.");
  await tap(first, "Get Started");
  await seeReply(first, "What would you like to do?");
  await tap(first, "Echo");
  await seeReply(first, "Type anything and I'll echo it back.");
  await say(first, "hello from the browser");
  await seeOutput(first, "You said: hello from the browser");
});

test("a reply containing markup is shown as text", async () => {
  const markup = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"><b>bold</b>';
  await say(first, markup);
  await seeOutput(first, "You said: <script>window.pwned = 1</script>");
  assert.equal(await first.evaluate(() => window.pwned), undefined);
  assert.equal(await first.locator("#log b, #log img, #log script").count(), 0);
});

test("a second browser is a different visitor with its own state", async () => {
  const second = await newVisitor();
  await seeReply(second, "Hi! I'm a sandbot demo.");
  await second.locator("#buttons").getByRole("button", { name: "Get Started" }).waitFor();
  assert.equal(await second.locator(".msg.me").count(), 0);

  // The first visitor is still where they were, even after a reload.
  await first.reload();
  await seeReply(first, "Type anything and I'll echo it back.");
  await second.context().close();
});

test("a guest's request approved from the shell shows its result on the page", async () => {
  await tap(first, "Back");
  await tap(first, "Restart a service");
  await seeReply(first, "Which service should I restart?");
  await say(first, "web");
  await seeReply(first, 'You need approval to run "Restart a service"');

  const { stdout: listing } = await sandbot("approvals", "list", "-c", config, "--store", store);
  const row = listing.split("\n").find((line) => line.includes("Restart a service"));
  assert.ok(row, "the request is listed:\n" + listing);
  const id = row.split(/\s+/)[0];

  const approve = ["approvals", "approve", id, "-c", config, "--as", "operator", "--store", store];
  const { stdout } = await sandbot(...approve);
  assert.match(stdout, /Approved/);

  await seeReply(first, 'approved your request to run "Restart a service"');
  await seeOutput(first, "Restarting web... (this example only pretends)");
});
