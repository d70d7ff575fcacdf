"""Everything that reads and judges: collectors, the check catalogue, the runner and the ranker.

This package never imports Slack, Redis or Jinja2; a check module never calls an API.
"""
