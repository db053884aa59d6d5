"""warroom: coordinates software releases and incident war rooms in Slack."""
