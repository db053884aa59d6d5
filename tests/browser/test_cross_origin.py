"""A page served from another origin cannot drive the local workspace from the user's own browser."""

from __future__ import annotations

import json
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from slackbox import RELEASES_CHANNEL, REQUESTER, serve_in_thread
from slackbox.launch import Sandbox

# Every trick a hostile page has without a CORS grant: no-cors fetches with a text/plain or form body
# (no preflight), a text/plain form crafted to be JSON, an image GET of a Web API method, and a
# JSON fetch (which needs the preflight the workspace never grants).
ATTACK = """<!doctype html><html><body>
<iframe name="sink" style="display:none"></iframe>
<form id="f" method="POST" enctype="text/plain" target="sink" action="WS/ui/post">
<input name='{"user":"USER","channel":"CHAN","text":"pwned-form","x":"' value='"}'></form>
<img src="WS/api/chat.postMessage?token=xoxb-local-sandbox&channel=CHAN&text=pwned-img">
<script>
const results = {};
async function attempt(name, url, init) {
  try { const r = await fetch(url, init); results[name] = "status " + r.status + " " + r.type; }
  catch (e) { results[name] = "blocked"; }
}
(async () => {
  const body = JSON.stringify({user: "USER", channel: "CHAN", command: "/release", text: "start v6.6.6"});
  await attempt("command-text", "WS/ui/command", {method: "POST", mode: "no-cors", body: body,
                                                   headers: {"Content-Type": "text/plain"}});
  await attempt("post-text", "WS/ui/post", {method: "POST", mode: "no-cors",
      body: JSON.stringify({user: "USER", channel: "CHAN", text: "pwned-fetch"})});
  await attempt("post-json", "WS/ui/post", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({user: "USER", channel: "CHAN", text: "pwned-json"})});
  await attempt("clock", "WS/sandbox/clock/advance", {method: "POST", mode: "no-cors",
      body: new URLSearchParams({seconds: "3600"})});
  await attempt("webapi", "WS/api/chat.postMessage", {method: "POST", mode: "no-cors",
      body: new URLSearchParams({token: "xoxb-local-sandbox", channel: "CHAN", text: "pwned-api"})});
  await attempt("read-state", "WS/ui/state?user=USER", {});
  document.getElementById("f").submit();
  await new Promise(r => setTimeout(r, 500));
  document.title = "done " + JSON.stringify(results);
})();
</script></body></html>"""


def test_a_page_on_another_origin_cannot_drive_the_workspace(browser, sandbox: Sandbox) -> None:  # noqa: ANN001
    html = ATTACK.replace("WS", sandbox.url).replace("USER", REQUESTER).replace("CHAN", RELEASES_CHANNEL)

    async def attack(_: Request) -> HTMLResponse:
        return HTMLResponse(html)

    evil = serve_in_thread(Starlette(routes=[Route("/", attack)]), host="127.0.0.1", port=0)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(evil.url.replace("127.0.0.1", "localhost") + "/")  # another site, not just another port
        page.wait_for_function("document.title.startsWith('done')", timeout=15_000)
        results = json.loads(page.title().removeprefix("done "))
        print("cross-origin attempts as the attacking page saw them:", results)
        time.sleep(0.5)  # let the form post and the image request land, if they were going to
    finally:
        context.close()
        evil.stop()
    # The page ran its attempts; the ones it could read were refused, the rest were opaque to it.
    assert results["read-state"] == "blocked" and results["post-json"] == "blocked", results
    texts = [m.get("text", "") for m in sandbox.store.messages(RELEASES_CHANNEL)]
    assert not [t for t in texts if "pwned" in t], texts
    assert not [m for m in sandbox.store.calls() if m.get("method") == "chat.postMessage"], "the Web API was driven"
    assert sandbox.runtime.services.clock.offset_seconds == 0
    assert not any("v6.6.6" in t for t in texts)


def test_the_workspace_own_page_still_works(page, sandbox: Sandbox) -> None:  # noqa: ANN001
    """The control: the same JSON write from the workspace's own page is accepted."""
    answer = page.evaluate("""async ([user, channel]) => {
        const r = await fetch("/ui/post", {method: "POST", headers: {"Content-Type": "application/json"},
                              body: JSON.stringify({user: user, channel: channel, text: "from the page"})});
        return r.status; }""", [REQUESTER, RELEASES_CHANNEL])
    assert answer == 200
    assert any(m.get("text") == "from the page" for m in sandbox.store.messages(RELEASES_CHANNEL))
