"""The incident workflow: declare a war room, keep it informed, resolve, follow up."""
