"""The sandbox Web API, driven by a real slack_sdk WebClient over HTTP."""

from __future__ import annotations

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from slackbox import (
    APPROVER_1,
    APPROVER_2,
    BOT_USER_ID,
    ONCALL,
    RELEASES_CHANNEL,
    REQUESTER,
    VIEWER,
    RunningWorkspace,
    Workspace,
)

SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "*v1.0.0* is ready"}}
BUTTON = {
    "type": "actions",
    "elements": [
        {
            "type": "button",
            "action_id": "approve",
            "value": "r1",
            "text": {"type": "plain_text", "text": "Approve"},
        }
    ],
}
MODAL = {
    "type": "modal",
    "callback_id": "start",
    "title": {"type": "plain_text", "text": "Start release"},
    "submit": {"type": "plain_text", "text": "Start"},
    "blocks": [
        {
            "type": "input",
            "block_id": "version",
            "label": {"type": "plain_text", "text": "Version"},
            "element": {"type": "plain_text_input", "action_id": "value"},
        }
    ],
}


def error_of(call) -> SlackApiError:  # noqa: ANN001
    with pytest.raises(SlackApiError) as info:
        call()
    return info.value


def test_auth_is_required(running: RunningWorkspace) -> None:
    url = f"{running.api_url}auth.test"
    assert httpx.post(url).json() == {"ok": False, "error": "not_authed"}
    assert httpx.post(url, headers={"Authorization": "Bearer xoxp-user"}).json()["error"] == "invalid_auth"
    assert WebClient(token="xoxb-any", base_url=running.api_url).auth_test()["user_id"] == BOT_USER_ID


def test_post_by_name_thread_history_and_replies(client: WebClient, ws: Workspace) -> None:
    parent = client.chat_postMessage(channel="#releases", text="v1.0.0 started", blocks=[SECTION, BUTTON])
    assert parent["channel"] == RELEASES_CHANNEL and parent["message"]["blocks"][0]["text"] == SECTION["text"]
    reply = client.chat_postMessage(channel="releases", text="stage 1 done", thread_ts=parent["ts"])
    client.chat_postMessage(
        channel=RELEASES_CHANNEL, text="nested", thread_ts=reply["ts"]
    )  # Slack: same thread

    history = client.conversations_history(channel=RELEASES_CHANNEL)["messages"]
    assert [m["text"] for m in history] == ["v1.0.0 started"]
    assert history[0]["reply_count"] == 2 and history[0]["bot_id"] == "B0WARROOM"
    replies = client.conversations_replies(channel=RELEASES_CHANNEL, ts=parent["ts"])["messages"]
    assert [m["text"] for m in replies] == ["v1.0.0 started", "stage 1 done", "nested"]
    assert [m["text"] for m in ws.thread("#releases", parent["ts"])] == [
        "v1.0.0 started",
        "stage 1 done",
        "nested",
    ]
    assert [m["text"] for m in ws.messages("releases")] == ["v1.0.0 started"]
    assert [c["method"] for c in ws.calls("chat.postMessage")] == ["chat.postMessage"] * 3


def test_update_keeps_blocks_delete_pin_and_permalink(client: WebClient, ws: Workspace) -> None:
    msg = client.chat_postMessage(channel=RELEASES_CHANNEL, text="draft", blocks=[SECTION])
    updated = client.chat_update(channel=RELEASES_CHANNEL, ts=msg["ts"], text="final")
    assert updated["message"]["text"] == "final" and updated["message"]["blocks"][0]["type"] == "section"
    client.pins_add(channel=RELEASES_CHANNEL, timestamp=msg["ts"])
    assert (
        error_of(lambda: client.pins_add(channel=RELEASES_CHANNEL, timestamp=msg["ts"])).response["error"]
        == "already_pinned"
    )
    assert ws.messages(RELEASES_CHANNEL)[0]["pinned"] is True
    link = client.chat_getPermalink(channel=RELEASES_CHANNEL, message_ts=msg["ts"])["permalink"]
    assert link.endswith(f"/archives/{RELEASES_CHANNEL}/p{msg['ts'].replace('.', '')}")

    human = ws.post_as(REQUESTER, "#releases", "hi")
    assert (
        error_of(lambda: client.chat_update(channel=RELEASES_CHANNEL, ts=human["ts"], text="x")).response[
            "error"
        ]
        == "cant_update_message"
    )
    client.chat_delete(channel=RELEASES_CHANNEL, ts=msg["ts"])
    assert (
        error_of(lambda: client.chat_delete(channel=RELEASES_CHANNEL, ts=msg["ts"])).response["error"]
        == "message_not_found"
    )


