"""Deployments: the record of every deploy and rollback of a release into a stage, the requests
to executors, and what they report back. Slack-free."""
