-- A running import holds a lease that the instance running it renews while it works: when the
-- instance dies, the lease runs out and the batch is marked interrupted within a minute or two
-- (at once when that instance starts again), where it used to say "running" for two hours.
ALTER TABLE import_batches ADD COLUMN owner TEXT;
ALTER TABLE import_batches ADD COLUMN lease_until TIMESTAMPTZ;

-- Waiting rows are sealed from now on. Previews written before held names, ID and phone numbers
-- in clear: they go (the user uploads again), and finished batches keep no rows.
DELETE FROM import_batches WHERE status = 'ready';
UPDATE import_batches SET rows = '' WHERE rows <> '';
