"""A real SMTP client for the tests: Python's smtplib submits one message.

Usage: smtplib_client.py MODE PORT CAFILE MECHANISM USER PASSWORD FROM TO MESSAGE_FILE
MODE is "starttls" (plain connect, STARTTLS) or "ssl" (implicit TLS); MECHANISM is PLAIN or
LOGIN. The certificate is verified against CAFILE for the name "localhost". Prints one JSON
object with what the server answered.
"""

import json
import smtplib
import ssl
import sys


def main():
    mode, port, cafile, mechanism, user, password, sender, rcpt, message_file = sys.argv[1:]
    context = ssl.create_default_context(cafile=cafile)
    if mode == "ssl":
        client = smtplib.SMTP_SSL("localhost", int(port), context=context, timeout=10)
    else:
        client = smtplib.SMTP("localhost", int(port), timeout=10)
    result = {}
    client.ehlo("client.example")
    if mode == "starttls":
        result["plain_features"] = sorted(client.esmtp_features)
        result["starttls"] = list(client.starttls(context=context))
        result["starttls"][1] = result["starttls"][1].decode()
        client.ehlo("client.example")
    result["features"] = sorted(client.esmtp_features)
    auth = {"PLAIN": client.auth_plain, "LOGIN": client.auth_login}[mechanism]
    client.user, client.password = user, password
    code, text = client.auth(mechanism, auth, initial_response_ok=(mechanism == "PLAIN"))
    result["auth"] = [code, text.decode()]
    code, text = client.mail(sender, ["SIZE=%d" % len(open(message_file, "rb").read())])
    result["mail"] = [code, text.decode()]
    code, text = client.rcpt(rcpt)
    result["rcpt"] = [code, text.decode()]
    with open(message_file, "rb") as f:
        code, text = client.data(f.read())
    result["data"] = [code, text.decode()]
    client.quit()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
