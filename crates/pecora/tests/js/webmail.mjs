// The webmail in a real browser (Debian's Chromium, driven by playwright-core), for the
// network tests: `node webmail.mjs BASE_URL LOGIN PASSWORD SUBJECT SCREENSHOT_DIR`.
// Tries a wrong password first (the page must say so), logs in, finds the PEC with SUBJECT in
// INBOX by its badge, opens it and reads the certification banner, then switches to English.
// Saves a screenshot of each step in SCREENSHOT_DIR and prints one JSON line with what it saw.
import { launchChromium } from "./browser.mjs";

const [base, login, password, subject, shots] = process.argv.slice(2);
const browser = await launchChromium();
const seen = {};
try {
  // The demo's certificate comes from the demo CA, which this browser profile does not know.
  const context = await browser.newContext({ ignoreHTTPSErrors: true, locale: "it-IT" });
  const page = await context.newPage();
  const shot = (name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });

  await page.goto(`${base}/login`);
  await page.fill("#login-form input[name=login]", login);
  await page.fill("#login-form input[name=password]", "sbagliata-123");
  await page.click("[data-testid=login-submit]");
  seen.wrongPassword = (await page.textContent("[data-testid=login-error]")).trim();
  await shot("1-login-errato");

  await page.fill("#login-form input[name=login]", login);
  await page.fill("#login-form input[name=password]", password);
  await page.click("[data-testid=login-submit]");
  await page.waitForSelector("[data-testid=message-list]");
  seen.mailbox = (await page.textContent("[data-testid=mailbox]")).trim();
  const row = page.locator("[data-testid=message-row]", { hasText: subject });
  seen.badge = await row.locator("[data-testid=badge]").getAttribute("data-kind");
  await shot("2-posta-in-arrivo");

  await row.locator("[data-testid=message-link]").click();
  const banner = page.locator("[data-testid=certification-banner]");
  await banner.waitFor();
  seen.bannerValid = await banner.getAttribute("data-valid");
  seen.signedBy = (await page.textContent("[data-testid=signed-by]")).trim();
  seen.identificativo = (await page.textContent("[data-testid=identificativo]")).trim();
  seen.certifiedSender = (await page.textContent("[data-testid=certified-sender]")).trim();
  seen.originalFrom = (await page.textContent("[data-testid=original-from]")).trim();
  await shot("3-busta-con-banner");

  await page.click("[data-testid=language-switch]");
  await banner.waitFor();
  seen.englishSignature = (await page.textContent("[data-testid=signature-ok]")).trim();
  await shot("4-english");
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
