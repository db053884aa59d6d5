"""Executors: the systems that deploy and roll back (a signed webhook, GitHub Actions, GitHub
Deployments). warroom only asks them, through the outbox, and hears back through a callback.

Slack-free: nothing here knows about Slack; the outbox calls ``ExecutorClient`` for the
``webhook`` and ``github`` ops.
"""
