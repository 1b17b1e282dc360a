"""Everything that knows Connexion, Flask or ASGI: middleware, validation, errors as problems, security
functions, idempotency, and the request context through which handlers reach the app's services."""
