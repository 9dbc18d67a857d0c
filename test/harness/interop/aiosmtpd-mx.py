"""A receiving MX for interop tests: aiosmtpd on HOST:PORT, every message written to
DIR as <n>.eml (the DATA bytes as received, unstuffed) with <n>.json holding the
envelope. Prints READY <port> once listening; stops on SIGTERM or stdin EOF."""
import asyncio, json, os, sys
from aiosmtpd.controller import Controller

host, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
count = 0

class Handler:
    async def handle_DATA(self, server, session, envelope):
        global count
        count += 1
        with open(os.path.join(out, f"{count}.eml"), "wb") as f:
            f.write(envelope.original_content)
        with open(os.path.join(out, f"{count}.json"), "w") as f:
            json.dump({"from": envelope.mail_from, "to": envelope.rcpt_tos, "mail_options": envelope.mail_options}, f)
        return "250 2.0.0 Message accepted for delivery"

controller = Controller(Handler(), hostname=host, port=port, decode_data=False, enable_SMTPUTF8=True)
controller.start()
print(f"READY {controller.port}", flush=True)
try:
    sys.stdin.read()
finally:
    controller.stop()
