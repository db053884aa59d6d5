"""Release coordination: the state machine, its gates, the service and its messages."""
