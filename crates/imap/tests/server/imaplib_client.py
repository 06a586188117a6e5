"""A real IMAP client for the tests: Python's imaplib reads a PEC box.

Usage: imaplib_client.py PORT TLS_PORT CAFILE USER PASSWORD MESSAGE_FILE
PORT offers STARTTLS, TLS_PORT is implicit TLS; certificates are verified against CAFILE for
"localhost". The session lists folders, selects INBOX, finds the receipts by header, reads,
flags, copies, moves, expunges, appends MESSAGE_FILE to Drafts, and idles until a message
arrives: it prints "IDLING" on a line of its own when the server is waiting, and the test
then delivers a message. At the end it prints one JSON object with what the server said.
"""

import imaplib
import json
import ssl
import sys
import time


def ok(answer):
    typ, data = answer
    if typ != "OK":
        raise SystemExit("unexpected answer: %r %r" % (typ, data))
    return data


def text(data):
    return [d.decode() if isinstance(d, bytes) else d for d in data]


def main():
    port, tls_port, cafile, user, password, message_file = sys.argv[1:]
    context = ssl.create_default_context(cafile=cafile)
    result = {}

    imap = imaplib.IMAP4("localhost", int(port), timeout=20)
    result["plain_capabilities"] = sorted(imap.capabilities)
    imap.starttls(ssl_context=context)
    result["tls_capabilities"] = sorted(imap.capabilities)
    ok(imap.login(user, password))
    result["folders"] = text(ok(imap.list()))
    result["exists"] = text(ok(imap.select("INBOX")))
    result["receipts"] = text(ok(imap.search(None, "HEADER", "X-Ricevuta", "accettazione")))
    data = ok(imap.fetch("2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
    result["subject"] = data[0][1].decode()
    data = ok(imap.fetch("1", "(RFC822 FLAGS)"))
    result["size_read"] = len(data[0][1])
    result["seen"] = text(ok(imap.search(None, "SEEN")))
    result["flagged"] = text(ok(imap.store("1", "+FLAGS", "\\Flagged")))
    result["copy"] = text(ok(imap.copy("1", "Trash")))
    result["move"] = text(ok(imap.uid("MOVE", "3", "Trash")))
    ok(imap.store("1", "+FLAGS.SILENT", "\\Deleted"))
    result["expunged"] = text(ok(imap.expunge()))
    result["left"] = text(ok(imap.uid("SEARCH", None, "ALL")))
    with open(message_file, "rb") as f:
        message = f.read()
    date = imaplib.Time2Internaldate(time.time())
    result["append"] = text(ok(imap.append("Drafts", "(\\Draft)", date, message)))
    result["status"] = text(ok(imap.status("Drafts", "(MESSAGES UIDNEXT UNSEEN)")))

    # IDLE (imaplib before Python 3.14 has no idle(): by hand, on its connection).
    tag = imap._new_tag()
    imap.send(tag + b" IDLE\r\n")
    result["idle_continuation"] = imap.readline().decode().strip()
    print("IDLING", flush=True)
    result["idle_news"] = imap.readline().decode().strip()
    imap.send(b"DONE\r\n")
    while True:
        line = imap.readline()
        if line.startswith(tag):
            result["idle_done"] = line.decode().strip()
            break
    result["logout"] = imap.logout()[0]

    imap = imaplib.IMAP4_SSL("localhost", int(tls_port), ssl_context=context, timeout=20)
    ok(imap.login(user, password))
    result["tls_exists"] = text(ok(imap.select("INBOX", readonly=True)))
    result["tls_uids"] = text(ok(imap.uid("SEARCH", None, "ALL")))
    imap.logout()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
