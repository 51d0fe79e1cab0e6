"""Rating: charge models as pure functions from (price, quantity) to amounts. No I/O, no clock."""
