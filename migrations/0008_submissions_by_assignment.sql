-- A push looks for the newer and the unfinished older runs of its branch through its
-- assignment's submissions (store.CreateRun, the webhook's intake). Without an index each push
-- read every submission: a burst of pushes cost Postgres more with every one stored.
CREATE INDEX IF NOT EXISTS submissions_assignment ON submissions (assignment_id, created_at);
