"""Accounts, sign-in and who is calling: passwords, tokens, API keys and the caller."""
