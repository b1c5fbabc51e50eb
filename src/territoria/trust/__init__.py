"""Trust layer: tenants, users and roles, API keys, quotas and the hash-chained audit log (AI Act art. 12).

- `principal`: who is calling (tenant, role, actor) — a context variable read by the audit log.
- `tenants`: registry of collectivities and the shared read-only "commons" corpora attached to them.
- `accounts`: users (Argon2id password hashes), API keys (stored as SHA-256, shown once), OIDC mapping.
- `quotas`: requests per minute and LLM tokens per day, per tenant and per key.
- `audit`: append-only, hash-chained log of every AI output; verify, export, purge with an anchor.
"""
