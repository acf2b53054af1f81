-- Publishing is its own lifecycle (grading/queue/publish.go): a run's verdict is stored once, and
-- publish jobs drive what GitHub shows towards it, from this stored state, however long GitHub is
-- unavailable. published only moves forward:
--   none → queued → in_progress → completed (the check run) → commented (every open pull
--   request's sticky comment shows the run, or a newer one).
-- A superseded run ends at completed (skipped or cancelled). Take-home final runs (final) are
-- never published.
ALTER TABLE runs
    ADD COLUMN published text NOT NULL DEFAULT 'none'
        CHECK (published IN ('none', 'queued', 'in_progress', 'completed', 'commented')),
    -- a publish job works on the run until then; another waits (no lock is held meanwhile)
    ADD COLUMN publish_lease timestamptz,
    -- when a check run was first asked for: after that, a missing check_run_id may mean that
    -- GitHub made it but its answer was lost, so the run's check runs are searched first
    ADD COLUMN check_run_requested_at timestamptz,
    ADD COLUMN published_at timestamptz;

-- Runs graded before this migration were published by the old workers as far as they got.
UPDATE runs SET published = CASE
    WHEN final THEN 'none'
    WHEN check_run_id IS NULL THEN 'none'
    WHEN status = 'completed' THEN 'commented'
    WHEN status = 'superseded' THEN 'completed'
    WHEN status = 'in_progress' THEN 'in_progress'
    ELSE 'queued' END;

CREATE INDEX runs_unpublished ON runs (id) WHERE NOT final AND published <> 'commented';

-- The sticky comment's writer holds a lease instead of a transaction while it calls GitHub.
ALTER TABLE pr_comments
    ALTER COLUMN comment_id DROP NOT NULL,
    ADD COLUMN lease_until timestamptz;

-- Webhook deliveries that GitHub could not hand to the App (5xx, refused, timed out) and that
-- the recovery job asked GitHub to deliver again: guid is X-GitHub-Delivery, delivered_at
-- GitHub's time of the first attempt (a take-home counts a recovered push from then).
CREATE TABLE redeliveries (
    guid         text PRIMARY KEY,
    event        text NOT NULL,
    delivered_at timestamptz NOT NULL,
    requests     int NOT NULL DEFAULT 0,
    requested_at timestamptz
);

-- How far back the recovery job has looked.
CREATE TABLE delivery_scans (
    id         int PRIMARY KEY CHECK (id = 1),
    scanned_to timestamptz NOT NULL
);
