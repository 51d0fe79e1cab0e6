"""Effects: every external side effect is a row written with the business change, run after commit."""
