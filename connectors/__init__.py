"""Clients of outside systems (SMTP, Google OAuth, an identity provider's JWKS), over one HTTP setup
(http.py): timeouts, retries, and their failures as our errors. They import only core."""
