"""Calls Slack cannot dedupe, whose first try went through but whose answer was lost: the
retry must not do them twice."""

from __future__ import annotations

import threading

from tests.e2e.test_incidents import declare
from tests.e2e.test_releases import REL, REQ, announcement
from tests.faults.conftest import FaultStack


def test_a_lost_channel_create_answer_adopts_the_channel_instead_of_opening_another(make_fault_stack) -> None:
    stack: FaultStack = make_fault_stack()
    stack.faults.lose_answer = {"conversations.create"}
    incident, room = declare(stack)
    assert len(stack.faults.calls("conversations.create")) == 2  # the lost answer, then name_taken
    channel = stack.ws.channel_by_name(incident["channel_name"])
    assert channel and channel["id"] == room
    assert stack.ws.channel_by_name(incident["channel_name"] + "-2") is None
    stack.settle(timeout=15)
    assert not [m for m in stack.outbox() if m.failed]


def test_a_post_whose_answer_was_lost_is_not_posted_twice(make_fault_stack) -> None:
    stack: FaultStack = make_fault_stack()
    stack.faults.lose_answer = {"chat.postMessage"}
    assert stack.ws.command(REQ, REL, "/release", "start v1.0.0 risk=low").status_code == 200
    announcement(stack, "v1.0.0")
    stack.settle(timeout=20)
    tops = [m for m in stack.bot_messages(REL) if m["blocks"]]
    assert len(tops) == 1  # the retry found it in the channel instead of posting again
    replies = [m for m in stack.ws.thread(REL, tops[0]["ts"]) if m["ts"] != tops[0]["ts"]]
    assert len(replies) == 1 and "Release started by" in replies[0]["text"]
    assert not [m for m in stack.outbox() if m.failed]


def test_a_rendered_post_whose_answer_was_lost_is_found_after_what_it_shows_changed(make_fault_stack) -> None:
    stack: FaultStack = make_fault_stack()
    stack.faults.lose_answer = {"chat.postMessage"}
    stack.faults.hold_answer = threading.Event()
    assert stack.ws.command(REQ, REL, "/release", "start v1.0.0 risk=low").status_code == 200
    posted = announcement(stack, "v1.0.0")  # in the channel; the bot has no answer yet
    assert "stage Development" in posted["text"]
    stack.ws.click(REQ, REL, posted["ts"], "release_promote")  # a fresh render would now say Staging
    stack.faults.hold_answer.set()  # the answer is lost (504): the retry must look before posting
    stack.settle(timeout=20)
    tops = [m for m in stack.bot_messages(REL) if m["blocks"]]
    assert len(tops) == 1, [m["text"] for m in tops]
    assert "stage Staging" in tops[0]["text"]  # the update the promotion queued brought it up to date
    assert not [m for m in stack.outbox() if m.failed]


def test_a_post_in_doubt_through_several_failed_tries_is_still_found(make_fault_stack) -> None:
    stack: FaultStack = make_fault_stack()
    stack.faults.lose_answer = {"chat.postMessage"}
    stack.faults.hold_answer = threading.Event()
    assert stack.ws.command(REQ, REL, "/release", "start v1.0.0 risk=low").status_code == 200
    announcement(stack, "v1.0.0")  # in the channel; the bot has no answer yet
    stack.faults.mode = "503"  # and every retry for a while fails too, leaving it in doubt
    stack.faults.hold_answer.set()
    first = stack.faults.calls("chat.postMessage")[0]
    # Each retry first looks in the channel (conversations.history), and that fails too.
    stack.ws.wait_for(lambda: [t for t in stack.faults.calls("conversations.history") if t - first > 7],
                      timeout=40, interval=0.1, what="a retry well after the first try")
    stack.faults.mode = "ok"
    stack.settle(timeout=40)
    tops = [m for m in stack.bot_messages(REL) if m["blocks"]]
    assert len(tops) == 1, [m["text"] for m in tops]  # the first try's post was found, however long ago
    assert not [m for m in stack.outbox() if m.failed]
