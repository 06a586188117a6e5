"""A real SMTP client (Python's smtplib) for pecora's network tests.

Prints one JSON object: {"code": int, "text": str, "step": str} for the first refused step,
or for the final DATA reply. Never raises for SMTP-level refusals. With --hold it prints
{"ready": true} once logged in and waits for a line on standard input before MAIL FROM, so a
test can change the account while the session is open.
"""
import argparse
import json
import smtplib
import ssl
import sys


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca")
    p.add_argument("--mode", choices=["starttls", "tls", "plain"], default="starttls")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--mail-from", required=True)
    p.add_argument("--rcpt", action="append", default=[])
    p.add_argument("--size", type=int, help="SIZE= hint on MAIL FROM")
    p.add_argument("--file", required=True)
    p.add_argument("--hold", action="store_true")
    a = p.parse_args()
    message = open(a.file, "rb").read()
    ctx = ssl.create_default_context(cafile=a.ca) if a.ca else None
    step = "connect"
    try:
        if a.mode == "tls":
            s = smtplib.SMTP_SSL("127.0.0.1", a.port, context=ctx, timeout=30)
        else:
            s = smtplib.SMTP("127.0.0.1", a.port, timeout=30)
        s.ehlo("client.test")
        if a.mode == "starttls":
            step = "starttls"
            s.starttls(context=ctx)
            s.ehlo("client.test")
        if a.user:
            step = "auth"
            s.login(a.user, a.password)
        if a.hold:
            print(json.dumps({"ready": True}), flush=True)
            sys.stdin.readline()
        step = "mail"
        opts = [f"SIZE={a.size}"] if a.size else []
        code, text = s.mail(a.mail_from, opts)
        if code >= 400:
            return out(code, text, step)
        step = "rcpt"
        for r in a.rcpt:
            code, text = s.rcpt(r)
            if code >= 400:
                return out(code, text, step)
        step = "data"
        code, text = s.data(message)
        out(code, text, step)
        s.quit()
    except smtplib.SMTPResponseException as e:
        out(e.smtp_code, e.smtp_error, step)
    except smtplib.SMTPServerDisconnected as e:
        out(0, str(e), step)
    except smtplib.SMTPRecipientsRefused as e:
        code, text = list(e.recipients.values())[0]
        out(code, text, step)


def out(code, text, step):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    print(json.dumps({"code": code, "text": text, "step": step}))


if __name__ == "__main__":
    sys.exit(main())
