-- Audit links keyed with a secret kept outside the database: the MAC (`k1:hex`) of each row's
-- hash. Rows chained before are covered by the first keyed link (appended at migration).
ALTER TABLE audit_log ADD COLUMN mac TEXT;

-- Idempotency claims name the attempt that holds them and carry its lease; `committed` is set
-- in the same transaction as the request's write, so a claim left by a dead process says
-- whether that write happened. Claims made before have no owner and are never taken over.
ALTER TABLE idempotency_keys ADD COLUMN owner TEXT,
    ADD COLUMN lease_until TIMESTAMPTZ,
    ADD COLUMN committed BOOLEAN NOT NULL DEFAULT FALSE;
