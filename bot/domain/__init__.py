"""Pure rules and types of the hand-in domain; imports nothing from discord or the database."""
