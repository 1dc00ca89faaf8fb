#!/usr/bin/env python3
"""A real SMTP server for idplane's notification tests: aiosmtpd on 127.0.0.1 and a free port.

    smtp_sink.py --dir DIR [--tls none|starttls|implicit --cert PEM --key PEM]
                 [--user NAME --password-file FILE] [--reject ADDRESS ...]

Prints `port N` on stdout once it listens, then serves until its standard input closes (or it is killed).

--tls none      plain text; STARTTLS is not offered.
--tls starttls  plain text, STARTTLS offered with the certificate and required before MAIL (and AUTH).
--tls implicit  TLS from the first byte (as on port 465).
--user          AUTH (PLAIN and LOGIN) with this user and the password in --password-file is required before MAIL.
--reject        a recipient refused at RCPT with 550 (repeatable).

Each message received is written to DIR as N.eml (the bytes received after DATA) and N.json (the envelope, whether
the session was in TLS, the login, and the message parsed: From, To, Subject, the headers and the plain-text body
decoded, with \\n line breaks), N counting from 1. Both are in place before the server answers the DATA with 250,
so a client whose send returned finds them.
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import ssl
import sys
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Sink:
    def __init__(self, directory, reject):
        self.directory = directory
        self.reject = {a.lower() for a in reject}
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.reject:
            return f"550 5.1.1 <{address}>: Recipient address rejected: no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        login = None
        if session.authenticated and isinstance(session.auth_data, LoginPassword):
            login = session.auth_data.login.decode()
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": server.transport.get_extra_info("ssl_object") is not None,
            "login": login,
            "from": str(message["From"]),
            "to": [str(a) for a in message.get("To", "").addresses] if message.get("To") else [],
            "subject": str(message["Subject"]),
            "headers": [[name, str(value)] for name, value in message.items()],
            "body": body.get_content().replace("\r\n", "\n") if body is not None else None,
        }
        base = os.path.join(self.directory, str(self.count))
        for suffix, data in ((".eml", raw), (".json", json.dumps(record, indent=2).encode())):
            with open(base + suffix + ".tmp", "wb") as f:
                f.write(data)
            os.replace(base + suffix + ".tmp", base + suffix)
        return f"250 2.0.0 OK: queued as {self.count}"


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == user.encode() and auth_data.password == password.encode())
        # handled=False: aiosmtpd then answers a failure with 535 itself (handled=True would leave the client waiting).
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)
    return check


async def serve(args):
    tls_context = None
    if args.tls != "none":
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(args.cert, args.key)
    auth = {}
    if args.user:
        with open(args.password_file) as f:
            password = f.read()
        # With STARTTLS, AUTH is offered only after it (as relays do); on a plain or implicit-TLS listener aiosmtpd
        # would never offer it otherwise.
        auth = dict(authenticator=authenticator(args.user, password), auth_required=True,
                    auth_require_tls=args.tls == "starttls")
    sink = Sink(args.dir, args.reject)

    def session():
        return SMTP(sink, hostname="sink.test", tls_context=tls_context if args.tls == "starttls" else None,
                    require_starttls=args.tls == "starttls", **auth)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(session, "127.0.0.1", 0,
                                      ssl=tls_context if args.tls == "implicit" else None)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    # Until whoever started the sink closes its standard input (or exits).
    await loop.run_in_executor(None, sys.stdin.buffer.read)
    server.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--tls", choices=["none", "starttls", "implicit"], default="none")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--user")
    parser.add_argument("--password-file")
    parser.add_argument("--reject", action="append", default=[])
    args = parser.parse_args()
    if args.tls != "none" and not (args.cert and args.key):
        parser.error("--tls starttls and implicit need --cert and --key")
    if args.user and not args.password_file:
        parser.error("--user needs --password-file")
    # aiosmtpd warns when AUTH is required without TLS; here that is the point of the plain-text case.
    warnings.simplefilter("ignore")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
