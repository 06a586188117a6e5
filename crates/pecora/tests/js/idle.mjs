// A real IMAP client (imapflow) idling on INBOX until a message with a given X-Ricevuta header
// arrives, for the network tests: `node idle.mjs PORT USER PASSWORD CA_FILE X_RICEVUTA`.
// Prints one JSON line {"ready": ...} once INBOX is open and imapflow idles on it (it enters
// IDLE by itself when it has nothing else to do, here after 100 ms), then one with the awaited
// message's UID, subject and X-Ricevuta, and exits; exits 2 after 60 s without it.
import { readFileSync } from "node:fs";
import { ImapFlow } from "imapflow";

const [port, user, pass, caFile, want] = process.argv.slice(2);
const client = new ImapFlow({
  host: "127.0.0.1",
  port: Number(port),
  secure: true,
  auth: { user, pass },
  tls: { ca: [readFileSync(caFile)], servername: "localhost" },
  logger: false,
  autoIdleDelay: 100,
});

const timeout = setTimeout(() => {
  console.log(JSON.stringify({ error: `no ${want} within 60 s` }));
  process.exit(2);
}, 60_000);

function xRicevuta(headers) {
  const m = /^x-ricevuta:\s*(.*)$/im.exec(headers.toString());
  return m ? m[1].trim() : null;
}

await client.connect();
const mailbox = await client.mailboxOpen("INBOX");
let seen = mailbox.uidNext - 1;
const found = new Promise((resolve, reject) => {
  client.on("exists", async () => {
    try {
      const range = `${seen + 1}:*`;
      for await (const msg of client.fetch(range, { uid: true, envelope: true, headers: ["x-ricevuta"] }, { uid: true })) {
        if (msg.uid <= seen) continue;
        seen = msg.uid;
        if (xRicevuta(msg.headers) === want) {
          resolve({ uid: msg.uid, subject: msg.envelope.subject, xRicevuta: want });
        }
      }
    } catch (e) {
      reject(e);
    }
  });
});
await new Promise((r) => setTimeout(r, 500));
console.log(JSON.stringify({ ready: true, exists: mailbox.exists, idling: client.idling }));
console.log(JSON.stringify(await found));
clearTimeout(timeout);
await client.logout();
