-- Installations of the GitHub App, recorded on installation.created and forgotten on deleted.
CREATE TABLE installations (
    id            bigint PRIMARY KEY,
    account_login text NOT NULL,
    account_type  text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Repositories an installation can see (installation_repositories added/removed).
CREATE TABLE installation_repos (
    installation_id bigint NOT NULL REFERENCES installations ON DELETE CASCADE,
    repo_id         bigint NOT NULL,
    full_name       text NOT NULL,
    PRIMARY KEY (installation_id, repo_id)
);

-- Challenges, synced from templates/.
CREATE TABLE challenges (
    slug       text PRIMARY KEY,
    title      text NOT NULL,
    difficulty text NOT NULL DEFAULT '',
    languages  text[] NOT NULL DEFAULT '{}',
    formats    text[] NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A learner's repository for one challenge.
CREATE TABLE assignments (
    id              bigserial PRIMARY KEY,
    installation_id bigint NOT NULL,
    repo_id         bigint UNIQUE,
    repo_owner      text NOT NULL,
    repo_name       text NOT NULL,
    challenge       text NOT NULL REFERENCES challenges,
    user_login      text NOT NULL,
    format          text NOT NULL DEFAULT 'practice' CHECK (format IN ('practice', 'take-home')),
    deadline        timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (repo_owner, repo_name)
);

-- Webhook deliveries seen, for deduplication on X-GitHub-Delivery.
CREATE TABLE deliveries (
    id          text PRIMARY KEY,
    event       text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

-- One pushed commit (or a regrade request) to grade.
CREATE TABLE submissions (
    id            bigserial PRIMARY KEY,
    assignment_id bigint NOT NULL REFERENCES assignments,
    sha           text NOT NULL,
    ref           text NOT NULL,
    pusher        text NOT NULL DEFAULT '',
    delivery_id   text,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- One grading of a submission.
CREATE TABLE runs (
    id             bigserial PRIMARY KEY,
    submission_id  bigint NOT NULL REFERENCES submissions,
    branch         text NOT NULL,
    status         text NOT NULL DEFAULT 'queued'
                   CHECK (status IN ('queued', 'in_progress', 'completed', 'superseded')),
    verdict_status text,
    score          int,
    attempt        int NOT NULL DEFAULT 0,
    check_run_id   bigint,
    superseded_by  bigint REFERENCES runs,
    verdict        jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    completed_at   timestamptz
);
CREATE INDEX runs_submission ON runs (submission_id);

-- Per-scenario results of a completed run, for history and reviewers without a re-run.
CREATE TABLE scenario_results (
    run_id      bigint NOT NULL REFERENCES runs ON DELETE CASCADE,
    position    int NOT NULL,
    slug        text NOT NULL,
    visibility  text NOT NULL,
    weight      int NOT NULL,
    outcome     text NOT NULL,
    duration_ms bigint NOT NULL,
    failure     jsonb,
    PRIMARY KEY (run_id, slug)
);

-- Pull requests of assignment repositories, linked on pull_request events.
CREATE TABLE pull_requests (
    assignment_id bigint NOT NULL REFERENCES assignments,
    number        int NOT NULL,
    head_ref      text NOT NULL,
    head_sha      text NOT NULL,
    open          boolean NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (assignment_id, number)
);

-- The sticky comment of each pull request and challenge, and the run it shows.
CREATE TABLE pr_comments (
    assignment_id bigint NOT NULL REFERENCES assignments,
    pr_number     int NOT NULL,
    challenge     text NOT NULL,
    comment_id    bigint NOT NULL,
    run_id        bigint NOT NULL,
    PRIMARY KEY (assignment_id, pr_number, challenge)
);
