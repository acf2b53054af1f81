// Package githubtest is a fake GitHub REST API for tests: an httptest server that serves the
// 27 operations Holdfast's App uses, keeps their state (installations, repositories, check
// runs, comments, pull requests, git objects, tarballs, webhook deliveries) and records
// every call.
//
// Every request is checked against GitHub's own OpenAPI description, the subset kept in
// shared/github/openapi/github-subset.json (found by walking up from the working directory to
// go.mod and then ../shared, or under $HOLDFAST_SHARED_DIR). A request GitHub would reject —
// an unknown route or method, a missing, unknown or malformed parameter, a body outside the
// schema such as 51 annotations or a 21-character action label — fails the test with the
// operation id and the validator's message, and is answered 422 as GitHub would (404 for a
// route that does not exist). So is a call without valid credentials: the App must never
// call GitHub unauthenticated. Every answer the fake gives is validated against the
// documented response schema too, so a test that passes here was fed data of GitHub's shape.
//
// Authentication is real: New makes an RSA key, the App under test signs its JWTs with
// PrivateKeyPEM (ghinstallation does), and installation tokens are minted only by
// POST /app/installations/{id}/access_tokens (or by Token, for tests that skip the
// exchange). A token reaches the repositories of its installation only; other repositories
// answer 404, as on GitHub, without failing the test. The operations GitHub reserves for the
// App itself take its JWT and nothing else: everything under /app (the App, its
// installations, its webhook's deliveries) and GET /repos/{owner}/{repo}/installation,
// which answers 404 for a repository the App is not installed on.
//
// The fake is GitHub's delivery side too. SetWebhook says where the App's webhook is;
// Deliver posts an event to it now, signed, with GitHub's headers and 10-second timeout,
// and records the delivery; the deliveries API lists (newest first, by cursor, by
// success or failure), shows and redelivers them, a redelivery being a new delivery under
// the same GUID, made in the background (WaitDeliveries). As on GitHub, the API shows the
// deliveries of the last 3 days only.
//
// Tests seed state with AddInstallation, AddRepo, SetFiles, SetTarball, SetPull and
// AddComment, inject failures with FailNext, SetOutage (the whole API down, or slow) and
// SetGenerateLag, and read back what the App did with CheckRuns, Comments, Files, Head,
// Collaborators, Deliveries and Calls.
//
// Where the fake is stricter or looser than the description, on purpose:
//   - Rules GitHub states only in prose are enforced like the schema: annotation columns
//     only on single-line annotations, 64 KB messages, 255-character titles, no "stale"
//     conclusion and no Actions-only statuses from an App.
//   - Query parameters the operation does not declare are rejected; GitHub ignores them,
//     which hides a misspelt per_page.
//   - A JSON null body on an operation whose body is optional counts as no body:
//     ghinstallation sends one to mint a token, and GitHub accepts it.
//   - checks/create discriminates on status, which is optional with a default; the default
//     is filled in before validation, as GitHub does, where kin-openapi would reject it.
//   - Refs in paths may contain slashes (x-multi-segment), e.g. tarball/feature/x.
//   - Git trees are flat and tree and commit ids are not git's (blob ids are).
//   - checks/list-for-ref lists the runs reported on a commit id whether or not the
//     repository's git data has that commit, and an unknown ref lists nothing where GitHub
//     answers an error. Its filter=latest applies after check_name and status.
//   - An unknown delivery id or cursor is answered 422 (Validation Failed): it is not
//     documented for the deliveries operations, which document only 400 and 422.
//   - Deliveries are not throttled, so throttled_at is always null.
package githubtest
