"""Clients of outside systems (SMTP, Google OAuth, ...): timeouts, retries, typed results. None yet."""
