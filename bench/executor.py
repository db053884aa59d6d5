"""Delegated promotions under load: releases promoted through a loopback executor that answers
at once and calls back `succeeded` straight away.

Starts the Slack stand-in and the real bot (its own process, executors on staging, canary and
production), starts enough releases, then sends `/release promote` at RATE per second for
DURATION seconds across them (each release moves once per round). Reports: every request
delivered exactly once (one webhook-id per promotion), median time from the promotion
request to the stage change (the callback's answer), and the callback ack p50/p99.

    .venv/bin/python bench/executor.py [--rate 200] [--duration 30] [--db sqlite|URL]
"""

from __future__ import annotations

import argparse
import base64
import math
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import httpx
import yaml
from standardwebhooks.webhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ack_latency import cpu_seconds, drop_schema, paced, pct, pg_schema, signed  # noqa: E402
from ack_latency import start as start_server  # noqa: E402

from slackbox.serve import serve_in_thread  # noqa: E402

WHSEC = "whsec_" + base64.b64encode(b"bench-executor-secret-0123456789").decode()
STAGES = ["staging", "canary", "production"]


class Executor:
    """Verifies each request, answers 202 at once, then calls back `succeeded` from a pool."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids: list[str] = []
        self.bad_signatures = 0
        self.acks: list[float] = []  # callback round trips, ms
        self.stage_at: dict[tuple[str, str], float] = {}  # (version, stage) -> perf_counter at callback answer
        self.callback_errors: list[int] = []
        self.pool = ThreadPoolExecutor(max_workers=16)
        self.base = ""
        self.client = httpx.Client(timeout=10, limits=httpx.Limits(max_connections=32))
        self.handle = serve_in_thread(Starlette(routes=[Route("/deploy", self._hook, methods=["POST"])]))

    async def _hook(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = Webhook(WHSEC).verify(raw, dict(request.headers))
        except Exception:
            with self.lock:
                self.bad_signatures += 1
            return Response(status_code=401)
        with self.lock:
            self.ids.append(request.headers["webhook-id"])
        self.pool.submit(self._callback, body)
        return Response(status_code=202)

    def _callback(self, body: dict) -> None:
        t = time.perf_counter()
        try:
            # The path the bot handed out, on the port it really listens on.
            url = self.base + "/hooks/" + body["callback_url"].split("/hooks/", 1)[1]
            resp = self.client.post(url, json={"state": "succeeded"},
                                    headers={"Authorization": f"Bearer {body['callback_token']}"})
        except httpx.HTTPError:
            with self.lock:
                self.callback_errors.append(0)
            return
        done = time.perf_counter()
        with self.lock:
            if resp.status_code != 200:
                self.callback_errors.append(resp.status_code)
                return
            self.acks.append((done - t) * 1000)
            self.stage_at[(body["release"]["version"], body["stage"])] = done


def command(text: str, i: int) -> str:
    """A signed-ready `/release` slash command body."""
    return urlencode({"token": "t", "team_id": "T0", "channel_id": "C0RELEASES", "channel_name": "releases",
                      "user_id": "U0REQUEST", "user_name": "riley", "command": "/release", "text": text,
                      "trigger_id": f"trig-{i}-{time.time_ns()}", "response_url": "http://127.0.0.1:9/unused",
                      "api_app_id": "A0"})


def postgres_cpu() -> float:
    """CPU seconds used so far by this machine's PostgreSQL processes (0 when it runs elsewhere)."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "comm").read_text().strip() == "postgres":
                total += cpu_seconds(int(proc.name))
        except OSError:  # gone meanwhile
            continue
    return total


