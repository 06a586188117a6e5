// Password recovery in a real browser (Debian's Chromium, driven by playwright-core), for the
// network tests:
//   node recupero.mjs BASE_URL A_LOGIN A_PASSWORD B_LOGIN B_PASSWORD NEW_PASSWORD SCREENSHOT_DIR
// Holder A sets B's address as the recovery address in the settings, logs out and asks for a
// link through "Password dimenticata?". Holder B (whose box takes ordinary mail as anomalia),
// in a browser context of their own, reloads the inbox until the recovery message arrives,
// opens it and reads the link in its text. A opens the link, is refused a weak password (the
// policy's messages read on the page), sets a good one, finds the link used up, is refused
// the old password and logs in with the new one.
// Saves a screenshot of each step in SCREENSHOT_DIR and prints one JSON line with what it saw.
import { launchChromium } from "./browser.mjs";

const [base, aLogin, aPassword, bLogin, bPassword, newPassword, shots] = process.argv.slice(2);
const SUBJECT = "Recupero della password";
const browser = await launchChromium();
const seen = {};
try {
  // The demo's certificate comes from the demo CA, which this browser profile does not know.
  const options = { ignoreHTTPSErrors: true, locale: "it-IT" };
  const a = await (await browser.newContext(options)).newPage();
  const b = await (await browser.newContext(options)).newPage();
  const shot = (page, name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
  const texts = async (page, selector) =>
    (await page.locator(selector).allTextContents()).map((t) => t.trim());
  const signIn = async (page, login, secret) => {
    await page.goto(`${base}/login`);
    await page.fill("#login-form input[name=login]", login);
    await page.fill("#login-form input[name=password]", secret);
    await page.click("[data-testid=login-submit]");
    await page.waitForLoadState();
  };

  // A names B's box as the recovery address.
  await signIn(a, aLogin, aPassword);
  await a.waitForSelector("[data-testid=message-list]");
  await a.click("[data-testid=nav-settings]");
  const form = a.locator("[data-testid=section-recupero] [data-testid=form-recupero]");
  await form.locator("input[name=recupero]").fill(bLogin);
  await form.locator("[data-testid=save-recupero]").click();
  await a.waitForSelector("[data-testid=saved-recupero]");
  seen.recoverySaved = (await a.textContent("[data-testid=saved-recupero]")).trim();
  seen.recoveryAddress = await form.locator("input[name=recupero]").inputValue();
  await shot(a, "1-indirizzo-di-recupero");

  // Out, and "Password dimenticata?" on the login page.
  await a.click("#logout");
  await a.waitForSelector("#login-form");
  await a.click("[data-testid=forgot-password]");
  await a.waitForSelector("[data-testid=form-recupero]");
  seen.recoveryUrl = new URL(a.url()).pathname;
  await a.fill("#indirizzo", aLogin);
  await a.click("[data-testid=recovery-submit]");
  await a.waitForSelector("[data-testid=recovery-sent]");
  seen.recoverySent = (await a.textContent("[data-testid=recovery-sent]")).trim();
  await shot(a, "2-collegamento-chiesto");

  // B waits for the message in their inbox.
  await signIn(b, bLogin, bPassword);
  await b.waitForSelector("[data-testid=message-list]");
  const row = b.locator("[data-testid=message-row]", { hasText: SUBJECT });
  const deadline = Date.now() + 60_000;
  while ((await row.count()) === 0) {
    if (Date.now() > deadline) throw new Error(`no "${SUBJECT}" in ${bLogin}'s inbox`);
    await b.waitForTimeout(500);
    await b.reload();
  }
  seen.rowBadge = await row.first().locator("[data-testid=badge]").getAttribute("data-kind");
  seen.rowSubject = (await row.first().locator("[data-testid=message-link]").textContent()).trim();
  await shot(b, "3-posta-di-b");
  await row.first().locator("[data-testid=message-link]").click();
  await b.waitForSelector("[data-testid=message]");
  seen.messageKind = await b.getAttribute("[data-testid=message]", "data-kind");
  seen.notCertified = (await b.textContent("[data-testid=not-certified]")).trim();
  seen.originalSubject = (await b.textContent("[data-testid=original-subject]")).trim();
  seen.originalTo = (await b.textContent("[data-testid=original-to]")).trim();
  const body = await b.textContent("[data-testid=text-body]");
  seen.link = body.match(/https:\/\/\S+\/recupero\/nuova\?token=[0-9a-f]+/)?.[0] ?? null;
  await shot(b, "4-messaggio-di-recupero");
  if (!seen.link) throw new Error(`no recovery link in the message: ${body}`);

  // A follows the link: a weak password, then a good one.
  const setPassword = async (next) => {
    await a.fill("input[name=nuova]", next);
    await a.fill("input[name=ripeti]", next);
    await a.click("[data-testid=new-password-submit]");
    await a.waitForLoadState();
  };
  await a.goto(seen.link);
  await a.waitForSelector("[data-testid=form-nuova]");
  seen.rules = await texts(a, "[data-testid=password-rules] li");
  await setPassword("debole");
  seen.weak = await texts(a, "[data-testid=error-nuova]");
  await shot(a, "5-password-debole");
  await setPassword(newPassword);
  await a.waitForSelector("[data-testid=new-password-done]");
  seen.done = (await a.textContent("[data-testid=new-password-done]")).trim();
  await shot(a, "6-password-reimpostata");

  // The link works once.
  const again = await a.goto(seen.link);
  seen.reusedStatus = again.status();
  seen.reused = (await a.textContent("[data-testid=link-invalid]")).trim();
  await shot(a, "7-collegamento-usato");

  await signIn(a, aLogin, aPassword);
  seen.oldPasswordRefused = (await a.textContent("[data-testid=login-error]")).trim();
  await signIn(a, aLogin, newPassword);
  await a.waitForSelector("[data-testid=message-list]");
  seen.loggedIn = (await a.textContent("[data-testid=mailbox]")).trim();
  await shot(a, "8-accesso-con-nuova-password");
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
