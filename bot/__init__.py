"""Everything that talks to people, queues work, or changes things."""
