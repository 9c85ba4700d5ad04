#!/usr/bin/python3
"""A real SMTP server on loopback for klaxon's e-mail tests (Debian's python3-aiosmtpd).

Binds 127.0.0.1 on a port the kernel picks and prints "listening on 127.0.0.1:PORT"
once it accepts connections. Each accepted message is written to OUT_DIR as
NNNN.eml (the message as received, dot-stuffing undone) and NNNN.json (the
envelope: mail_from, rcpt_tos, and the login used, if any); the .eml appears
last and whole, so a test can wait for it. Stops by itself after --max-seconds.
"""

import argparse
import asyncio
import json
import os
import sys
import warnings

try:
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
except ImportError:
    print("smtp_receiver: python3-aiosmtpd is not installed (scripts/setup-deps.sh installs it)",
          flush=True)
    sys.exit(3)


def write_whole(path, data):
    temp = path + ".tmp"
    with open(temp, "wb") as f:
        f.write(data)
    os.replace(temp, path)


class Recorder:
    def __init__(self, out_dir, reject_rcpt, data_reply):
        self.out_dir = out_dir
        self.reject_rcpt = set(reject_rcpt)
        self.data_reply = data_reply
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.reject_rcpt:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply:
            return self.data_reply
        self.count += 1
        base = os.path.join(self.out_dir, "%04d" % self.count)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        write_whole(base + ".json", json.dumps({
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "login": login,
        }).encode())
        write_whole(base + ".eml", envelope.original_content or envelope.content)
        return "250 OK"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir")
    parser.add_argument("--user", help="require AUTH with this login")
    parser.add_argument("--password", default="")
    parser.add_argument("--reject-rcpt", action="append", default=[],
                        help="answer RCPT TO for this address with 550")
    parser.add_argument("--data-reply", default="",
                        help='answer DATA with this instead of accepting, e.g. "451 4.3.0 try later"')
    parser.add_argument("--max-seconds", type=float, default=120)
    args = parser.parse_args()
    # Plain-text AUTH on loopback is the point here, not a risk to warn about.
    warnings.simplefilter("ignore")

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == args.user
              and auth_data.password.decode() == args.password)
        # handled=False: aiosmtpd then answers a failure with 535 itself.
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    recorder = Recorder(args.out_dir, args.reject_rcpt, args.data_reply)

    def make_smtp():
        if args.user:
            # Plain-text AUTH is what a test on loopback can check; klaxon asks
            # for STARTTLS and goes on without it when the server has none.
            return SMTP(recorder, hostname="receiver.test", authenticator=authenticate,
                        auth_required=True, auth_require_tls=False)
        return SMTP(recorder, hostname="receiver.test")

    async def serve():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(make_smtp, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        print("listening on 127.0.0.1:%d" % port, flush=True)
        await asyncio.sleep(args.max_seconds)
        server.close()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
