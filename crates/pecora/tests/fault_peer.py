"""A scriptable, faulty SMTP peer for pecora's relay tests (standard library only).

It stands where a gestore's (or an Internet domain's) MX would be and misbehaves as told:

  --cert/--key PEM     offer STARTTLS with this certificate (without them: no STARTTLS)
  --tls-break          answer 220 to STARTTLS, then the client's hello with bytes that are
                       not TLS, and hang up
  --stall greeting     accept the connection and never say a word
  --stall data         take the whole message after DATA and never answer it
  --rcpt ADDR=REPLY    answer RCPT TO:<ADDR> with REPLY (e.g. "451 4.2.0 busy"); else 250
  --data ADDR=REPLY    answer DATA with REPLY when ADDR is among the accepted recipients;
                       else 354, and 250 after the message

It listens on --bind (default 127.0.0.1) on a port the system picks, prints that port on
stdout, and appends what happens to --log, one JSON object a line:
  {"event": "connect"}           {"event": "tls", "ok": true} / {"ok": false, "error": ...}
  {"event": "mail", "from": ..., "tls": bool}
  {"event": "rcpt", "to": ..., "reply": ...}
  {"event": "data", "reply": ...}
  {"event": "message", "from": ..., "rcpt": [...], "tls": bool, "x_trasporto": ..., "size": n}
  {"event": "closed"}            (the client went away)
"""
import argparse
import asyncio
import json
import ssl
import sys


def parse_rules(items):
    rules = {}
    for item in items:
        address, _, reply = item.partition("=")
        rules[address.lower()] = reply
    return rules


class Peer:
    def __init__(self, args):
        self.args = args
        self.rcpt_rules = parse_rules(args.rcpt)
        self.data_rules = parse_rules(args.data)
        self.log_file = open(args.log, "a", encoding="utf-8")
        self.tls = None
        if args.cert:
            self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.tls.load_cert_chain(args.cert, args.key)

    def log(self, event, **fields):
        self.log_file.write(json.dumps({"event": event, **fields}) + "\n")
        self.log_file.flush()

    async def session(self, reader, writer):
        self.log("connect")
        try:
            await self.dialogue(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError) as e:
            self.log("error", error=str(e))
        finally:
            self.log("closed")
            writer.close()

    async def wait_for_close(self, reader):
        while await reader.read(4096):
            pass

    async def dialogue(self, reader, writer):
        if self.args.stall == "greeting":
            return await self.wait_for_close(reader)

        async def say(line):
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        await say("220 peer.test ESMTP fault peer")
        secure = False
        mail_from, rcpts = None, []
        while True:
            line = await reader.readline()
            if not line:
                return
            command = line.decode("utf-8", "replace").strip()
            verb = command.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                mail_from, rcpts = None, []
                starttls = "250-STARTTLS\r\n" if self.tls is not None and not secure else ""
                await say(f"250-peer.test\r\n{starttls}250 8BITMIME")
            elif verb == "STARTTLS" and self.tls is not None and not secure:
                await say("220 2.0.0 go ahead")
                if self.args.tls_break:
                    hello = await reader.read(4096)
                    writer.write(b"this is not a TLS server hello\r\n")
                    await writer.drain()
                    garbage = f"{len(hello)}-byte ClientHello answered with garbage"
                    self.log("tls", ok=False, error=garbage)
                    return
                try:
                    await writer.start_tls(self.tls)
                except (ssl.SSLError, ConnectionError, OSError) as e:
                    self.log("tls", ok=False, error=str(e))
                    return
                self.log("tls", ok=True)
                secure = True
            elif verb == "MAIL":
                mail_from, rcpts = address(command), []
                self.log("mail", **{"from": mail_from, "tls": secure})
                await say("250 2.1.0 ok")
            elif verb == "RCPT":
                to = address(command)
                reply = self.rcpt_rules.get(to.lower(), "250 2.1.5 ok")
                self.log("rcpt", to=to, reply=reply)
                if reply.startswith("2"):
                    rcpts.append(to)
                await say(reply)
            elif verb == "DATA":
                ruled = [self.data_rules[r.lower()] for r in rcpts if r.lower() in self.data_rules]
                reply = ruled[0] if ruled else "354 end with <CRLF>.<CRLF>"
                self.log("data", reply=reply)
                await say(reply)
                if not reply.startswith("354"):
                    continue
                body = await read_message(reader)
                self.log(
                    "message",
                    **{"from": mail_from, "rcpt": rcpts, "tls": secure, "size": len(body)},
                    x_trasporto=header(body, b"X-Trasporto"),
                )
                if self.args.stall == "data":
                    return await self.wait_for_close(reader)
                await say("250 2.0.0 queued")
            elif verb == "RSET":
                mail_from, rcpts = None, []
                await say("250 2.0.0 ok")
            elif verb == "QUIT":
                await say("221 2.0.0 bye")
                return
            else:
                await say("502 5.5.2 not implemented")


def address(command):
    """The address between the angle brackets of MAIL FROM/RCPT TO."""
    return command.partition("<")[2].partition(">")[0]


async def read_message(reader):
    lines = []
    while True:
        line = await reader.readline()
        if not line or line == b".\r\n":
            return b"".join(lines)
        lines.append(line[1:] if line.startswith(b".") else line)


def header(body, name):
    for line in body.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        key, _, value = line.partition(b":")
        if key.strip().lower() == name.lower():
            return value.strip().decode("utf-8", "replace")
    return None


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--log", required=True)
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--tls-break", action="store_true")
    p.add_argument("--stall", choices=["greeting", "data"])
    p.add_argument("--rcpt", action="append", default=[])
    p.add_argument("--data", action="append", default=[])
    peer = Peer(p.parse_args())
    server = await asyncio.start_server(peer.session, peer.args.bind, 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
