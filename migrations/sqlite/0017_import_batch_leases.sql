-- A running import holds a lease that the instance running it renews while it works: when the
-- instance dies, the lease runs out and the batch is marked interrupted within a minute or two
-- (at once when that instance starts again), where it used to say "running" for two hours.
ALTER TABLE import_batches ADD COLUMN owner TEXT;
ALTER TABLE import_batches ADD COLUMN lease_until TEXT;

-- Waiting rows are sealed from now on. Previews written before held names, ID and phone numbers
-- in clear: they go (the user uploads again), and finished batches keep no rows. secure_delete
-- overwrites the freed bytes, so the clear text does not stay behind in the file's free pages.
PRAGMA secure_delete = ON;
DELETE FROM import_batches WHERE status = 'ready';
UPDATE import_batches SET rows = '' WHERE rows <> '';
PRAGMA secure_delete = OFF;
