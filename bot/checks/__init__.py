"""Evidence from CI: policy checks on a release, their reports, and the gates they close."""
