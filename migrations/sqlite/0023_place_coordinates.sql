-- Where a place is, so that a point a resident or an app reports lands in the grid or
-- community it falls in (centroid + nearest within a maximum distance by kind; see
-- docs/architecture.md "Locating a point"). NULL: not known; such a place is never chosen by a
-- point. radius_m overrides the kind's maximum distance for one place (a large rural grid).
ALTER TABLE places ADD COLUMN lat REAL CHECK (lat IS NULL OR (lat BETWEEN -90 AND 90));
ALTER TABLE places ADD COLUMN lon REAL CHECK (lon IS NULL OR (lon BETWEEN -180 AND 180));
ALTER TABLE places ADD COLUMN radius_m INTEGER CHECK (radius_m IS NULL OR radius_m BETWEEN 1 AND 200000);

-- Posts per minute one Open311 app may make; NULL: the instance's default
-- (LINLI_OPEN311_POSTS_PER_MINUTE).
ALTER TABLE open311_clients ADD COLUMN posts_per_minute INTEGER CHECK (posts_per_minute IS NULL OR posts_per_minute BETWEEN 1 AND 100000);
