"""The change feed: a revision for every committed change (record.py), what a caller may see of it
(service.py), and waiting for the next one (notifier.py)."""