def main() -> int:
    """Run the load and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=200, help="promotions per second")
    parser.add_argument("--duration", type=float, default=30, help="seconds of load")
    parser.add_argument("--db", default="sqlite", help="sqlite, or a PostgreSQL URL")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="warroom-bench-")
    db, schema = (f"sqlite:///{tmp}/bench.db", None) if args.db == "sqlite" else pg_schema(args.db)
    total = int(args.rate * args.duration)
    releases = max(1, math.ceil(total / len(STAGES)), int(args.rate))
    executor = Executor()
    policy = Path(tmp) / "policy.yml"
    policy.write_text(yaml.safe_dump({
        "executors": {"deployer": {"kind": "webhook", "url": executor.handle.url + "/deploy",
                                   "secret_env": "BENCH_DEPLOYER_SECRET"}},
        "stages": [{"name": "dev", "label": "Development"},
                   *({"name": s, "label": s.title(), "executor": "deployer", "production": s != "staging"}
                     for s in STAGES)]}))
    # The bench server picks its own port; the executor calls back on it (see Executor.base).
    # Every callback comes from one address here, as from one deployer: the per-address edge limit
    # (WARROOM_HOOKS_RATE, 20/s by default) would answer most of them 429, so it is off, as in bench/hooks.py.
    env = {"WARROOM_CONFIG": str(policy), "BENCH_DEPLOYER_SECRET": WHSEC, "WARROOM_PUBLIC_URL": "http://127.0.0.1:1",
           "WARROOM_HOOKS_RATE": "0"}
    procs = []
    client = httpx.Client(timeout=10, limits=httpx.Limits(max_connections=64, max_keepalive_connections=64))
    try:
        slack, slack_url = start_server("slack")
        procs.append(slack)
        # As `warroom run` does: the web process serves requests, `warroom worker` delivers.
        bot, bot_url = start_server("warroom", f"{slack_url}/api/", db, "web", env=env)
        procs.append(bot)
        procs.append(start_server("worker", f"{slack_url}/api/", db, env=env)[0])
        executor.base = bot_url

        def send(text: str, i: int) -> httpx.Response:
            body = command(text, i)
            return client.post(f"{bot_url}/slack/events", content=body,
                               headers=signed(body, "application/x-www-form-urlencoded"))

        print(f"starting {releases} releases ...", flush=True)
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda i: send(f"start v{i}.0.0 risk=low", i), range(releases)))
        sent: dict[tuple[str, str], float] = {}
        refused: list[str] = []

        def promote(i: int) -> None:
            version, stage = f"v{i % releases}.0.0", STAGES[i // releases]
            t = time.perf_counter()
            resp = send(f"promote {version}", i)
            text = resp.json().get("text", "") if resp.status_code == 200 else str(resp.status_code)
            if "requested from deployer" in text:
                sent[(version, stage)] = t
            else:
                refused.append(text[:80])

        print(f"promoting at {args.rate:g}/s for {args.duration:g} s ...", flush=True)
        # Where the CPU goes, per promotion: does the load fit this machine's cores at all?
        roles = {"web process": bot.pid, "worker": procs[-1].pid, "Slack stand-in": slack.pid,
                 "load + executor": os.getpid()}
        cpu0 = {role: cpu_seconds(pid) for role, pid in roles.items()}
        pg0 = postgres_cpu() if args.db != "sqlite" else None
        paced(total, args.rate, promote)
        deadline = time.monotonic() + 60
        while len(executor.stage_at) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.2)
        cpu = {role: (cpu_seconds(pid) - cpu0[role]) * 1000 / max(1, len(sent)) for role, pid in roles.items()}
        if pg0 is not None and pg0 > 0:
            cpu["PostgreSQL"] = (postgres_cpu() - pg0) * 1000 / max(1, len(sent))
        time.sleep(1.0)  # anything sent twice would arrive now
        to_stage = [(executor.stage_at[k] - t) * 1000 for k, t in sent.items() if k in executor.stage_at]
        print(f"\ndelegated promotions, {args.rate:g}/s for {args.duration:g} s across {releases} releases "
              f"({args.db}):")
        print(f"  promotions requested     {len(sent)} (refused: {len(refused)}{': ' + refused[0] if refused else ''})")
        print(f"  requests received        {len(executor.ids)}, distinct webhook-ids {len(set(executor.ids))}, "
              f"bad signatures {executor.bad_signatures}")
        print(f"  delivered exactly once   {0 < len(sent) == len(executor.ids) == len(set(executor.ids))}")
        errors = ", ".join(f"{n}× {'no answer' if code == 0 else f'HTTP {code}'}"
                           for code, n in Counter(executor.callback_errors).most_common())
        print(f"  stages reached           {len(executor.stage_at)} (callback errors: {errors or 'none'})")
        if to_stage:
            print(f"  request -> stage  median {statistics.median(to_stage):.1f} ms, p99 {pct(to_stage, 99):.1f} ms")
        print("  CPU per promotion        " + ", ".join(f"{role} {ms:.1f} ms" for role, ms in cpu.items())
              + f"; at {args.rate:g}/s that is {sum(cpu.values()) * args.rate / 1000:.1f} of this machine's "
              f"{os.cpu_count()} cores, before the kernel's loopback")
        if executor.acks:
            print(f"  callback ack      p50 {statistics.median(executor.acks):.2f} ms, "
                  f"p99 {pct(executor.acks, 99):.2f} ms (target < 20 ms)")
    finally:
        client.close()
        executor.handle.stop()
        for p in procs:
            p.terminate()
            p.wait(10)
        if schema:
            drop_schema(args.db, schema)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
