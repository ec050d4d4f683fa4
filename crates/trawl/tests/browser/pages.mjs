// trawl's pages in Debian's chromium, driven by playwright-core (no
// browser download). Run by crates/trawl/tests/api/browser.rs, which starts
// trawl (the demo corpus, and a `slowweb` engine that answers after
// SLOW_MS) and passes:
//   TRAWL_URL    the web service's base URL
//   CHROMIUM     the browser (default /usr/bin/chromium)
//   SHOTS        where screenshots go (under target/)
//   SLOW_MS      how long the slow engine takes
// Exits 1 when a check fails; prints one line per check and figures.
import { chromium } from "playwright-core";
import { createRequire } from "node:module";
import { mkdirSync, writeFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const AXE = require.resolve("axe-core/axe.min.js");
const BASE = process.env.TRAWL_URL;
const SHOTS = process.env.SHOTS;
const SLOW_MS = Number(process.env.SLOW_MS || 3000);
if (!BASE || !SHOTS) throw new Error("TRAWL_URL and SHOTS must be set");
mkdirSync(SHOTS, { recursive: true });

const failures = [];
const figures = {};
async function check(name, body) {
  const started = Date.now();
  try {
    await body();
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    failures.push(name);
    console.log(`FAIL ${name}: ${error && error.stack ? error.stack : error}`);
  }
}
function assert(condition, message) {
  if (!condition) throw new Error(message);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const WIDE = { width: 1280, height: 900 };
const NARROW = { width: 390, height: 844 };
async function context(options = {}) {
  return browser.newContext({ viewport: WIDE, ...options });
}

// -------------------------------------------------------------- searching

await check("a search from the form", async () => {
  const ctx = await context();
  const page = await ctx.newPage();
  await page.goto(`${BASE}/`);
  assert(await page.locator("h1").count() === 1, "the home page has one h1");
  const about = await page.locator(".about").innerText();
  assert(/documents in the local index/.test(about), `the home page says what is searched: ${about}`);
  await page.fill("#q", "create index concurrently !local");
  await page.press("#q", "Enter");
  await page.waitForSelector(".results .result");
  assert(page.url().includes("/search?q=create+index+concurrently"), page.url());
  const first = await page.locator(".result h2 a").first().getAttribute("href");
  assert(first.endsWith("sql-createindex.html"), `best result first: ${first}`);
  assert(await page.inputValue("#q") === "create index concurrently !local", "the box keeps the query as typed");
  await ctx.close();
});

async function slowSearch(javaScriptEnabled) {
  const ctx = await context({ javaScriptEnabled });
  const page = await ctx.newPage();
  const started = Date.now();
  let progressAt = 0;
  const navigation = page.goto(`${BASE}/search?q=vacuum+analyze`, { waitUntil: "commit" });
  await navigation;
  await page.waitForSelector("#progress li", { state: "visible" });
  progressAt = Date.now() - started;
  const asking = await page.locator("#progress").innerText();
  assert(/slowweb/.test(asking) && /local/.test(asking), `the progress list names the engines: ${asking}`);
  assert(await page.locator(".results-area").count() === 0, "no results before the slow engine answered");
  await page.waitForSelector(".results-area", { timeout: SLOW_MS + 10000 });
  const doneAt = Date.now() - started;
  assert(!(await page.locator("#progress").isVisible()), "the progress list is gone once the results are in");
  const report = await page.locator(".engines-report").innerText();
  assert(/2 engines answered/.test(report), `both engines answered: ${report}`);
  const slow = await page.locator(".engine", { hasText: "slowweb" }).textContent();
  assert(/ok/.test(slow), `the slow engine's status and time: ${slow}`);
  assert(progressAt < doneAt - SLOW_MS / 2, `progress (${progressAt} ms) came long before the results (${doneAt} ms)`);
  assert(doneAt >= SLOW_MS - 200, `the results waited for the slow engine (${doneAt} ms)`);
  await ctx.close();
  return { progressAt, doneAt };
}

await check("a slow engine: progress at once, results by the deadline", async () => {
  figures.with_js = await slowSearch(true);
  assert(figures.with_js.progressAt <= 1000, `progress list after ${figures.with_js.progressAt} ms`);
});

await check("the same without JavaScript", async () => {
  figures.without_js = await slowSearch(false);
  assert(figures.without_js.progressAt <= 1000, `progress list after ${figures.without_js.progressAt} ms`);
});

// ------------------------------------------------------ preferences, keys

await check("a preference survives a reload", async () => {
  const ctx = await context();
  const page = await ctx.newPage();
  await page.goto(`${BASE}/preferences`);
  await page.check("#theme-dark");
  await page.selectOption("#pref-per-page", "20");
  await page.uncheck("input[name=engine][value=slowweb]");
  await page.click("button[type=submit] >> text=Save");
  await page.waitForURL(/saved=1/);
  assert(/Preferences saved/.test(await page.locator(".notice").innerText()), "saved");
  const cookies = await ctx.cookies();
  const prefs = cookies.find((c) => c.name === "trawl_prefs");
  assert(prefs && prefs.httpOnly && prefs.sameSite === "Lax", `the cookie: ${JSON.stringify(prefs)}`);
  await page.goto(`${BASE}/search?q=table`);
  await page.reload();
  assert(await page.getAttribute("html", "data-theme") === "dark", "dark after a reload");
  assert(await page.locator(".result").count() === 20, "20 results a page");
  const report = await page.locator(".engines-report").textContent();
  assert(!/slowweb/.test(report), `the engine turned off is not asked: ${report}`);
  // The export address sets them in another browser.
  await page.goto(`${BASE}/preferences`);
  const url = await page.inputValue("#export-url");
  assert(url.includes("theme=dark") && url.includes("per_page=20") && url.includes("off=slowweb"), url);
  const other = await context();
  const elsewhere = await other.newPage();
  await elsewhere.goto(url);
  await elsewhere.click("button[type=submit] >> text=Save");
  await elsewhere.waitForURL(/saved=1/);
  await elsewhere.goto(`${BASE}/`);
  assert(await elsewhere.getAttribute("html", "data-theme") === "dark", "set elsewhere by the export address");
  await other.close();
  await ctx.close();
});

await check("a suggestion chosen with the keyboard", async () => {
  const ctx = await context();
  const page = await ctx.newPage();
  // A results page: the home page's box has focus already (autofocus).
  await page.goto(`${BASE}/search?q=table+!local`);
  assert(await page.evaluate(() => document.activeElement.id) !== "q", "the box starts unfocused");
  await page.keyboard.press("/");
  assert(await page.evaluate(() => document.activeElement.id) === "q", "/ focuses the box");
  // ... with its text selected, so that typing replaces it.
  await page.keyboard.type("asyn", { delay: 30 });
  await page.waitForSelector("#suggestions li");
  const offered = await page.locator("#suggestions li").allInnerTexts();
  assert(offered.includes("asyncio"), `suggestions: ${offered}`);
  assert(await page.getAttribute("#q", "aria-expanded") === "true", "the box says the list is open");
  const index = offered.indexOf("asyncio");
  for (let i = 0; i <= index; i++) await page.keyboard.press("ArrowDown");
  assert(await page.getAttribute("#q", "aria-activedescendant") === `suggestion-${index}`, "the chosen one is announced");
  await Promise.all([page.waitForURL(/q=asyncio/), page.keyboard.press("Enter")]);
  await page.waitForSelector(".results .result");
  assert(await page.inputValue("#q") === "asyncio", "searched for the suggestion");
  await ctx.close();
});

await check("bangs: one engine asked, an unknown one shown", async () => {
  const ctx = await context();
  const page = await ctx.newPage();
  await page.goto(`${BASE}/search?q=${encodeURIComponent("vacuum !slowweb")}`);
  await page.waitForSelector(".results-area", { timeout: SLOW_MS + 10000 });
  const report = await page.locator(".engines-report").innerText();
  assert(/1 engine answered/.test(report) && /slowweb/.test(await page.locator(".engines").textContent()), report);
  await page.goto(`${BASE}/search?q=${encodeURIComponent("vacuum !local !nope")}`);
  const notice = await page.locator(".notice").first().innerText();
  assert(/!nope/.test(notice), `the unknown bang is shown: ${notice}`);
  assert(await page.locator(".result").count() > 0, "and the search still runs");
  await ctx.close();
});

await check("OpenSearch: linked from the head, served with absolute URLs", async () => {
  const ctx = await context();
  const page = await ctx.newPage();
  await page.goto(`${BASE}/`);
  const href = await page.getAttribute('link[rel="search"]', "href");
  assert(href === "/opensearch.xml", href);
  const answer = await page.request.get(`${BASE}${href}`);
  assert(answer.headers()["content-type"].startsWith("application/opensearchdescription+xml"), "type");
  const xml = await answer.text();
  assert(xml.includes(`template="${BASE}/search?q={searchTerms}"`), xml);
  assert(xml.includes(`template="${BASE}/autocomplete?q={searchTerms}"`), xml);
  await ctx.close();
});

// ----------------------------------------------------------- look, reach

const PAGES = {
  home: "/",
  results: "/search?q=create+index+concurrently+!local",
  preferences: "/preferences",
  error: "/search?q=vacuum&page=0",
  empty: "/search?q=zzzzqqqq+!local",
};

await check("page weight (HTML + CSS + JS) under 30 KB", async () => {
  const ctx = await context();
  const page = await ctx.newPage();
  let bytes = 0;
  const sizes = {};
  page.on("response", async (response) => {
    const body = await response.body().catch(() => Buffer.alloc(0));
    const name = new URL(response.url()).pathname;
    sizes[name] = body.length;
  });
  await page.goto(`${BASE}${PAGES.results}`, { waitUntil: "networkidle" });
  for (const [name, size] of Object.entries(sizes)) {
    if (!name.endsWith(".svg")) bytes += size;
  }
  figures.page_weight = { total: bytes, ...sizes };
  assert(bytes < 30 * 1024, `${bytes} bytes: ${JSON.stringify(sizes)}`);
  await ctx.close();
});

await check("the form keeps its shape at 1280 and 390 px", async () => {
  for (const viewport of [WIDE, NARROW]) {
    const ctx = await context({ viewport });
    const page = await ctx.newPage();
    for (const [name, path] of Object.entries(PAGES)) {
      await page.goto(`${BASE}${path}`);
      for (const part of ["#q", "form.search select", "form.search button"]) {
        const box = await page.locator(part).boundingBox();
        assert(box.height < 60, `${name} at ${viewport.width} px: ${part} is ${box.height} px tall`);
      }
      const box = await page.locator("#q").boundingBox();
      assert(box.width >= Math.min(300, viewport.width - 60), `${name} at ${viewport.width} px: the box is ${box.width} px wide`);
    }
    await ctx.close();
  }
});

await check("readable from 390 px: nothing wider than the screen", async () => {
  const ctx = await context({ viewport: NARROW });
  const page = await ctx.newPage();
  for (const [name, path] of Object.entries(PAGES)) {
    await page.goto(`${BASE}${path}`);
    const border = await page.evaluate(() => getComputedStyle(document.body).borderTopStyle);
    assert(border === "none", `${name}: the page itself has no frame (${border})`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert(overflow <= 0, `${name}: ${overflow} px wider than the screen`);
    const button = await page.locator("form.search button").boundingBox();
    assert(button.x >= 0 && button.x + button.width <= NARROW.width, `${name}: the Search button is on screen`);
  }
  await ctx.close();
});

await check("keyboard: a skip link, then the results by Tab", async () => {
  const ctx = await context();
  const page = await ctx.newPage();
  await page.goto(`${BASE}${PAGES.results}`);
  await page.keyboard.press("Tab");
  const skip = await page.evaluate(() => document.activeElement.className);
  assert(skip === "skip", `the first Tab reaches the skip link: ${skip}`);
  await page.keyboard.press("Enter");
  await page.keyboard.press("Tab");
  let reached = "";
  for (let i = 0; i < 6 && !reached.includes("sql-createindex"); i++) {
    reached = await page.evaluate(() => document.activeElement.getAttribute("href") || "");
    if (!reached.includes("sql-createindex")) await page.keyboard.press("Tab");
  }
  assert(reached.includes("sql-createindex"), `the first result is reached by Tab: ${reached}`);
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert(outline !== "none", "focus is visible");
  await ctx.close();
});

for (const scheme of ["light", "dark"]) {
  await check(`axe-core: no serious or critical violation (${scheme})`, async () => {
    // The axe script is added by the test: the pages' policy would refuse it.
    const ctx = await context({ colorScheme: scheme, bypassCSP: true });
    const page = await ctx.newPage();
    const found = [];
    for (const [name, path] of Object.entries(PAGES)) {
      await page.goto(`${BASE}${path}`);
      await page.addScriptTag({ path: AXE });
      const result = await page.evaluate(async () => {
        // eslint-disable-next-line no-undef
        return await axe.run(document, { resultTypes: ["violations"] });
      });
      for (const v of result.violations) {
        if (v.impact === "serious" || v.impact === "critical") {
          found.push(`${name}: ${v.id} (${v.impact}) ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
        }
      }
    }
    assert(found.length === 0, found.join("\n"));
    await ctx.close();
  });
}

await check("screenshots at 1280 and 390 px, light and dark", async () => {
  for (const scheme of ["light", "dark"]) {
    for (const [width, viewport] of [["1280", WIDE], ["390", NARROW]]) {
      const ctx = await context({ viewport, colorScheme: scheme });
      const page = await ctx.newPage();
      for (const [name, path] of Object.entries(PAGES)) {
        await page.goto(`${BASE}${path}`);
        await page.screenshot({ path: `${SHOTS}/${name}-${width}-${scheme}.png`, fullPage: name !== "results" });
      }
      // The progress list, caught while the slow engine works.
      await page.goto(`${BASE}/search?q=vacuum+analyze`, { waitUntil: "commit" });
      await page.waitForSelector("#progress li", { state: "visible" });
      await page.screenshot({ path: `${SHOTS}/progress-${width}-${scheme}.png` });
      await ctx.close();
    }
  }
});

await browser.close();
writeFileSync(`${SHOTS}/figures.json`, JSON.stringify(figures, null, 2));
console.log(`figures ${JSON.stringify(figures)}`);
if (failures.length) {
  console.log(`${failures.length} check(s) failed: ${failures.join("; ")}`);
  process.exit(1);
}
console.log("every check passed");
