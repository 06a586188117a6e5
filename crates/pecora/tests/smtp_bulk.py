"""Submits many messages over a few concurrent SMTP connections (Python's smtplib), for
pecora's crash test: one process instead of one per message, and it keeps going while the
server is killed and restarted under it.

Input (argument 1): a JSON file
    {"port": int, "ca": path, "deadline_seconds": float,
     "lanes": [[{"n": int, "user": str, "password": str, "mail_from": str,
                 "rcpt": [str], "file": path}, ...], ...]}
Each lane is one connection (STARTTLS + AUTH as the lane's messages' user, which is the
same for all of them) that sends its messages in order, one transaction each.

Output: one JSON object per message on stdout, one per line:
    {"n": int, "code": int | null, "text": str, "step": str}
`code` is the server's reply to the first refused step or to DATA. It is null when the
connection died after DATA was sent and before its reply: the message's fate is unknown
(the server may have accepted it). A connection that fails before DATA is reopened and the
message tried again; past the deadline it is given up (`code` null, never sent).
"""
import json
import smtplib
import ssl
import sys
import threading
import time

RETRY_PAUSE = 0.2


class Interrupted(Exception):
    """The connection failed; `unknown` when that happened after DATA was sent."""

    def __init__(self, step, error):
        super().__init__(f"{step}: {error!r}")
        self.step = step
        self.unknown = step == "data"


def connect(port, ctx, user, password):
    s = smtplib.SMTP("127.0.0.1", port, timeout=60)
    try:
        s.ehlo("client.test")
        s.starttls(context=ctx)
        s.ehlo("client.test")
        s.login(user, password)
    except BaseException:
        s.close()
        raise
    return s


def transaction(s, m, data):
    """One transaction: (code, text, step) of the first refusal or of the DATA reply."""
    step = "mail"
    try:
        code, text = s.mail(m["mail_from"])
        if code >= 400:
            s.rset()
            return code, text, step
        step = "rcpt"
        for r in m["rcpt"]:
            code, text = s.rcpt(r)
            if code >= 400:
                s.rset()
                return code, text, step
        step = "data"
        code, text = s.data(data)
        return code, text, step
    except smtplib.SMTPResponseException as e:
        return e.smtp_code, e.smtp_error, step
    except (OSError, smtplib.SMTPException) as e:
        raise Interrupted(step, e)


def lane(messages, port, ctx, deadline, results, lock):
    s = None
    i = 0
    while i < len(messages):
        m = messages[i]
        data = open(m["file"], "rb").read()
        try:
            if s is None:
                s = connect(port, ctx, m["user"], m["password"])
            code, text, step = transaction(s, m, data)
        except (OSError, smtplib.SMTPException, Interrupted) as e:
            if s is not None:
                s.close()
                s = None
            unknown = isinstance(e, Interrupted) and e.unknown
            if not unknown and time.time() < deadline:
                time.sleep(RETRY_PAUSE)
                continue
            code, text, step = None, repr(e), getattr(e, "step", "connect")
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        with lock:
            results.append({"n": m["n"], "code": code, "text": text, "step": step})
        i += 1
    if s is not None:
        try:
            s.quit()
        except (OSError, smtplib.SMTPException):
            s.close()


def main():
    job = json.load(open(sys.argv[1]))
    ctx = ssl.create_default_context(cafile=job["ca"])
    deadline = time.time() + job["deadline_seconds"]
    results, lock = [], threading.Lock()
    threads = [
        threading.Thread(
            target=lane, args=(msgs, job["port"], ctx, deadline, results, lock)
        )
        for msgs in job["lanes"]
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in sorted(results, key=lambda r: r["n"]):
        print(json.dumps(r))


if __name__ == "__main__":
    sys.exit(main())
