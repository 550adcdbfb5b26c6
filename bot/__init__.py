"""Hand-in bot: group hand-ins for university courses on Discord."""
