-- Indexes on the columns that point at a person and had none: records merged into a person
-- (the merge history of a record) and a person's household changes (the timeline). Without
-- them every change to a person's key had to scan these tables whole for foreign-key checks.
CREATE INDEX persons_merged_into ON persons(merged_into);
CREATE INDEX household_events_person ON household_events(person_id, at);
