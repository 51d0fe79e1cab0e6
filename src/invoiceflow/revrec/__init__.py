"""Revenue recognition (ASC 606 / IFRS 15): pure allocation and schedule math."""
