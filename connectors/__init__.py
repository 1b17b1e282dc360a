"""Clients of outside systems: SMTP (mail.py), and over one HTTP setup (http.py: timeouts, retries, and their
failures as our errors) Google OAuth, an identity provider's JWKS, customers' webhook endpoints and Twilio's
recordings; Twilio's Messages API through the `twilio` library's own client (twilio_sms.py). They import only
core."""
