package webhook

// payload holds the few fields Holdfast reads from any event. Decoding only these, rather than
// go-github's complete event types, keeps a delivery readable when GitHub sends a field in a
// shape the library does not expect: the real check_run example carries timestamps such as
// "2018-04-25 20:42:10", which go-github's Timestamp refuses.
type payload struct {
	Action     string     `json:"action"`
	Repository repository `json:"repository"`
	Sender     struct {
		Login string `json:"login"`
	} `json:"sender"`
	Installation struct {
		ID      int64 `json:"id"`
		Account struct {
			Login string `json:"login"`
			Type  string `json:"type"`
		} `json:"account"`
	} `json:"installation"`

	// push
	Ref     string `json:"ref"`
	After   string `json:"after"`
	Deleted bool   `json:"deleted"`
	Pusher  struct {
		Name string `json:"name"`
	} `json:"pusher"`

	// check_run, check_suite
	CheckRun struct {
		HeadSHA    string `json:"head_sha"`
		CheckSuite struct {
			HeadBranch string `json:"head_branch"`
		} `json:"check_suite"`
	} `json:"check_run"`
	RequestedAction struct {
		Identifier string `json:"identifier"`
	} `json:"requested_action"`
	CheckSuite struct {
		HeadSHA    string `json:"head_sha"`
		HeadBranch string `json:"head_branch"`
	} `json:"check_suite"`

	// pull_request
	PullRequest struct {
		Number int `json:"number"`
		Head   struct {
			Ref string `json:"ref"`
			SHA string `json:"sha"`
		} `json:"head"`
		// Base is what a refactor's head is compared with.
		Base struct {
			Ref string `json:"ref"`
			SHA string `json:"sha"`
		} `json:"base"`
	} `json:"pull_request"`

	// installation, installation_repositories
	Repositories        []repository `json:"repositories"`
	RepositoriesAdded   []repository `json:"repositories_added"`
	RepositoriesRemoved []repository `json:"repositories_removed"`
}

type repository struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	FullName string `json:"full_name"`
	Owner    struct {
		Login string `json:"login"`
	} `json:"owner"`
}
