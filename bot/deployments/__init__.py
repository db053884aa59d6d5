"""Deployments after they are requested: what executors report back (callback or GitHub), time-outs,
retries, and the list the API shows. The rows and the requests themselves are recorded by the
release workflow (bot.releases.records). Slack-free."""
