"""Use-cases: what spans models, calls an outside system, writes the audit log or queues mail."""
