"""An app that fails at start-up in one of its own modules: the grader annotates that line."""

from store import db

print("connecting to", db.url(), flush=True)
