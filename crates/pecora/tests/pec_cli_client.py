"""Reads a PEC box with a third-party client: the IMAP client and daticert reader of PyPI's
mayai-pec-cli, as integrators use them. Prints one JSON list: for each message of INBOX, the
PEC type the client sees and the daticert it picks (tipo, identificativo).

Usage: pec_cli_client.py PORT USER PASSWORD (the CA to trust in SSL_CERT_FILE).
"""
import json
import sys

from pec_cli.auth import credentials
from pec_cli.auth.credentials import Credentials, ProviderConfig
from pec_cli.imap.client import IMAPClient


def main():
    port, user, password = sys.argv[1], sys.argv[2], sys.argv[3]
    # The client knows only the big providers by name: pecora joins the list.
    credentials.PROVIDERS["pecora"] = ProviderConfig(
        name="pecora",
        imap_host="127.0.0.1",
        imap_port=int(port),
        smtp_host="127.0.0.1",
        smtp_port=0,
    )
    creds = Credentials(address=user, provider="pecora", password=password)
    seen = []
    with IMAPClient(creds) as client:
        client.select_folder("inbox")
        for uid in client.search():
            m = client.fetch_message(uid)
            d = m.daticert
            seen.append(
                {
                    "pec_type": m.pec_type,
                    "tipo": d.tipo if d else None,
                    "identificativo": d.identificativo if d else None,
                }
            )
    print(json.dumps(seen))


if __name__ == "__main__":
    sys.exit(main())
