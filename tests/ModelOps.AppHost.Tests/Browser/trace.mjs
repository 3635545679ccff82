// Opens the Aspire dashboard in Debian's headless Chromium (driven by playwright-core), logs in with the browser token,
// finds a trace in the Traces view by its name and waits until it holds spans of every resource and span name asked
// for; then saves a screenshot of the trace and prints what it found as JSON. Exit code 0 when found, 1 when not.
//
//   node trace.mjs <dashboard url> <browser token> <trace name filter> <resources,comma-separated> <span names,comma-separated> <screenshot.png> [timeout s]
import { pathToFileURL } from 'node:url';

// playwright-core as scripts/bootstrap.sh installs it (scripts/node_modules), named by PLAYWRIGHT_CORE.
const { chromium } = await import(process.env.PLAYWRIGHT_CORE ? pathToFileURL(process.env.PLAYWRIGHT_CORE).href : 'playwright-core');

const [dashboard, token, filter, resourcesArg, spansArg, screenshot, timeoutArg] = process.argv.slice(2);
const resources = resourcesArg.split(',').filter(Boolean);
const spans = spansArg.split(',').filter(Boolean);
const deadline = Date.now() + 1000 * Number(timeoutArg ?? 60);

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
let result = { found: false };
try {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  await page.goto(`${dashboard}/login?t=${token}`);
  while (Date.now() < deadline && !result.found) {
    await page.goto(`${dashboard}/traces`);
    await page.fill('input[name="traces-search"]', filter);
    const row = page.getByText(filter, { exact: false }).first();
    try {
      await row.waitFor({ timeout: 5000 });
    } catch {
      continue;
    }
    // On a loaded machine the click may land while the list re-renders, or the page may take long to open: try
    // again until the deadline rather than give up at the first miss.
    try {
      await row.click();
      await page.waitForURL(/\/traces\/detail\//, { timeout: 10000 });
    } catch {
      continue;
    }
    // Spans keep arriving for a moment (the ledger sequences in batches): look again until all are there.
    for (let attempt = 0; attempt < 10 && !result.found; attempt++) {
      await page.waitForTimeout(1000);
      const text = await page.innerText('main');
      const missingResources = resources.filter(r => !text.includes(r));
      const missingSpans = spans.filter(s => !text.includes(s));
      const total = /Total spans\s+(\d+)/.exec(text)?.[1];
      result = { found: missingResources.length === 0 && missingSpans.length === 0, url: page.url(), totalSpans: Number(total ?? 0), missingResources, missingSpans };
      if (!result.found) {
        await page.reload();
      }
    }
  }
  await page.screenshot({ path: screenshot, fullPage: true });
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result.found ? 0 : 1);
