// Package githubtest is a fake GitHub REST API for tests: an httptest server that serves the
// 21 operations Holdfast's App uses, keeps their state (installations, repositories, check
// runs, comments, pull requests, git objects, tarballs) and records every call.
//
// Every request is checked against GitHub's own OpenAPI description, the subset kept in
// shared/github/openapi/github-subset.json (found by walking up from the working directory to
// go.mod and then ../shared, or under $HOLDFAST_SHARED_DIR). A request GitHub would reject —
// an unknown route or method, a missing, unknown or malformed parameter, a body outside the
// schema such as 51 annotations or a 21-character action label — fails the test with the
// operation id and the validator's message, and is answered 422 as GitHub would. So is a call
// without valid credentials: the App must never call GitHub unauthenticated. Every answer the
// fake gives is validated against the documented response schema too, so a test that passes
// here was fed data of GitHub's shape.
//
// Authentication is real: New makes an RSA key, the App under test signs its JWTs with
// PrivateKeyPEM (ghinstallation does), and installation tokens are minted only by
// POST /app/installations/{id}/access_tokens. A token reaches the repositories of its
// installation only; other repositories answer 404, as on GitHub.
//
// Tests seed state with AddInstallation, AddRepo, SetFiles, SetTarball, SetPull and
// AddComment, inject failures with FailNext, and read back what the App did with CheckRuns,
// Comments, Files, Collaborators and Calls. The package prefers GitHub's observable behaviour
// to completeness: where it simplifies, the method's comment says how.
package githubtest
