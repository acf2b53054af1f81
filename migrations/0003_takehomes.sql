-- Reviewers sign in to the reviewer's pages and call the reviewer API with a token that is
-- shown once (`app reviewer add LOGIN`); only its SHA-256 is kept.
CREATE TABLE reviewers (
    id         bigserial PRIMARY KEY,
    login      text NOT NULL UNIQUE,
    token_hash bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Browser sessions of reviewers (POST /login). The cookie carries a random id; only its SHA-256
-- is kept, with the session's CSRF token for forms.
CREATE TABLE reviewer_sessions (
    id_hash     bytea PRIMARY KEY,
    reviewer_id bigint NOT NULL REFERENCES reviewers ON DELETE CASCADE,
    csrf        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);

-- A take-home: an assignment (format take-home; its deadline is assignments.deadline) and its
-- way to a final grade. state moves open → closing → grading → done, each step stored before
-- the next begins, so that a process that dies anywhere is picked up where it stopped:
--   closing: the deadline passed and final_sha is fixed (never changed afterwards);
--   grading: push access was removed and final_run_id is queued;
--   done:    final_run_id has its verdict.
CREATE TABLE takehomes (
    assignment_id     bigint PRIMARY KEY REFERENCES assignments,
    branch            text NOT NULL DEFAULT 'main', -- the branch whose last push is graded
    seed              bigint,                       -- variant seed, for challenges that have variants
    invited_by        text NOT NULL,
    invitation_sha    text NOT NULL DEFAULT '',     -- the commit Holdfast made: the starter and the invitation
    state             text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closing', 'grading', 'done')),
    final_sha         text,
    final_pushed_at   timestamptz,                  -- when Holdfast received the push of final_sha
    access_revoked_at timestamptz,
    final_run_id      bigint REFERENCES runs,
    closed_at         timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX takehomes_pending ON takehomes (state) WHERE state <> 'done';

-- Every deadline extension: who, when, from what to what.
CREATE TABLE deadline_extensions (
    id            bigserial PRIMARY KEY,
    assignment_id bigint NOT NULL REFERENCES takehomes,
    extended_by   text NOT NULL,
    extended_at   timestamptz NOT NULL DEFAULT now(),
    old_deadline  timestamptz NOT NULL,
    new_deadline  timestamptz NOT NULL
);
CREATE INDEX deadline_extensions_assignment ON deadline_extensions (assignment_id);

-- Final runs (the take-home's grade at the deadline) belong to no branch: they are never
-- superseded by a push and never reported on GitHub.
ALTER TABLE runs ADD COLUMN final boolean NOT NULL DEFAULT false;
