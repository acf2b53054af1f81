-- A run's learner report is reached through an unguessable link (/runs/{report_token}, the
-- check run's Details), not through its counter: with /runs/{id}, anyone could read every
-- learner's and candidate's report and app log by trying numbers. 244 random bits per run
-- (gen_random_uuid is in core Postgres since 13 and uses a strong random source).
ALTER TABLE runs ADD COLUMN report_token text NOT NULL
    DEFAULT replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '');
CREATE UNIQUE INDEX runs_report_token ON runs (report_token);
