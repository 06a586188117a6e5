// The holder's API keys page in a real browser (Debian's Chromium, driven by playwright-core),
// for the network tests; the test uses the key with curl between the two runs:
//   node chiavi.mjs create BASE_URL LOGIN PASSWORD LABEL SCREENSHOT_DIR
// logs in, opens /impostazioni/api, is refused a blank label, creates a key with LABEL and
// reads it (shown once: gone when the page is opened again), with the id of its row.
//   node chiavi.mjs revoke BASE_URL LOGIN PASSWORD ID SCREENSHOT_DIR
// logs in, opens /impostazioni/api and revokes key ID, reading the notice and the row's state.
// Saves a screenshot of each step in SCREENSHOT_DIR and prints one JSON line with what it saw.
import { launchChromium } from "./browser.mjs";

const [mode, base, login, password, arg, shots] = process.argv.slice(2);
const browser = await launchChromium();
const seen = {};
try {
  // The demo's certificate comes from the demo CA, which this browser profile does not know.
  const context = await browser.newContext({ ignoreHTTPSErrors: true, locale: "it-IT" });
  const page = await context.newPage();
  const shot = (name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
  const cells = async (row) =>
    (await row.locator("td").allTextContents()).map((t) => t.trim());

  await page.goto(`${base}/login`);
  await page.fill("#login-form input[name=login]", login);
  await page.fill("#login-form input[name=password]", password);
  await page.click("[data-testid=login-submit]");
  await page.waitForSelector("[data-testid=message-list]");
  await page.goto(`${base}/impostazioni/api`);
  await page.waitForSelector("[data-testid=api-keys]");
  seen.title = (await page.textContent("[data-testid=api-keys] h1")).trim();

  if (mode === "create") {
    seen.emptyBefore = await page.locator("[data-testid=api-keys-empty]").isVisible();
    await shot("1-nessuna-chiave");

    // Blanks pass the browser's `required` and are the server's to refuse.
    await page.fill("#etichetta", "   ");
    await page.click("[data-testid=api-key-create]");
    await page.waitForSelector("[data-testid=api-key-error]");
    seen.blankRefused = (await page.textContent("[data-testid=api-key-error]")).trim();
    seen.blankMadeKey = await page.locator("[data-testid=api-key-new]").count();
    await shot("2-etichetta-vuota");

    await page.fill("#etichetta", arg);
    await page.click("[data-testid=api-key-create]");
    await page.waitForSelector("[data-testid=api-key-new]");
    seen.key = (await page.textContent("[data-testid=api-key-value]")).trim();
    const row = page.locator("tr[data-testid^=api-key-]", { hasText: arg });
    seen.id = (await row.getAttribute("data-testid")).replace("api-key-", "");
    seen.row = await cells(row);
    await shot("3-chiave-creata");

    await page.goto(`${base}/impostazioni/api`);
    await page.waitForSelector("[data-testid=api-keys-table]");
    seen.shownAgain = (await page.content()).includes(seen.key);
    seen.newSectionAgain = await page.locator("[data-testid=api-key-new]").count();
    await shot("4-chiave-non-piu-mostrata");
  } else if (mode === "revoke") {
    const row = page.locator(`[data-testid=api-key-${arg}]`);
    await row.locator(`[data-testid=api-key-revoke-${arg}]`).click();
    await page.waitForSelector("[data-testid=api-key-notice]");
    seen.url = new URL(page.url()).pathname;
    seen.notice = (await page.textContent("[data-testid=api-key-notice]")).trim();
    seen.row = await cells(row);
    seen.revokeButtons = await row.locator("button").count();
    await shot("5-chiave-revocata");
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
