-- Indexes on the columns that point at a person and had none: records merged into a person
-- (the merge history of a record) and a person's household changes (the timeline). Without
-- them every change to a person's key had to scan these tables whole for foreign-key checks.
-- Partial: almost every person has merged_into NULL, and a full index would tempt the planner
-- to serve `merged_into IS NULL` from it instead of the selective indexes next to it.
CREATE INDEX persons_merged_into ON persons(merged_into) WHERE merged_into IS NOT NULL;
CREATE INDEX household_events_person ON household_events(person_id, at);
