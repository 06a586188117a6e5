"""A real POP3 client for the tests: Python's poplib runs a list of steps in one session.

Usage: poplib_client.py MODE PORT CAFILE STEPS_JSON
MODE is "ssl" (POP3_SSL, implicit TLS), "stls" (plain connect, then STLS) or "plain" (no
TLS at all). The certificate is verified against CAFILE for the name "localhost".
STEPS_JSON is a list of steps, each a list: ["capa"], ["user", LOGIN, PASSWORD],
["plain", LOGIN, PASSWORD] (AUTH PLAIN with an initial response), ["plain-continued",
LOGIN, PASSWORD] (AUTH PLAIN, then the response after the "+ " challenge), ["stat"],
["list"], ["list", N], ["uidl"], ["uidl", N], ["top", N, LINES], ["retr", N], ["dele", N],
["rset"], ["noop"], ["quit"].

Prints one JSON list with the outcome of each step: {"ok": ...} or {"error": "..."} for a
-ERR. Message bodies (retr, top) are given as base64 of the lines poplib returned (already
unstuffed), each followed by CRLF.
"""

import base64
import json
import poplib
import ssl
import sys


def text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (list, tuple)):
        return [text(v) for v in value]
    return value


def body(lines):
    return base64.b64encode(b"".join(line + b"\r\n" for line in lines)).decode()


def plain(login, password):
    return base64.b64encode(("\0%s\0%s" % (login, password)).encode()).decode()


def step(client, name, *args):
    if name == "capa":
        return {k: text(v) for k, v in client.capa().items()}
    if name == "user":
        return [text(client.user(args[0])), text(client.pass_(args[1]))]
    if name == "plain":
        return text(client._shortcmd("AUTH PLAIN " + plain(*args)))
    if name == "plain-continued":
        client._putcmd("AUTH PLAIN")
        challenge = client._getresp()
        return [text(challenge), text(client._shortcmd(plain(*args)))]
    if name == "stat":
        return list(client.stat())
    if name in ("list", "uidl"):
        answer = getattr(client, name)(*args)
        if args:
            return text(answer)
        return {"resp": text(answer[0]), "lines": text(answer[1])}
    if name in ("top", "retr"):
        resp, lines, octets = getattr(client, name)(*args)
        return {"resp": text(resp), "body": body(lines), "octets": octets}
    if name == "dele":
        return text(client.dele(args[0]))
    if name == "rset":
        return text(client.rset())
    if name == "noop":
        return text(client.noop())
    if name == "quit":
        return text(client.quit())
    raise ValueError("unknown step %r" % name)


def main():
    mode, port, cafile, steps = sys.argv[1:]
    context = ssl.create_default_context(cafile=cafile)
    if mode == "ssl":
        client = poplib.POP3_SSL("localhost", int(port), context=context, timeout=30)
    else:
        client = poplib.POP3("localhost", int(port), timeout=30)
        if mode == "stls":
            client.stls(context=context)
    results = []
    for name, *args in json.loads(steps):
        try:
            results.append({"ok": step(client, name, *args)})
        except poplib.error_proto as e:
            results.append({"error": text(e.args[0])})
    print(json.dumps(results))


if __name__ == "__main__":
    main()
