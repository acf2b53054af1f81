-- Comparisons of a refactor pull request's base and head (challenges whose formats include
-- refactor). One row per pull_request opened/synchronize/reopened delivery or re-run; the base
-- is graded first (or reused from an earlier comparison of the same base commit), then the
-- head, and the result judges the difference.
CREATE TABLE comparisons (
    id             bigserial PRIMARY KEY,
    assignment_id  bigint NOT NULL REFERENCES assignments,
    pr_number      int NOT NULL,
    base_sha       text NOT NULL,
    head_sha       text NOT NULL,
    head_ref       text NOT NULL,
    delivery_id    text,
    status         text NOT NULL DEFAULT 'queued'
                   CHECK (status IN ('queued', 'in_progress', 'completed', 'superseded')),
    verdict_status text,
    score          int,
    check_run_id   bigint,
    superseded_by  bigint REFERENCES comparisons,
    base_verdict   jsonb, -- the base's grading.Verdict, once graded
    base_metrics   jsonb, -- the base tree's compare.Metrics
    result         jsonb, -- the compare.Result
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    completed_at   timestamptz
);
CREATE INDEX comparisons_pr ON comparisons (assignment_id, pr_number);
CREATE INDEX comparisons_base ON comparisons (assignment_id, base_sha) WHERE base_verdict IS NOT NULL;
CREATE INDEX comparisons_head ON comparisons (assignment_id, head_sha);