def test_ephemeral_only_for_its_user(client: WebClient, ws: Workspace) -> None:
    sent = client.chat_postEphemeral(channel=RELEASES_CHANNEL, user=VIEWER, text="you cannot approve")
    assert sent["message_ts"]
    assert [m["text"] for m in ws.ephemerals(VIEWER)] == ["you cannot approve"]
    assert ws.ephemerals(REQUESTER) == [] and ws.messages(RELEASES_CHANNEL) == []
    assert ws.messages(RELEASES_CHANNEL, include_ephemeral_for=VIEWER)[0]["ephemeral_for"] == VIEWER
    assert client.conversations_history(channel=RELEASES_CHANNEL)["messages"] == []


def test_invalid_blocks_and_text_errors_look_like_slack(client: WebClient) -> None:
    bad = error_of(
        lambda: client.chat_postMessage(channel=RELEASES_CHANNEL, text="x", blocks=[{"type": "section"}])
    )
    assert bad.response.status_code == 200 and bad.response["error"] == "invalid_blocks"
    assert bad.response["response_metadata"]["messages"][0].startswith("[ERROR] ")
    assert "json-pointer:/blocks/0" in bad.response["response_metadata"]["messages"][0]
    too_many = error_of(
        lambda: client.chat_postMessage(channel=RELEASES_CHANNEL, text="x", blocks=[{"type": "divider"}] * 51)
    )
    assert "no more than 50 items allowed" in too_many.response["response_metadata"]["messages"][0]
    long_button = dict(
        BUTTON, elements=[dict(BUTTON["elements"][0], text={"type": "plain_text", "text": "x" * 76})]
    )
    assert (
        error_of(
            lambda: client.chat_postMessage(channel=RELEASES_CHANNEL, text="x", blocks=[long_button])
        ).response["error"]
        == "invalid_blocks"
    )
    assert (
        error_of(lambda: client.chat_postMessage(channel=RELEASES_CHANNEL, text="x" * 40_001)).response[
            "error"
        ]
        == "msg_too_long"
    )
    with pytest.warns(UserWarning, match="text"):  # slack_sdk warns about the missing fallback text
        assert (
            error_of(lambda: client.chat_postMessage(channel=RELEASES_CHANNEL)).response["error"] == "no_text"
        )
    assert (
        error_of(lambda: client.chat_postMessage(channel="#nope", text="x")).response["error"]
        == "channel_not_found"
    )


def test_blocks_as_json_string_in_form_data(running: RunningWorkspace) -> None:
    answer = httpx.post(
        f"{running.api_url}chat.postMessage",
        headers={"Authorization": "Bearer xoxb-t"},
        data={"channel": "releases", "text": "x", "blocks": '[{"type": "divider"}]'},
    ).json()
    assert answer["ok"] is True and answer["message"]["blocks"][0]["type"] == "divider"


