// The administration panel in a real browser (Debian's Chromium, driven by playwright-core):
// `node amministrazione.mjs BASE_URL PM_LOGIN PM_PASSWORD ADMIN_LOGIN ADMIN_PASSWORD NEW_ADDRESS CSV_FILE SCREENSHOT_DIR`.
// The postmaster logs in at the panel, creates NEW_ADDRESS, resets its password (the new one
// then opens the webmail in a second browser context), imports CSV_FILE and watches the
// progress page turn into the per-row report; then the provider admin logs in and looks at
// the traffic chart. Saves a screenshot of each step and prints one JSON line of what it saw.
import { launchChromium } from "./browser.mjs";

const [base, pmLogin, pmPassword, adminLogin, adminPassword, address, csv, shots] =
  process.argv.slice(2);
const browser = await launchChromium();
const seen = {};
const text = async (locator) => (await locator.textContent()).trim();
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, locale: "it-IT" });
  const page = await context.newPage();
  const shot = (name, p = page) => p.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
  const adminLoginAs = async (login, password) => {
    await page.goto(`${base}/amministrazione`);
    seen.loginPage ??= new URL(page.url()).pathname;
    await page.fill("#login-form input[name=login]", login);
    await page.fill("#login-form input[name=password]", password);
    await page.click("[data-testid=login-submit]");
  };

  // The postmaster lands on its domain's boxes.
  await adminLoginAs(pmLogin, pmPassword);
  await page.waitForSelector("[data-testid=admin-domain]");
  seen.domain = await page.getAttribute("[data-testid=admin-domain]", "data-domain");
  seen.boxesBefore = await page.locator("[data-testid=mailbox-row]").count();
  await shot("1-caselle-del-dominio");

  // A new active box, with a generated password shown once.
  await page.fill("[data-testid=new-address]", address);
  await page.selectOption("[data-testid=new-state]", "attiva");
  await page.click("[data-testid=create]");
  await page.waitForSelector("[data-testid=admin-outcome]");
  seen.createdPassword = await text(page.locator("[data-testid=new-password]"));
  await shot("2-casella-creata");

  // Its password reset from its row.
  await page.click("[data-testid=back]");
  const row = page.locator(`[data-testid=mailbox-row][data-address="${address}"]`);
  seen.createdState = await row.getAttribute("data-state");
  await shot("3-elenco-con-la-nuova-casella");
  await row.locator("[data-testid=reset-password]").click();
  await page.waitForSelector("[data-testid=admin-outcome]");
  seen.resetPassword = await text(page.locator("[data-testid=new-password]"));
  await shot("4-password-reimpostata");

  // The new password opens the webmail.
  const holder = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
  await holder.goto(`${base}/login`);
  await holder.fill("#login-form input[name=login]", address);
  await holder.fill("#login-form input[name=password]", seen.resetPassword);
  await holder.click("[data-testid=login-submit]");
  await holder.waitForSelector("[data-testid=message-list]");
  seen.webmailMailbox = await text(holder.locator("[data-testid=mailbox]"));
  await shot("5-webmail-con-la-nuova-password", holder);

  // The bulk import: progress first, then the report.
  await page.click("[data-testid=back]");
  await page.setInputFiles("[data-testid=import-file]", csv);
  await page.click("[data-testid=import-submit]");
  await page.waitForSelector("[data-testid=import-progress], [data-testid=import-report]");
  seen.progressSeen = (await page.locator("[data-testid=import-progress]").count()) > 0;
  if (seen.progressSeen) {
    seen.progressMax = await page.getAttribute("progress", "max");
    await shot("6-importazione-in-corso");
  }
  // The page refreshes itself every 2 seconds until the report is there.
  await page.waitForSelector("[data-testid=import-report]", { timeout: 120000 });
  seen.report = [];
  for (const r of await page.locator("[data-testid=import-row]").all()) {
    seen.report.push({
      row: Number(await r.getAttribute("data-row")),
      outcome: await r.getAttribute("data-outcome"),
      address: await text(r.locator("[data-testid=import-address]")),
      detail: await text(r.locator("[data-testid=import-password], [data-testid=import-reason]")),
    });
  }
  await shot("7-resoconto-importazione");

  // The provider admin and the traffic.
  await page.click("#logout");
  await adminLoginAs(adminLogin, adminPassword);
  await page.waitForSelector("[data-testid=traffic-chart]");
  seen.bars = await page.locator("[data-testid=traffic-chart] [data-testid=bar]").count();
  seen.tallBars = await page
    .locator("[data-testid=traffic-chart] [data-testid=bar]:not([height='0'])")
    .count();
  seen.totalMessages = Number(await text(page.locator("[data-testid=total-messaggi]")));
  seen.totalReceipts = Number(await text(page.locator("[data-testid=total-ricevute]")));
  seen.queueDepth = Number(await text(page.locator("[data-testid=queue-depth]")));
  seen.domains = await page.locator("[data-testid=domain-row]").count();
  await shot("8-traffico");
  await page.click("[data-testid=language-switch]");
  await page.waitForSelector("[data-testid=traffic-chart]");
  seen.englishTitle = await text(page.locator("[data-testid=traffic] h2"));
  await shot("9-english");
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
