// Writing and following a PEC in a real browser (Debian's Chromium, playwright-core), for
// the network tests: `node scrittura.mjs BASE_SENDER LOGIN PASSWORD BASE_RECIPIENT
// RECIPIENT RECIPIENT_PASSWORD SCREENSHOT_DIR`. Composes a PEC with an attachment (a file
// written here), waits on the timeline for accettazione and consegna, downloads the
// bundle, then reads the busta as the recipient. Prints one JSON line of what it saw.
import { launchChromium } from "./browser.mjs";
import { writeFileSync } from "node:fs";

const [base, login, password, base2, recipient, password2, shots] = process.argv.slice(2);
const browser = await launchChromium();
const seen = {};
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true, locale: "it-IT" });
  const page = await context.newPage();
  const shot = (name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
  const entra = async (url, who, pw) => {
    await page.goto(`${url}/login`);
    await page.fill("#login-form input[name=login]", who);
    await page.fill("#login-form input[name=password]", pw);
    await page.click("[data-testid=login-submit]");
    await page.waitForSelector("[data-testid=message-list]");
  };

  await entra(base, login, password);
  await page.goto(`${base}/posta/scrivi`);
  const file = `${shots}/relazione.txt`;
  writeFileSync(file, "Relazione trimestrale\n");
  await page.fill("[data-testid=compose-to]", recipient);
  await page.fill("[data-testid=compose-subject]", "Relazione dal browser");
  await page.fill("[data-testid=compose-text]", "In allegato la relazione.");
  await page.setInputFiles("[data-testid=compose-attachments]", file);
  await shot("1-scrivi");
  await page.click("[data-testid=compose-send]");
  await page.waitForSelector("[data-testid=timeline]");
  seen.accettazione = await page.locator("[data-testid=timeline-event][data-kind=accettazione]").count();
  await shot("2-accettazione");
  // The page refreshes itself while pending; wait for the consegna.
  await page.waitForSelector(`[data-testid=timeline-recipient][data-recipient="${recipient}"] [data-testid=recipient-outcome][data-outcome=consegnata]`, { timeout: 60000 });
  seen.outcome = "consegnata";
  seen.kinds = await page.locator("[data-testid=timeline-recipient] [data-testid=timeline-event]").evaluateAll((els) => els.map((e) => e.dataset.kind));
  await shot("3-consegna");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("[data-testid=download-bundle]")]);
  seen.bundle = download.suggestedFilename();
  await download.saveAs(`${shots}/fascicolo.zip`);

  await context.clearCookies();
  await entra(base2, recipient, password2);
  await page.locator("[data-testid=message-row]", { hasText: "Relazione dal browser" }).locator("[data-testid=message-link]").first().click();
  await page.waitForSelector("[data-testid=certification-banner]");
  seen.valid = await page.getAttribute("[data-testid=certification-banner]", "data-valid");
  seen.attachments = await page.locator("[data-testid=attachment]").allTextContents();
  await shot("4-busta");
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