def test_channels_create_invite_topic_and_errors(client: WebClient, ws: Workspace) -> None:
    created = client.conversations_create(name="inc-42-db-down", is_private=True)["channel"]
    assert created["is_private"] is True and created["is_member"] is True
    assert (
        error_of(lambda: client.conversations_create(name="inc-42-db-down")).response["error"] == "name_taken"
    )
    assert (
        error_of(lambda: client.conversations_create(name="Inc 42")).response["error"]
        == "invalid_name_specials"
    )
    assert (
        error_of(lambda: client.conversations_create(name="a.b")).response["error"] == "invalid_name_specials"
    )
    assert (
        error_of(lambda: client.conversations_create(name="x" * 81)).response["error"]
        == "invalid_name_maxlength"
    )

    client.conversations_invite(channel=created["id"], users=f"{ONCALL},{REQUESTER}")
    assert (
        error_of(lambda: client.conversations_invite(channel=created["id"], users=ONCALL)).response["error"]
        == "already_in_channel"
    )
    assert (
        error_of(lambda: client.conversations_invite(channel=created["id"], users="U0NOBODY")).response[
            "error"
        ]
        == "user_not_found"
    )
    client.conversations_setTopic(channel=created["id"], topic="SEV1: db down")
    info = client.conversations_info(channel=created["id"])["channel"]
    assert info["topic"]["value"] == "SEV1: db down" and info["num_members"] == 3
    assert client.conversations_members(channel=created["id"])["members"] == [BOT_USER_ID, ONCALL, REQUESTER]
    assert ws.channel_by_name("inc-42-db-down")["id"] == created["id"]
    system = ws.messages(created["id"], include_system=True)
    assert [m["subtype"] for m in system] == ["channel_join", "channel_join", "channel_topic"]
    assert ws.messages(created["id"]) == []

    private = ws.store.create_channel("secret", creator=REQUESTER, is_private=True, members=[REQUESTER])
    assert (
        error_of(lambda: client.chat_postMessage(channel=private["id"], text="x")).response["error"]
        == "channel_not_found"
    )
    public = ws.store.create_channel("random", creator=REQUESTER, members=[REQUESTER])
    assert (
        error_of(lambda: client.chat_postMessage(channel=public["id"], text="x")).response["error"]
        == "not_in_channel"
    )
    client.conversations_join(channel=public["id"])
    assert client.chat_postMessage(channel="random", text="now I can")["ok"]
    listed = [
        c["name"] for c in client.conversations_list(types="public_channel,private_channel")["channels"]
    ]
    assert listed == ["releases", "incidents", "inc-42-db-down", "random"]


def test_dm_users_and_usergroups(client: WebClient, ws: Workspace) -> None:
    dm = client.conversations_open(users=ONCALL)["channel"]["id"]
    assert dm.startswith("D") and client.conversations_open(users=ONCALL)["channel"]["id"] == dm
    client.chat_postMessage(channel=dm, text="you are paged")
    assert [m["text"] for m in ws.messages(dm)] == ["you are paged"]
    assert client.users_info(user=APPROVER_1)["user"]["real_name"] == "Avery Approver"
    assert error_of(lambda: client.users_info(user="U0NOBODY")).response["error"] == "user_not_found"
    assert {m["id"] for m in client.users_list()["members"]} >= {REQUESTER, APPROVER_1, APPROVER_2, VIEWER}
    assert client.usergroups_users_list(usergroup="S0APPROVERS")["users"] == [APPROVER_1, APPROVER_2]
    assert (
        error_of(lambda: client.usergroups_users_list(usergroup="S0NOPE")).response["error"]
        == "no_such_subteam"
    )


def test_files_upload_v2_posts_the_file_with_its_comment(
    client: WebClient, ws: Workspace, running: RunningWorkspace
) -> None:
    result = client.files_upload_v2(
        channel=RELEASES_CHANNEL,
        content="rollback plan\n",
        filename="plan.txt",
        title="Rollback plan",
        initial_comment="Plan attached",
    )
    assert result["file"]["title"] == "Rollback plan"
    [msg] = ws.messages(RELEASES_CHANNEL)
    assert msg["text"] == "Plan attached" and msg["files"][0]["name"] == "plan.txt"
    assert httpx.get(msg["files"][0]["url_private"]).content == b"rollback plan\n"
    assert [c["method"] for c in ws.calls()][-2:] == [
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]


