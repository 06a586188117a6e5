// The holder's settings and the activation of a new box in a real browser (Debian's
// Chromium, driven by playwright-core), for the network tests:
//   node impostazioni.mjs settings BASE_URL LOGIN PASSWORD NEW_PASSWORD FORWARD_TO SCREENSHOT_DIR
// logs in, changes the password with a too-short one and a letters-only one (reading the
// messages shown), then a good one; logs out and in with the new password; sets ordinary
// mail to be forwarded to FORWARD_TO; switches to English.
//   node impostazioni.mjs activation BASE_URL LOGIN INITIAL_PASSWORD NEW_PASSWORD - SCREENSHOT_DIR
// logs in to a box awaiting activation, is sent to the activation page, fills in the
// holder's details with a weak password (refused, the details kept), then corrects the
// surname, gives a good password and lands in the mail.
// Saves a screenshot of each step in SCREENSHOT_DIR and prints one JSON line with what it saw.
import { launchChromium } from "./browser.mjs";

const [mode, base, login, password, newPassword, forwardTo, shots] = process.argv.slice(2);
const browser = await launchChromium();
const seen = {};
try {
  // The demo's certificate comes from the demo CA, which this browser profile does not know.
  const context = await browser.newContext({ ignoreHTTPSErrors: true, locale: "it-IT" });
  const page = await context.newPage();
  const shot = (name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
  const texts = async (selector) =>
    (await page.locator(selector).allTextContents()).map((t) => t.trim());

  const signIn = async (secret) => {
    await page.goto(`${base}/login`);
    await page.fill("#login-form input[name=login]", login);
    await page.fill("#login-form input[name=password]", secret);
    await page.click("[data-testid=login-submit]");
  };

  if (mode === "settings") {
    await signIn(password);
    await page.waitForSelector("[data-testid=message-list]");
    await page.click("[data-testid=nav-settings]");
    await page.waitForSelector("[data-testid=settings]");
    seen.rules = await texts("[data-testid=section-password] [data-testid=password-rules] li");
    await shot("1-impostazioni");

    const changePassword = async (next) => {
      const form = page.locator("[data-testid=form-password]");
      await form.locator("input[name=attuale]").fill(password);
      await form.locator("input[name=nuova]").fill(next);
      await form.locator("input[name=ripeti]").fill(next);
      await form.locator("[data-testid=save-password]").click();
      await page.waitForLoadState();
    };
    await changePassword("corta1");
    seen.tooShort = await texts("[data-testid=error-nuova]");
    await shot("2-password-corta");
    await changePassword("soltantolettere");
    seen.lettersOnly = await texts("[data-testid=error-nuova]");
    await shot("3-password-senza-cifre");
    await changePassword(newPassword);
    seen.passwordSaved = (await page.textContent("[data-testid=saved-password]")).trim();
    await shot("4-password-cambiata");

    await page.click("#logout");
    await page.waitForSelector("#login-form");
    seen.forgotLink = (await page.textContent("[data-testid=forgot-password]")).trim();
    await signIn(password);
    seen.oldPasswordRefused = (await page.textContent("[data-testid=login-error]")).trim();
    await signIn(newPassword);
    await page.waitForSelector("[data-testid=message-list]");
    seen.loggedInAgain = (await page.textContent("[data-testid=mailbox]")).trim();
    await shot("5-accesso-con-nuova-password");

    await page.goto(`${base}/impostazioni`);
    const ordinary = page.locator("[data-testid=form-ordinaria]");
    await ordinary.locator("[data-testid=politica-inoltra]").check();
    await ordinary.locator("input[name=inoltra_a]").fill(forwardTo);
    await ordinary.locator("[data-testid=save-ordinaria]").click();
    await page.waitForSelector("[data-testid=saved-ordinaria]");
    seen.ordinarySaved = (await page.textContent("[data-testid=saved-ordinaria]")).trim();
    seen.forwardChecked = await ordinary.locator("[data-testid=politica-inoltra]").isChecked();
    seen.forwardTo = await ordinary.locator("input[name=inoltra_a]").inputValue();
    await shot("6-posta-ordinaria-inoltrata");

    await page.click("[data-testid=language-switch]");
    await page.waitForSelector("[data-testid=settings]");
    seen.englishTitle = (await page.textContent("[data-testid=settings] h1")).trim();
    seen.englishSections = await texts("[data-testid=settings] h2");
    await shot("7-english");
  } else if (mode === "activation") {
    await signIn(password);
    await page.waitForSelector("[data-testid=activation]");
    seen.url = new URL(page.url()).pathname;
    seen.nome = await page.inputValue("input[name=nome]");
    seen.deadline = (await page.textContent("[data-testid=activation-deadline]")).trim();
    await shot("1-attivazione");

    // The details are required (the browser checks them before the server does).
    await page.fill("input[name=nome]", "Giulia");
    await page.fill("input[name=cognome]", "Bianki");
    await page.fill("input[name=email]", "giulia.bianchi@posta.example");
    await page.fill("input[name=nuova]", "debole");
    await page.fill("input[name=ripeti]", "debole");
    await page.click("[data-testid=activate]");
    await page.waitForSelector("[data-testid=error-nuova]");
    seen.weak = await texts("[data-testid=error-nuova]");
    await shot("2-password-debole");

    seen.keptSurname = await page.inputValue("input[name=cognome]");
    await page.fill("input[name=cognome]", "Bianchi");
    await page.fill("input[name=nuova]", newPassword);
    await page.fill("input[name=ripeti]", newPassword);
    await page.click("[data-testid=activate]");
    await page.waitForSelector("[data-testid=message-list]");
    seen.landed = new URL(page.url()).pathname;
    seen.mailbox = (await page.textContent("[data-testid=mailbox]")).trim();
    await shot("3-casella-attiva");
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
