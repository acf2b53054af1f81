-- A refactor's comparison is published as a run is (migrations/0005, grading/queue/publish.go):
-- its compare jobs only store what happened, and publish jobs drive its check run (on the head
-- commit, external_id comparison-<id>) and the pull request's refactor sticky comment from this
-- stored state. published only moves forward:
--   none → queued → in_progress → completed (the check run) → commented (the pull request's
--   refactor comment shows this comparison, or a newer one).
-- A superseded comparison ends at completed (skipped or cancelled).
ALTER TABLE comparisons
    ADD COLUMN published text NOT NULL DEFAULT 'none'
        CHECK (published IN ('none', 'queued', 'in_progress', 'completed', 'commented')),
    -- a publish job works on the comparison until then; another waits (no lock is held meanwhile)
    ADD COLUMN publish_lease timestamptz,
    -- when a check run was first asked for: after that, a missing check_run_id may mean that
    -- GitHub made it but its answer was lost, so the head commit's check runs are searched first
    ADD COLUMN check_run_requested_at timestamptz,
    ADD COLUMN published_at timestamptz;

-- Comparisons of the earlier version were published by their own compare job, as far as it got.
-- One whose compare job is still to run (or to retry) may not show its end yet: it is left just
-- before it, so that a publication completes (and comments) it, once.
UPDATE comparisons c SET published = CASE
    WHEN c.check_run_id IS NULL THEN 'none'
    WHEN c.status = 'queued' THEN 'queued'
    WHEN c.status = 'in_progress' THEN 'in_progress'
    WHEN EXISTS (SELECT 1 FROM river_job j WHERE j.kind = 'compare' AND j.args->>'comparison_id' = c.id::text
            AND j.state IN ('available', 'pending', 'running', 'retryable', 'scheduled'))
        THEN CASE WHEN c.started_at IS NULL THEN 'queued' ELSE 'in_progress' END
    WHEN c.status = 'completed' THEN 'commented'
    ELSE 'completed' END;

-- The earlier version asked GitHub for a comparison's check run inside a transaction that a lost
-- answer rolled back: one not yet stored may exist, so it is looked for before one is made.
UPDATE comparisons SET check_run_requested_at = created_at
    WHERE check_run_id IS NULL AND status IN ('queued', 'in_progress');

CREATE INDEX comparisons_unpublished ON comparisons (id) WHERE published <> 'commented';
