-- What `app templates publish` last pushed to each template repository, so that a publish
-- without changes makes no commit and a publish with changes sends only the changed files.
CREATE TABLE template_repos (
    owner        text NOT NULL,
    name         text NOT NULL,
    commit_sha   text NOT NULL,
    tree_sha     text NOT NULL,
    files        jsonb NOT NULL, -- path → git blob sha
    published_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner, name)
);
