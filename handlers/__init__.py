"""One module per OpenAPI tag, one function per operationId: unpack, call one model method or one
service, shape the answer."""
