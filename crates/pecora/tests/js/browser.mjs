// Debian's Chromium for the web tests' scripts, driven by playwright-core: the one place that
// says how it is launched on a closed network (no background fetches, no QUIC, no sandbox as
// root). `CHROMIUM` overrides the binary.
import { chromium } from "playwright-core";

export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
