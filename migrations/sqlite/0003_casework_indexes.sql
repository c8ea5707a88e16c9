-- Indexes for case work at district scale, measured with `linli gen` (1M residents, 50k clients,
-- 2M service records) and benches/casework.rs (scripts/bench-casework).

-- "Tagged living alone today" answered from the index alone (tag, then the dates), so a list
-- can start from a tag's holders instead of visiting everyone in an area. It extends
-- person_tags_tag (tag, person_id), which it replaces.
DROP INDEX person_tags_tag;
CREATE INDEX person_tags_current ON person_tags(tag, person_id, starts_on, ends_on);

-- A person's place and merge state by id without reading the row: the people list checks the
-- holders of a tag against the area, and pages through ids before it fetches the page's rows.
CREATE INDEX persons_id_path ON persons(id, path, merged_into);

-- A station's open cases in due order, ids included: the due list picks its page from here and
-- reads only the rows it shows; closed cases (a growing share over the years) stay out.
CREATE INDEX cases_open_due ON cases(path, next_follow_up_on, id) WHERE status <> 'closed';
