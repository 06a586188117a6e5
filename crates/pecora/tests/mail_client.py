"""Real mail-access clients (Python's imaplib and poplib) for pecora's network tests.

Subcommands print one JSON object:
  imap-dump  logs in, lists every folder, and writes each message (RFC822) to OUT/<folder>/<uid>.eml;
             reports folders with their LIST attributes, UIDVALIDITY and messages (uid, flags,
             X-Ricevuta / X-Trasporto headers, file).
  imap-run   logs in, selects FOLDER, runs each --cmd (an imaplib UID or plain command, written
             as space-separated words) and reports each result's status and data; never raises
             for NO/BAD answers.
  pop3-dump  logs in, reports STAT/LIST/UIDL and writes every message (RETR) to OUT/<n>.eml;
             with --dele N... marks those for deletion before QUIT.
The TLS certificate is checked against --ca; the host name is "localhost".
"""
import argparse
import email
import imaplib
import json
import os
import poplib
import re
import shlex
import ssl
import sys


def context(ca):
    ctx = ssl.create_default_context(cafile=ca)
    return ctx


def imap_login(a):
    ctx = context(a.ca)
    if a.mode == "tls":
        m = imaplib.IMAP4_SSL("localhost", a.port, ssl_context=ctx, timeout=30)
    else:
        m = imaplib.IMAP4("localhost", a.port, timeout=30)
        m.starttls(ssl_context=ctx)
    m.login(a.user, a.password)
    return m


LIST_RE = re.compile(rb'\((?P<flags>[^)]*)\) (?P<delim>"[^"]*"|NIL) (?P<name>.+)')


def unquote(name):
    name = name.decode()
    if name.startswith('"') and name.endswith('"'):
        name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return name


def imap_dump(a):
    m = imap_login(a)
    typ, listing = m.list()
    folders = []
    for line in listing:
        got = LIST_RE.match(line)
        flags = got.group("flags").decode().split()
        name = unquote(got.group("name"))
        entry = {"name": name, "attributes": flags, "messages": []}
        folders.append(entry)
        if "\\Noselect" in flags:
            continue
        typ, _ = m.select('"%s"' % name, readonly=True)
        entry["select"] = typ
        entry["uidvalidity"] = int(m.untagged_responses.get("UIDVALIDITY", [b"0"])[-1])
        typ, data = m.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])")
        for i, item in enumerate(data):
            if not isinstance(item, tuple):
                continue
            meta, body = item
            # Items after the literal arrive as the next element, e.g. b' FLAGS (\\Seen))'.
            after = data[i + 1] if i + 1 < len(data) and isinstance(data[i + 1], bytes) else b""
            meta = meta + b" " + after
            uid = int(re.search(rb"UID (\d+)", meta).group(1))
            flags = re.search(rb"FLAGS \(([^)]*)\)", meta).group(1).decode().split()
            folder_dir = os.path.join(a.out, name.replace("/", "_"))
            os.makedirs(folder_dir, exist_ok=True)
            path = os.path.join(folder_dir, "%d.eml" % uid)
            with open(path, "wb") as f:
                f.write(body)
            parsed = email.message_from_bytes(body)
            entry["messages"].append(
                {
                    "uid": uid,
                    "flags": flags,
                    "file": path,
                    "x_ricevuta": parsed.get("X-Ricevuta"),
                    "x_trasporto": parsed.get("X-Trasporto"),
                    "subject": parsed.get("Subject"),
                }
            )
        m.close()
    m.logout()
    return {"folders": folders}


def imap_run(a):
    m = imap_login(a)
    results = []
    if a.folder:
        typ, data = m.select('"%s"' % a.folder)
        results.append({"cmd": "SELECT", "status": typ, "data": [str(d) for d in data]})
    for cmd in a.cmd:
        # Quotes group words; backslashes stay (they are part of flags like \\Deleted).
        lexer = shlex.shlex(cmd, posix=True)
        lexer.whitespace_split = True
        lexer.escape = ""
        words = list(lexer)
        try:
            if words[0].upper() == "UID":
                typ, data = m.uid(*words[1:])
            else:
                typ, data = getattr(m, words[0].lower())(*words[1:])
        except imaplib.IMAP4.error as e:
            typ, data = "ERROR", [str(e)]
        results.append(
            {"cmd": cmd, "status": typ, "data": [d.decode(errors="replace") if isinstance(d, bytes) else repr(d) for d in data]}
        )
    m.logout()
    return {"results": results}


def pop3_dump(a):
    ctx = context(a.ca)
    if a.mode == "tls":
        p = poplib.POP3_SSL("localhost", a.port, context=ctx, timeout=30)
    else:
        p = poplib.POP3("localhost", a.port, timeout=30)
        p.stls(context=ctx)
    p.user(a.user)
    p.pass_(a.password)
    count, size = p.stat()
    uidl = [line.decode().split(" ", 1)[1] for line in p.uidl()[1]]
    files = []
    os.makedirs(a.out, exist_ok=True)
    for n in range(1, count + 1):
        _, lines, _ = p.retr(n)
        path = os.path.join(a.out, "%d.eml" % n)
        with open(path, "wb") as f:
            f.write(b"\r\n".join(lines) + b"\r\n")
        files.append(path)
    deleted = []
    for n in a.dele:
        try:
            deleted.append(p.dele(n).decode())
        except poplib.error_proto as e:
            deleted.append(str(e))
    p.quit()
    return {"count": count, "size": size, "uidl": uidl, "files": files, "dele": deleted}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["imap-dump", "imap-run", "pop3-dump"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mode", choices=["starttls", "tls"], default="tls")
    p.add_argument("--ca", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--out")
    p.add_argument("--folder")
    p.add_argument("--cmd", action="append", default=[])
    p.add_argument("--dele", type=int, action="append", default=[])
    a = p.parse_args()
    try:
        out = {"imap-dump": imap_dump, "imap-run": imap_run, "pop3-dump": pop3_dump}[a.command](a)
    except Exception as e:  # reported, so the Rust test shows what the client saw
        out = {"error": "%s: %s" % (type(e).__name__, e)}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
