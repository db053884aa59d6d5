"""Delivery metrics: DORA's keys and the policy's targets, from warroom's own records."""
