"""A deployer warroom can call: verify the signed request, deploy, report back."""
import os
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

hook = Webhook(os.environ["DEPLOYER_WEBHOOK_SECRET"])  # whsec_...
seen: set[str] = set()  # webhook-ids handled: a retry of one request is not a second deploy


def deploy(request: dict) -> None:
    ok = True  # run the deploy (or rollback) of request["release"]["version"] to request["stage"] here
    httpx.post(request["callback_url"], json={"state": "succeeded" if ok else "failed"},
               headers={"Authorization": f"Bearer {request['callback_token']}"})


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        raw = self.rfile.read(int(self.headers["content-length"]))
        try:
            request = hook.verify(raw, dict(self.headers))
        except WebhookVerificationError:
            return self.send_error(401)
        self.send_response(202)
        self.end_headers()
        if self.headers["webhook-id"] not in seen:
            seen.add(self.headers["webhook-id"])
            threading.Thread(target=deploy, args=(request,)).start()


if __name__ == "__main__":
    HTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Receiver).serve_forever()  # noqa: S104