def test_views_need_a_trigger_the_workspace_issued(client: WebClient, ws: Workspace) -> None:
    assert (
        error_of(lambda: client.views_open(trigger_id="123.456.forged", view=MODAL)).response["error"]
        == "invalid_trigger_id"
    )
    trigger = ws.store.issue_trigger(REQUESTER)
    bad_view = dict(MODAL, title={"type": "plain_text", "text": "x" * 30})
    invalid = error_of(lambda: client.views_open(trigger_id=trigger, view=bad_view))
    assert invalid.response["error"] == "invalid_arguments"
    assert "title must be between 1 and 24 characters" in invalid.response["response_metadata"]["messages"][0]

    opened = client.views_open(trigger_id=trigger, view=MODAL)["view"]
    assert opened["id"].startswith("V") and opened["callback_id"] == "start"
    assert (
        error_of(lambda: client.views_open(trigger_id=trigger, view=MODAL)).response["error"]
        == "exchanged_trigger_id"
    )
    [shown] = ws.open_views(REQUESTER)
    assert shown["id"] == opened["id"] and shown["title"]["text"] == "Start release"

    pushed = client.views_push(trigger_id=ws.store.issue_trigger(REQUESTER), view=MODAL)["view"]
    assert pushed["previous_view_id"] == opened["id"] and pushed["root_view_id"] == opened["id"]
    assert (
        error_of(lambda: client.views_update(view_id=opened["id"], hash="stale", view=MODAL)).response[
            "error"
        ]
        == "hash_conflict"
    )
    changed = dict(MODAL, title={"type": "plain_text", "text": "Confirm"})
    client.views_update(view_id=opened["id"], hash=opened["hash"], view=changed)
    assert [v["title"]["text"] for v in ws.open_views(REQUESTER)] == ["Confirm", "Start release"]
    assert (
        error_of(lambda: client.views_update(view_id="V0NOPE", view=MODAL)).response["error"] == "not_found"
    )


def test_rate_limit_answers_429_and_the_retry_handler_recovers(
    client: WebClient, ws: Workspace, running: RunningWorkspace
) -> None:
    ws.store.set_ratelimit(1)
    assert client.chat_postMessage(channel=RELEASES_CHANNEL, text="after a retry")["ok"]
    calls = ws.calls("chat.postMessage")
    assert [(c["ok"], c["error"]) for c in calls] == [(False, "ratelimited"), (True, None)]
    assert calls[1]["at"] - calls[0]["at"] >= 0.9  # the client honoured Retry-After: 1

    no_retry = WebClient(token="xoxb-test", base_url=running.api_url, retry_handlers=[])
    assert httpx.post(f"{running.url}/sandbox/ratelimit", json={"n": 1}).json() == {"ok": True, "n": 1}
    limited = error_of(lambda: no_retry.auth_test())
    assert limited.response.status_code == 429 and limited.response["error"] == "ratelimited"
    assert limited.response.headers["Retry-After"] == "1"
    assert no_retry.auth_test()["ok"]


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24


def test_an_unshared_upload_is_shown_by_an_image_block_naming_its_file() -> None:
    from slackbox import SandboxStore, start_workspace
    from slackbox.ui import ui_routes

    rw = start_workspace(SandboxStore(), extra_routes=ui_routes())
    try:
        client = WebClient(token="xoxb-test", base_url=rw.api_url)
        image = client.files_upload_v2(content=PNG, filename="chart.png", title="Chart", alt_txt="a chart")["file"]
        text = client.files_upload_v2(content="notes\n", filename="notes.txt", title="Notes")["file"]
        assert rw.workspace.messages(RELEASES_CHANNEL) == []  # no channel: shared nowhere
        block = {"type": "image", "slack_file": {"id": image["id"]}, "alt_text": "a chart"}
        client.views_publish(user_id=REQUESTER, view={"type": "home", "blocks": [block]})
        [shown] = rw.store.home(REQUESTER)["blocks"]
        assert shown["slack_file"] == {"id": image["id"]}
        served = httpx.get(f"{rw.url}/ui/images/{image['id']}")
        assert served.status_code == 200 and served.content == PNG
        assert served.headers["content-type"] == "image/png"
        assert httpx.get(f"{rw.url}/ui/images/{text['id']}").status_code == 404  # not an image
        assert httpx.get(f"{rw.url}/ui/images/F0NOPE").status_code == 404
    finally:
        rw.stop()
